//! The thin proxy-wasm shell: the only code that calls the host.
//!
//! It reads what Envoy offers, hands plain values to [`crate::pipeline`],
//! and carries out the returned step. It calls `proxy_wasm::hostcalls`
//! directly and maps unexpected statuses to errors: the SDK's trait helpers
//! `unwrap()`, and a panic would kill the VM for every stream on the worker.

pub mod abi;
pub mod http;
pub mod metrics;
pub mod root;
pub mod store;

use std::time::{Duration, UNIX_EPOCH};

use self::abi as hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};

use crate::auth::RemoteJwks;
use crate::decision::Denial;

/// Writes a log line; a failing log call has nowhere to be reported, so it is ignored.
pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// Envoy's clock in milliseconds since the Unix epoch (0 if unavailable).
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Envoy's clock in nanoseconds since the Unix epoch (0 if unavailable); for measuring filter time.
pub fn now_ns() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// All headers of a map, or an empty list (logged) when the host refuses.
pub fn headers(map: MapType) -> Vec<(String, String)> {
    match hostcalls::get_map(map) {
        Ok(h) => h,
        Err(status) => {
            log(
                LogLevel::Warn,
                &format!("tollgate: cannot read headers: {status:?}"),
            );
            Vec::new()
        }
    }
}

/// Sets (or with `None` removes) one header.
pub fn set_header(map: MapType, name: &str, value: Option<&str>) {
    if let Err(status) = hostcalls::set_map_value(map, name, value) {
        log(
            LogLevel::Warn,
            &format!("tollgate: cannot set header {name}: {status:?}"),
        );
    }
}

/// A property as UTF-8 text, e.g. `["source", "address"]`.
pub fn property(path: &[&str]) -> Option<String> {
    match hostcalls::get_property(path.to_vec()) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// A whole buffer (body or call response), or `None`.
pub fn buffer(kind: BufferType, size: usize) -> Option<Vec<u8>> {
    if size == 0 {
        return Some(Vec::new());
    }
    hostcalls::get_buffer(kind, 0, size).ok().flatten()
}

/// Answers the stream locally with an OpenAI-style error.
pub fn send_denial(denial: &Denial) {
    let headers = denial.response_headers();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = denial.body();
    if let Err(status) = hostcalls::send_http_response(u32::from(denial.status), refs, Some(&body))
    {
        log(
            LogLevel::Error,
            &format!("tollgate: cannot send local response: {status:?}"),
        );
    }
}

/// Dispatches a GET for a JWKS through an Envoy cluster; returns the call token.
pub fn dispatch_jwks(source: &RemoteJwks) -> Result<u32, String> {
    let mut headers = vec![
        (":method", "GET"),
        (":path", source.path.as_str()),
        (":authority", source.authority.as_str()),
        ("accept", "application/json"),
    ];
    if let Some(scheme) = &source.scheme {
        headers.push((":scheme", scheme.as_str()));
    }
    hostcalls::dispatch_http_call(
        &source.cluster,
        headers,
        None,
        vec![],
        Duration::from_millis(source.timeout_ms),
    )
    .map_err(|status| format!("{status:?}"))
}

/// The `:status` of an HTTP call response, if any.
pub fn call_response_status() -> Option<u16> {
    hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|s| s.parse().ok())
}
