//! The root context: configuration, the JWKS refresh timer, stream creation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use super::abi as hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use super::http::Http;
use super::metrics::HostMetrics;
use super::{buffer, call_response_status, dispatch_jwks, log, now_ms};
use crate::auth::AuthState;
use crate::config::Config;
use crate::metrics::{self, Metrics};

/// How often the root context checks whether a JWKS is due for refresh.
const TICK: Duration = Duration::from_secs(1);

/// Per-worker state shared by the root and every stream.
pub struct Shared {
    /// The compiled configuration.
    pub config: Rc<Config>,
    /// Remote key sets and the verified-token cache.
    pub auth: RefCell<AuthState>,
    /// Metric ids defined so far.
    pub metrics: RefCell<HostMetrics>,
    /// The root context's id: calls that must outlive a stream (a global
    /// budget's settle call) are made in its name.
    pub root_id: u32,
}

impl Shared {
    /// Counts one event; a busy borrow (never expected) drops the sample rather than panic.
    pub fn count(&self, name: &str) {
        if let Ok(mut m) = self.metrics.try_borrow_mut() {
            m.count(name, 1);
        }
    }

    /// Hands a JWKS fetch result (`status` `None`: not sent or no answer) to the
    /// auth state, then counts and logs the outcome.
    pub fn finish_jwks_fetch(
        &self,
        state: &mut AuthState,
        provider: usize,
        status: Option<u16>,
        body: &[u8],
    ) {
        let name = self.config.auth.provider_name(provider);
        match state.finish_fetch(&self.config.auth, provider, status, body, now_ms()) {
            Ok(keys) => {
                self.count(metrics::JWKS_FETCH_OK);
                log(
                    LogLevel::Info,
                    &format!("tollgate: jwks for provider {name} loaded ({keys} keys)"),
                );
            }
            Err(err) => {
                self.count(metrics::JWKS_FETCH_FAILED);
                log(
                    LogLevel::Warn,
                    &format!("tollgate: jwks fetch for provider {name} failed: {err}"),
                );
            }
        }
    }
}

/// The plugin's root context.
pub struct Root {
    id: u32,
    shared: Option<Rc<Shared>>,
    /// Outstanding JWKS calls made by the timer: call token → provider.
    calls: HashMap<u32, usize>,
}

impl Root {
    /// A root context before configuration.
    pub fn new(context_id: u32) -> Self {
        Self {
            id: context_id,
            shared: None,
            calls: HashMap::new(),
        }
    }

    fn refresh_due_jwks(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = now_ms();
        let Ok(mut state) = shared.auth.try_borrow_mut() else {
            return;
        };
        let remote = shared.config.auth.remote_jwks();
        for provider in state.due_fetches(&shared.config.auth, now) {
            let Some((_, source)) = remote.iter().find(|(p, _)| *p == provider) else {
                continue;
            };
            if !state.begin_fetch(provider, now, false) {
                continue;
            }
            match dispatch_jwks(source) {
                Ok(token) => {
                    self.calls.insert(token, provider);
                }
                Err(status) => {
                    let name = shared.config.auth.provider_name(provider);
                    log(
                        LogLevel::Warn,
                        &format!(
                            "tollgate: jwks fetch for provider {name} not dispatched: {status}"
                        ),
                    );
                    shared.finish_jwks_fetch(&mut state, provider, None, &[]);
                }
            }
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(provider) = self.calls.remove(&token_id) else {
            return;
        };
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let status = call_response_status();
        let body = buffer(BufferType::HttpCallResponseBody, body_size).unwrap_or_default();
        let Ok(mut state) = shared.auth.try_borrow_mut() else {
            return;
        };
        shared.finish_jwks_fetch(&mut state, provider, status, &body);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes =
            buffer(BufferType::PluginConfiguration, plugin_configuration_size).unwrap_or_default();
        match Config::from_json(&bytes) {
            Ok(config) => {
                let auth = AuthState::new(&config.auth);
                let has_remote = !config.auth.remote_jwks().is_empty();
                let loaded = format!(
                    "tollgate: configuration loaded (screening rule pack {})",
                    config.screening.pack_version()
                );
                let mut host_metrics = HostMetrics::default();
                host_metrics.count(metrics::CONFIG_LOADED, 1);
                self.shared = Some(Rc::new(Shared {
                    config: Rc::new(config),
                    auth: RefCell::new(auth),
                    metrics: RefCell::new(host_metrics),
                    root_id: self.id,
                }));
                if has_remote {
                    if let Err(status) = hostcalls::set_tick_period(TICK) {
                        log(
                            LogLevel::Error,
                            &format!("tollgate: cannot start the jwks timer: {status:?}"),
                        );
                    }
                }
                log(LogLevel::Info, &loaded);
                true
            }
            Err(err) => {
                log(
                    LogLevel::Critical,
                    &format!("tollgate: invalid configuration: {err}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.refresh_due_jwks();
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        Some(Box::new(Http::new(context_id, shared)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
