//! [`Metrics`] over the proxy-wasm metrics ABI.

use std::collections::HashMap;

use super::abi as hostcalls;
use proxy_wasm::types::{LogLevel, MetricType};

use super::log;
use crate::metrics::Metrics;

/// Metric ids by name, defined on first use (one table per worker VM).
/// A name the host refused to define is remembered as `None`, so a host
/// without metrics (older Kong) costs one warning, not one per request.
#[derive(Default)]
pub struct HostMetrics {
    ids: HashMap<String, Option<u32>>,
}

impl HostMetrics {
    fn id(&mut self, kind: MetricType, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = match hostcalls::define_metric(kind, name) {
            Ok(id) => Some(id),
            Err(status) => {
                log(
                    LogLevel::Warn,
                    &format!("tollgate: cannot define metric {name}: {status:?}"),
                );
                None
            }
        };
        self.ids.insert(name.to_string(), id);
        id
    }
}

impl Metrics for HostMetrics {
    fn count(&mut self, name: &str, delta: u64) {
        if let Some(id) = self.id(MetricType::Counter, name) {
            let _ = hostcalls::increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
        }
    }

    fn record(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(MetricType::Histogram, name) {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}
