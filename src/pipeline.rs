//! The per-stream decisions, as pure functions returning a `Step`.
