//! Tollgate: a Proxy-Wasm HTTP filter for AI / LLM gateways.
//!
//! Everything that decides lives in pure modules that know nothing of
//! proxy-wasm (see `DESIGN.md`): they take headers, body bytes and `now_ms`
//! as plain values and return decisions. The thin shell in [`host`] is the
//! only code that calls the host; it is compiled for `wasm32` only, so a
//! native test that reached a host call would not even build.

pub mod audit;
pub mod auth;
pub mod config;
pub mod decision;
pub mod error;
pub mod header_codec;
pub mod llm_api;
pub mod metrics;
pub mod pipeline;
pub mod rate_limit;
pub mod redaction;
pub mod route;
pub mod screening;
pub mod tls;

#[cfg(target_arch = "wasm32")]
mod host;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // the SDK's entry macro exports `_initialize` with `#[no_mangle]`
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
        proxy_wasm::set_root_context(|context_id| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(crate::host::root::Root::new(context_id))
        });
    }}
}
