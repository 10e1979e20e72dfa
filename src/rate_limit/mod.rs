//! Rate limiting (placeholder while building).
pub mod bucket;
pub mod key;
pub mod settings;
pub mod store;
pub mod table;
