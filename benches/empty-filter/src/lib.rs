//! A Proxy-Wasm HTTP filter that does nothing: every callback takes the SDK's
//! default (continue). It measures what Envoy pays for running a Wasm filter at
//! all — context creation and one VM call per header/body event.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(EmptyRoot) });
}}

/// The root context: accepts any configuration, creates one empty stream context per request.
struct EmptyRoot;

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EmptyStream))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// A stream context whose callbacks all default to `Action::Continue`.
struct EmptyStream;

impl Context for EmptyStream {}

impl HttpContext for EmptyStream {}
