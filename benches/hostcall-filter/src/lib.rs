//! A Proxy-Wasm HTTP filter that makes `N` host calls of one kind on every
//! request's headers and nothing else. Its plugin configuration is `kind:N`
//! (for example `clock:50`); an empty or unknown configuration makes no calls.
//!
//! `make bench BENCH_ARMS=hostcall` runs one arm per kind against the empty
//! filter: (arm CPU − empty CPU) / N is what Envoy charges for one call of
//! that kind, wasm-to-host crossing included. Tollgate's fixed cost per
//! request is mostly such calls (`cargo bench --bench core -- pipeline`
//! puts its own decisions at well under a microsecond natively), so this
//! table says which ones are worth saving.
//!
//! A bench tool only: the SDK's host calls panic on a status they did not
//! expect, which is acceptable here and never in Tollgate.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { plan: Rc::new(Plan::default()) })
    });
}}

/// Which call, how many times per request, and the ids it needs.
#[derive(Default)]
struct Plan {
    kind: String,
    n: usize,
    counter: u32,
    histogram: u32,
}

struct Root {
    plan: Rc<Plan>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self
            .get_plugin_configuration()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        let (kind, n) = config.split_once(':').unwrap_or(("", "0"));
        let counter = hostcalls::define_metric(MetricType::Counter, "hostcall_bench_counter")
            .unwrap_or(0);
        let histogram =
            hostcalls::define_metric(MetricType::Histogram, "hostcall_bench_histogram")
                .unwrap_or(0);
        let _ = hostcalls::set_shared_data("hostcall_bench_key", Some(b"0123456789abcdef"), None);
        self.plan = Rc::new(Plan {
            kind: kind.to_string(),
            n: n.parse().unwrap_or(0),
            counter,
            histogram,
        });
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            plan: Rc::clone(&self.plan),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    plan: Rc<Plan>,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let p = &self.plan;
        for _ in 0..p.n {
            match p.kind.as_str() {
                // The wall clock: no data comes back into Wasm memory.
                "clock" => drop(hostcalls::get_current_time()),
                // A present header: the host allocates its value in Wasm
                // memory (a call back into the module) and copies it.
                "header" => drop(self.get_http_request_header(":path")),
                // An absent header: a lookup, nothing copied back.
                "header_absent" => drop(self.get_http_request_header("x-absent")),
                // The whole map, serialised into Wasm memory.
                "header_map" => drop(self.get_http_request_headers()),
                // Removing a header the request does not have.
                "remove_absent" => self.set_http_request_header("x-absent", None),
                // Setting a header (the same one each time).
                "set_header" => self.set_http_request_header("x-bench", Some("1")),
                "counter" => drop(hostcalls::increment_metric(p.counter, 1)),
                "histogram" => drop(hostcalls::record_metric(p.histogram, 42)),
                "shared_get" => drop(hostcalls::get_shared_data("hostcall_bench_key")),
                "property" => drop(self.get_property(vec!["source", "address"])),
                _ => break,
            }
        }
        Action::Continue
    }
}
