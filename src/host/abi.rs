//! Host calls that never panic: drop-in replacements for `proxy_wasm::hostcalls`.
//!
//! The SDK (0.2.5) `panic!`s on any status it did not expect — `set_map_value` after
//! the headers went out, `get_map` in a phase without that map, a `log` or clock call
//! that fails — and our release build aborts on panic, which kills the Wasm VM for
//! every stream on the worker. Each function here has the SDK's name and signature
//! (switch with `use super::abi as hostcalls;`) but maps every non-`Ok` status to
//! `Err(status)`, keeping the SDK's `NotFound` → `Ok(None)` mappings.
//!
//! Two deliberate differences from the SDK:
//! - The imports return a raw `u32`, not `Status`. The host may answer with codes the
//!   SDK's `Status` has no variant for (`InvalidMemoryAccess` = 6, `Unimplemented` =
//!   12, …); receiving those into a `repr(u32)` enum is undefined behaviour. Unknown
//!   codes become `Err(Status::InternalFailure)`. The wasm signature is identical
//!   (`i32` either way), so these imports link to the same host functions.
//! - Header maps are decoded by [`crate::header_codec`], which checks every length
//!   against the buffer (`Err(Status::SerializationFailure)` on a malformed map) and
//!   replaces invalid UTF-8 instead of panicking.
//!
//! `dispatch_http_call` is the one exception that still goes through the SDK: the
//! SDK's dispatcher must record the call token (a crate-private `register_callout`)
//! or it panics when the response arrives. See its doc comment.

// Calling foreign host functions and adopting the buffers the host allocated for us
// cannot be done without `unsafe`. It is confined to this module: every block below
// passes pointers to live Rust values and reclaims host buffers exactly as the SDK does.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proxy_wasm::types::{BufferType, Bytes, LogLevel, MapType, MetricType, Status};

use crate::header_codec;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: LogLevel, message_data: *const u8, message_size: usize) -> u32;

    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;

    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;

    fn proxy_get_status(
        return_code: *mut u32,
        return_message_data: *mut *mut u8,
        return_message_size: *mut usize,
    ) -> u32;

    fn proxy_get_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;

    fn proxy_set_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        size: usize,
        buffer_data: *const u8,
        buffer_size: usize,
    ) -> u32;

    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;

    fn proxy_get_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;

    fn proxy_remove_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
    ) -> u32;

    fn proxy_replace_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;

    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;

    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;

    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;

    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;

    fn proxy_continue_stream(stream_type: proxy_wasm::types::StreamType) -> u32;

    fn proxy_set_effective_context(context_id: u32) -> u32;

    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;

    fn proxy_define_metric(
        metric_type: MetricType,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;

    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;

    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

/// The `Status` for a raw host code. Codes the SDK has no variant for (see the module
/// doc) become `InternalFailure`: they are failures either way, and `Status` is
/// `non_exhaustive` with no way to carry the raw number.
fn status(code: u32) -> Status {
    match code {
        0 => Status::Ok,
        1 => Status::NotFound,
        2 => Status::BadArgument,
        3 => Status::SerializationFailure,
        4 => Status::ParseFailure,
        7 => Status::Empty,
        8 => Status::CasMismatch,
        _ => Status::InternalFailure,
    }
}

/// `Ok(())` for `Status::Ok`, otherwise `Err` with the status.
fn check(code: u32) -> Result<(), Status> {
    match status(code) {
        Status::Ok => Ok(()),
        other => Err(other),
    }
}

/// Takes ownership of a buffer the host returned, or `None` for a null pointer.
///
/// # Safety
/// `data` must be null or a pointer the host obtained from the SDK's exported
/// `proxy_on_memory_allocate(size)` (a `Box<[u8]>` of exactly `size` bytes, so
/// capacity equals length), not owned by anything else. That is the contract of every
/// `return_*_data` out-parameter when the call returned `Ok`; the SDK relies on it too.
unsafe fn take_host_buffer(data: *mut u8, size: usize) -> Option<Bytes> {
    if data.is_null() {
        None
    } else {
        // SAFETY: per this function's contract, as in the SDK's hostcalls.
        Some(unsafe { Vec::from_raw_parts(data, size, size) })
    }
}

/// Milliseconds as the ABI's `u32`, saturating (the SDK's `as u32` wraps, which could
/// turn a very long period into 0, i.e. "disabled").
fn millis_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// Writes a log line through the host.
pub fn log(level: LogLevel, message: &str) -> Result<(), Status> {
    // SAFETY: the message pointer and length describe a live `&str`.
    check(unsafe { proxy_log(level, message.as_ptr(), message.len()) })
}

/// The host's wall clock.
pub fn get_current_time() -> Result<SystemTime, Status> {
    let mut return_time: u64 = 0;
    // SAFETY: the out-pointer refers to a live local.
    check(unsafe { proxy_get_current_time_nanoseconds(&mut return_time) })?;
    UNIX_EPOCH
        .checked_add(Duration::from_nanos(return_time))
        .ok_or(Status::InternalFailure)
}

/// Sets the root context's tick period (zero disables ticks).
pub fn set_tick_period(period: Duration) -> Result<(), Status> {
    // SAFETY: no pointers are passed.
    check(unsafe { proxy_set_tick_period_milliseconds(millis_u32(period)) })
}

/// The status message of the gRPC call whose callback is running (Envoy's
/// reason for a failure), or `None`. Unlike the SDK's `get_grpc_status`, an
/// unexpected status or a message that is not UTF-8 does not panic.
pub fn grpc_status_message() -> Option<String> {
    let mut return_code: u32 = 0;
    let mut return_data: *mut u8 = null_mut();
    let mut return_size: usize = 0;
    // SAFETY: the out-pointers refer to live locals.
    let code = unsafe { proxy_get_status(&mut return_code, &mut return_data, &mut return_size) };
    if status(code) != Status::Ok {
        return None;
    }
    // SAFETY: on Ok the host filled the out-parameters from our allocator.
    let bytes = unsafe { take_host_buffer(return_data, return_size) }?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads up to `max_size` bytes of a buffer from `start`; `Ok(None)` when the host has
/// no such buffer or returns no data.
pub fn get_buffer(
    buffer_type: BufferType,
    start: usize,
    max_size: usize,
) -> Result<Option<Bytes>, Status> {
    let mut return_data: *mut u8 = null_mut();
    let mut return_size: usize = 0;
    // SAFETY: the out-pointers refer to live locals.
    let code = unsafe {
        proxy_get_buffer_bytes(
            buffer_type,
            start,
            max_size,
            &mut return_data,
            &mut return_size,
        )
    };
    match status(code) {
        // SAFETY: on Ok the host filled the out-parameters from our allocator.
        Status::Ok => Ok(unsafe { take_host_buffer(return_data, return_size) }),
        Status::NotFound => Ok(None),
        other => Err(other),
    }
}

/// Replaces `size` bytes of a buffer at `start` with `value`.
pub fn set_buffer(
    buffer_type: BufferType,
    start: usize,
    size: usize,
    value: &[u8],
) -> Result<(), Status> {
    // SAFETY: the value pointer and length describe a live slice.
    check(unsafe { proxy_set_buffer_bytes(buffer_type, start, size, value.as_ptr(), value.len()) })
}

/// All pairs of a header map. Unlike the SDK, a map the host does not have in this
/// phase is `Err(Status::NotFound)` (or whatever the host said), and a malformed
/// serialisation is `Err(Status::SerializationFailure)`.
pub fn get_map(map_type: MapType) -> Result<Vec<(String, String)>, Status> {
    let mut return_data: *mut u8 = null_mut();
    let mut return_size: usize = 0;
    // SAFETY: the out-pointers refer to live locals.
    check(unsafe { proxy_get_header_map_pairs(map_type, &mut return_data, &mut return_size) })?;
    // SAFETY: the call returned Ok, so the host filled the out-parameters.
    match unsafe { take_host_buffer(return_data, return_size) } {
        Some(serialized) => {
            header_codec::deserialize_map(&serialized).map_err(|_| Status::SerializationFailure)
        }
        None => Ok(Vec::new()),
    }
}

/// One header value (invalid UTF-8 replaced); `Ok(None)` when the header is absent.
pub fn get_map_value(map_type: MapType, key: &str) -> Result<Option<String>, Status> {
    let mut return_data: *mut u8 = null_mut();
    let mut return_size: usize = 0;
    // SAFETY: the key pointer and length describe a live `&str`; the out-pointers
    // refer to live locals.
    let code = unsafe {
        proxy_get_header_map_value(
            map_type,
            key.as_ptr(),
            key.len(),
            &mut return_data,
            &mut return_size,
        )
    };
    match status(code) {
        // SAFETY: on Ok the host filled the out-parameters from our allocator.
        Status::Ok => Ok(Some(
            match unsafe { take_host_buffer(return_data, return_size) } {
                Some(bytes) => String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                None => String::new(),
            },
        )),
        Status::NotFound => Ok(None),
        other => Err(other),
    }
}

/// Sets a header (replacing every existing value), or removes it when `value` is `None`.
pub fn set_map_value(map_type: MapType, key: &str, value: Option<&str>) -> Result<(), Status> {
    // SAFETY: key and value pointers and lengths describe live `&str`s.
    let code = unsafe {
        match value {
            Some(value) => proxy_replace_header_map_value(
                map_type,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
            ),
            None => proxy_remove_header_map_value(map_type, key.as_ptr(), key.len()),
        }
    };
    check(code)
}

/// A host property such as `["source", "address"]`; `Ok(None)` when it does not exist.
pub fn get_property(path: Vec<&str>) -> Result<Option<Bytes>, Status> {
    // The SDK's `serialize_property_path`: segments separated by NUL, no trailing NUL.
    let serialized_path = path.join("\0");
    let mut return_data: *mut u8 = null_mut();
    let mut return_size: usize = 0;
    // SAFETY: the path pointer and length describe a live `String`; the out-pointers
    // refer to live locals.
    let code = unsafe {
        proxy_get_property(
            serialized_path.as_ptr(),
            serialized_path.len(),
            &mut return_data,
            &mut return_size,
        )
    };
    match status(code) {
        // SAFETY: on Ok the host filled the out-parameters from our allocator.
        Status::Ok => Ok(unsafe { take_host_buffer(return_data, return_size) }),
        Status::NotFound => Ok(None),
        other => Err(other),
    }
}

/// Sets a host property; Envoy keeps it as filter state `wasm.<path>`, which
/// access logs read with `%FILTER_STATE(wasm.<path>:PLAIN)%`.
pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), Status> {
    let serialized_path = path.join("\0");
    // SAFETY: both pointers and lengths describe live buffers.
    check(unsafe {
        proxy_set_property(
            serialized_path.as_ptr(),
            serialized_path.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// A shared-data value and its CAS token; `Ok((None, None))` when the key is absent.
pub fn get_shared_data(key: &str) -> Result<(Option<Bytes>, Option<u32>), Status> {
    let mut return_data: *mut u8 = null_mut();
    let mut return_size: usize = 0;
    let mut return_cas: u32 = 0;
    // SAFETY: the key pointer and length describe a live `&str`; the out-pointers
    // refer to live locals.
    let code = unsafe {
        proxy_get_shared_data(
            key.as_ptr(),
            key.len(),
            &mut return_data,
            &mut return_size,
            &mut return_cas,
        )
    };
    match status(code) {
        Status::Ok => {
            let cas = (return_cas != 0).then_some(return_cas);
            // SAFETY: on Ok the host filled the out-parameters from our allocator.
            Ok((unsafe { take_host_buffer(return_data, return_size) }, cas))
        }
        Status::NotFound => Ok((None, None)),
        other => Err(other),
    }
}

/// Stores a shared-data value; with `Some(cas)` only if the stored CAS still matches
/// (`Err(Status::CasMismatch)` otherwise).
pub fn set_shared_data(key: &str, value: Option<&[u8]>, cas: Option<u32>) -> Result<(), Status> {
    // SAFETY: key and value pointers and lengths describe live values (null and 0 for
    // no value, as in the SDK).
    check(unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.map_or(null(), |value| value.as_ptr()),
            value.map_or(0, |value| value.len()),
            cas.unwrap_or(0),
        )
    })
}

/// Answers the stream locally (no status details, no gRPC status, as in the SDK).
pub fn send_http_response(
    status_code: u32,
    headers: Vec<(&str, &str)>,
    body: Option<&[u8]>,
) -> Result<(), Status> {
    let serialized_headers = header_codec::serialize_map(&headers);
    // SAFETY: body and header pointers and lengths describe live buffers (null and 0
    // for no body, as in the SDK).
    check(unsafe {
        proxy_send_local_response(
            status_code,
            null(),
            0,
            body.map_or(null(), |body| body.as_ptr()),
            body.map_or(0, |body| body.len()),
            serialized_headers.as_ptr(),
            serialized_headers.len(),
            -1,
        )
    })
}

/// Dispatches an HTTP call through an Envoy cluster and returns its token.
///
/// This one delegates to the SDK: the SDK's dispatcher must record which context
/// owns the token (`dispatcher::register_callout`, crate-private), or its exported
/// `proxy_on_http_call_response` panics with "invalid token_id" when the answer
/// arrives. The SDK handles `Ok`, `BadArgument` and `InternalFailure` without
/// panicking — the statuses Envoy's `httpCall` returns; it would still panic on a
/// memory-access failure, which cannot happen with the live buffers it is given.
/// The timeout saturates at `u32::MAX` ms here instead of wrapping in the SDK.
pub fn dispatch_http_call(
    upstream: &str,
    headers: Vec<(&str, &str)>,
    body: Option<&[u8]>,
    trailers: Vec<(&str, &str)>,
    timeout: Duration,
) -> Result<u32, Status> {
    let timeout = Duration::from_millis(u64::from(millis_u32(timeout)));
    proxy_wasm::hostcalls::dispatch_http_call(upstream, headers, body, trailers, timeout)
}

/// Dispatches a unary gRPC call through an Envoy cluster and returns its token.
///
/// Delegates to the SDK for the same reason as [`dispatch_http_call`]: its
/// dispatcher records the token (`register_grpc_callout`) so the answer (or
/// the failure status) reaches `on_grpc_call_response`. The SDK handles the
/// statuses Envoy's `grpcCall` returns (`Ok`, `ParseFailure`,
/// `InternalFailure`) without panicking.
pub fn dispatch_grpc_call(
    upstream: &str,
    service: &str,
    method: &str,
    message: &[u8],
    timeout: Duration,
) -> Result<u32, Status> {
    let timeout = Duration::from_millis(u64::from(millis_u32(timeout)));
    proxy_wasm::hostcalls::dispatch_grpc_call(
        upstream,
        service,
        method,
        Vec::new(),
        Some(message),
        timeout,
    )
}

/// Resumes a request paused in a request callback.
pub fn resume_http_request() -> Result<(), Status> {
    // SAFETY: no pointers are passed.
    check(unsafe { proxy_continue_stream(proxy_wasm::types::StreamType::HttpRequest) })
}

/// Makes `context_id` the context later host calls act on (a call made in
/// the root context's name outlives the stream that made it).
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // SAFETY: no pointers are passed.
    check(unsafe { proxy_set_effective_context(context_id) })
}

/// Defines (or looks up) a metric and returns its id.
pub fn define_metric(metric_type: MetricType, name: &str) -> Result<u32, Status> {
    let mut return_id: u32 = 0;
    // SAFETY: the name pointer and length describe a live `&str`; the out-pointer
    // refers to a live local.
    check(unsafe { proxy_define_metric(metric_type, name.as_ptr(), name.len(), &mut return_id) })?;
    Ok(return_id)
}

/// Adds `offset` to a counter or gauge.
pub fn increment_metric(metric_id: u32, offset: i64) -> Result<(), Status> {
    // SAFETY: no pointers are passed.
    check(unsafe { proxy_increment_metric(metric_id, offset) })
}

/// Sets a gauge or records a histogram value.
pub fn record_metric(metric_id: u32, value: u64) -> Result<(), Status> {
    // SAFETY: no pointers are passed.
    check(unsafe { proxy_record_metric(metric_id, value) })
}
