//! MCP gateway security: the filter as an OAuth 2.1 protected resource in
//! front of Model Context Protocol servers (Streamable HTTP: JSON-RPC 2.0
//! over `POST`, answered with JSON or SSE).
//!
//! - **Protected resource** (MCP authorization, RFC 9728, RFC 8707): 401s
//!   carry `WWW-Authenticate: Bearer resource_metadata="…"`, the metadata
//!   document is served from configuration, and a token must name the
//!   server's canonical URI in `aud`.
//! - **Per-tool authorization**: tool rules (names or globs) need roles or
//!   scopes and may rate-limit per tool; a refused `tools/call` gets a
//!   JSON-RPC error with its `id`; `tools/list` answers show only what the
//!   caller may call; batches are decided element by element.
//! - **Arguments** are checked against the tool's input schema
//!   ([`schema`]) and screened with the prompt screening rules.
//! - **Catalog pinning** ([`catalog`]): each tool's fingerprint is pinned
//!   (configuration or first sight); a changed tool is flagged or blocked.
//! - **Results** are screened for indirect injection and redacted.
//!
//! Everything here is pure: the pipeline hands in the parsed request, the
//! caller, the shared store and the clock, and gets back an [`McpDecision`]
//! and an [`Exchange`] that rewrites the answer. Audit notes name tools,
//! codes, rule ids and argument paths, never argument or result text.

pub mod catalog;
pub mod schema;
pub mod settings;
pub mod sse;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::auth::{AuthError, Identity};
use crate::config::ConfigError;
use crate::decision::Denial;
use crate::metrics::{self, Metrics};
use crate::rate_limit::{
    FailMode, Outcome, PolicySettings, RateLimitSettings, RateLimiter, RequestFacts, SharedStore,
};
use crate::redaction::{Counts, ProfileId, Redactor};
use crate::route::RoleRequirement;
use crate::screening::{Action, RuleHit, ScreenOutcome, Screener};

use catalog::{Catalog, Entry, Observations};
pub use settings::{
    ArgumentSettings, Check, McpSettings, MetadataSettings, PinningSettings, ResultSettings,
    ServerSettings, ToolLimitSettings, ToolSettings, Unlisted,
};

/// JSON-RPC error code for a refused call (implementation-defined server error range).
pub const ERROR_FORBIDDEN: i64 = -32001;
/// JSON-RPC "invalid params": arguments that break the schema.
pub const ERROR_INVALID_PARAMS: i64 = -32602;
/// JSON-RPC "parse error".
pub const ERROR_PARSE: i64 = -32700;
/// Longest tool name kept in the audit line.
const MAX_AUDIT_NAME: usize = 128;
/// Most calls described one by one in the audit line.
const MAX_AUDIT_CALLS: usize = 32;

/// Index of a configured server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerId(usize);

#[derive(Debug)]
struct Metadata {
    path: String,
    url: String,
    document: Vec<u8>,
}

#[derive(Debug)]
struct ToolRule {
    pattern: String,
    roles: RoleRequirement,
    limiter: Option<RateLimiter>,
    input_schema: Option<Value>,
    fingerprint: Option<String>,
    /// `Some(None)`: this tool's results are not redacted.
    redact: Option<Option<ProfileId>>,
    result_injection: Option<Check>,
}

#[derive(Debug)]
struct Server {
    name: String,
    routes: Vec<String>,
    resource: Option<String>,
    metadata: Option<Metadata>,
    tools: Vec<ToolRule>,
    unlisted: Unlisted,
    arguments: ArgumentSettings,
    pinning: PinningSettings,
    results: ResultSettings,
    max_response_bytes: usize,
}

/// The compiled `mcp` section.
#[derive(Debug, Default)]
pub struct Mcp {
    servers: Vec<Server>,
}

/// `*` matches any run of characters, `?` exactly one.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == n.get(ni) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `scheme://authority` and the path of an absolute http(s) URI.
fn split_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    if uri.contains('#') {
        return None;
    }
    let authority_len = rest.find('/').unwrap_or(rest.len());
    if authority_len == 0 {
        return None;
    }
    let origin_len = uri.len() - rest.len() + authority_len;
    Some((uri.get(..origin_len)?, uri.get(origin_len..)?))
}

impl Mcp {
    /// Validates and compiles the section. `route_names` are the configured
    /// routes, `policy_names` the rate-limit policies (tool limits must not
    /// reuse their shared-data names).
    pub fn compile(
        settings: McpSettings,
        route_names: &[&str],
        policy_names: &[&str],
        redactor: &Redactor,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let mut servers: Vec<Server> = Vec::with_capacity(settings.servers.len());
        for (i, s) in settings.servers.into_iter().enumerate() {
            let at = |field: &str| format!("{path}.servers[{i}].{field}");
            if !valid_name(&s.name) {
                return Err(ConfigError::new(
                    at("name"),
                    "must be 1 to 48 letters, digits, `_` or `-`",
                ));
            }
            if servers.iter().any(|x| x.name == s.name) {
                return Err(ConfigError::new(at("name"), "duplicate server name"));
            }
            if s.routes.is_empty() {
                return Err(ConfigError::new(
                    at("routes"),
                    "must name at least one route",
                ));
            }
            for (j, r) in s.routes.iter().enumerate() {
                if !route_names.contains(&r.as_str()) {
                    return Err(ConfigError::new(
                        format!("{path}.servers[{i}].routes[{j}]"),
                        format!("no route named `{r}`"),
                    ));
                }
                if servers.iter().any(|x| x.routes.contains(r)) {
                    return Err(ConfigError::new(
                        format!("{path}.servers[{i}].routes[{j}]"),
                        format!("route `{r}` already belongs to another server"),
                    ));
                }
            }
            if let Some(resource) = &s.resource {
                if split_uri(resource).is_none() {
                    return Err(ConfigError::new(
                        at("resource"),
                        "must be an absolute http(s) URI without a fragment",
                    ));
                }
            }
            let metadata = match &s.metadata {
                None => None,
                Some(m) => Some(compile_metadata(m, s.resource.as_deref(), &at)?),
            };
            if s.pinning.max_tools == 0 {
                return Err(ConfigError::new(
                    at("pinning.max_tools"),
                    "must be greater than 0",
                ));
            }
            if s.max_response_bytes == 0 {
                return Err(ConfigError::new(
                    at("max_response_bytes"),
                    "must be greater than 0",
                ));
            }
            let mut tools = Vec::with_capacity(s.tools.len());
            for (j, t) in s.tools.into_iter().enumerate() {
                let at_tool = format!("{path}.servers[{i}].tools[{j}]");
                let limit_name = format!("mcp-{}-{j}", s.name);
                tools.push(compile_tool(
                    t,
                    &limit_name,
                    policy_names,
                    redactor,
                    &at_tool,
                )?);
            }
            servers.push(Server {
                name: s.name,
                routes: s.routes,
                resource: s.resource,
                metadata,
                tools,
                unlisted: s.unlisted_tools,
                arguments: s.arguments,
                pinning: s.pinning,
                results: s.results,
                max_response_bytes: s.max_response_bytes,
            });
        }
        Ok(Self { servers })
    }

    /// True when no server is configured.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The server behind a route.
    pub fn server_for(&self, route: &str) -> Option<ServerId> {
        self.servers
            .iter()
            .position(|s| s.routes.iter().any(|r| r == route))
            .map(ServerId)
    }

    fn server(&self, id: ServerId) -> Option<&Server> {
        self.servers.get(id.0)
    }

    /// The server's name (metrics, audit).
    pub fn server_name(&self, id: ServerId) -> &str {
        self.server(id).map_or("", |s| s.name.as_str())
    }

    /// The protected-resource metadata document, when `path` asks for one:
    /// a 200 JSON answer for `GET` or `HEAD`, served before route matching
    /// (clients fetch it without a token).
    pub fn metadata_response(&self, method: &str, path: &str) -> Option<Denial> {
        if !(method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")) {
            return None;
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let meta = self
            .servers
            .iter()
            .filter_map(|s| s.metadata.as_ref())
            .find(|m| m.path == path)?;
        Some(
            Denial::new(200, "mcp_resource_metadata", "", "")
                .with_json_body(meta.document.clone())
                .with_header("cache-control", "max-age=300"),
        )
    }

    /// Adds `resource_metadata` to a 401's `WWW-Authenticate` challenge
    /// (MCP authorization, RFC 9728 §5.1), so a client can find the
    /// authorization server.
    pub fn challenge(&self, id: ServerId, denial: &mut Denial) {
        if denial.status != 401 {
            return;
        }
        let Some(meta) = self.server(id).and_then(|s| s.metadata.as_ref()) else {
            return;
        };
        let param = format!("resource_metadata=\"{}\"", meta.url);
        let mut found = false;
        for (name, value) in denial.headers.iter_mut() {
            if name.eq_ignore_ascii_case("www-authenticate") {
                found = true;
                let rest = value.trim().strip_prefix("Bearer").unwrap_or("").trim();
                *value = if rest.is_empty() {
                    format!("Bearer {param}")
                } else {
                    format!("Bearer {param}, {rest}")
                };
            }
        }
        if !found {
            denial
                .headers
                .push(("www-authenticate".into(), format!("Bearer {param}")));
        }
    }

    /// RFC 8707: a token for this server must name its canonical URI in
    /// `aud`. `Some` is the 401 (with the metadata challenge).
    pub fn check_audience(&self, id: ServerId, identity: &Identity) -> Option<Denial> {
        let resource = self.server(id)?.resource.as_deref()?;
        let names = |v: &Value| v.as_str().is_some_and(|a| same_resource(a, resource));
        let ok = match identity.claims.get("aud") {
            Some(Value::String(a)) => same_resource(a, resource),
            Some(Value::Array(list)) => list.iter().any(names),
            _ => false,
        };
        if ok {
            return None;
        }
        let mut denial = Denial::from(&AuthError::WrongAudience);
        self.challenge(id, &mut denial);
        Some(denial)
    }

    /// Starts an exchange for a request on the server's route (before its
    /// body is read): what the response side needs about the caller.
    pub fn exchange(&self, id: ServerId, roles: &[String], profile: Option<ProfileId>) -> Exchange {
        Exchange {
            server: id,
            roles: roles.to_vec(),
            profile,
            ..Exchange::default()
        }
    }
}

/// Canonical URIs compare without a trailing slash and with a lowercase
/// scheme and host (RFC 8707 §2, MCP authorization "canonical server URI").
fn same_resource(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        let s = s.trim().trim_end_matches('/');
        let origin_end = s
            .find("://")
            .map(|i| i + 3)
            .map(|i| i + s.get(i..).and_then(|r| r.find('/')).unwrap_or(s.len() - i));
        match origin_end.and_then(|e| Some((s.get(..e)?, s.get(e..)?))) {
            Some((origin, path)) => format!("{}{}", origin.to_ascii_lowercase(), path),
            None => s.to_string(),
        }
    };
    norm(a) == norm(b)
}

fn compile_metadata(
    m: &MetadataSettings,
    resource: Option<&str>,
    at: &dyn Fn(&str) -> String,
) -> Result<Metadata, ConfigError> {
    let Some(resource) = resource else {
        return Err(ConfigError::new(
            at("metadata"),
            "needs `resource`: the document names the protected resource",
        ));
    };
    if m.authorization_servers.is_empty() {
        return Err(ConfigError::new(
            at("metadata.authorization_servers"),
            "must list at least one authorization server",
        ));
    }
    let (origin, resource_path) = split_uri(resource).unwrap_or((resource, ""));
    let resource_path = resource_path.trim_end_matches('/');
    let path = match &m.path {
        Some(p) if p.starts_with('/') => p.clone(),
        Some(_) => return Err(ConfigError::new(at("metadata.path"), "must start with `/`")),
        None => format!("/.well-known/oauth-protected-resource{resource_path}"),
    };
    let url = match &m.url {
        Some(u) if split_uri(u).is_some() => u.clone(),
        Some(_) => {
            return Err(ConfigError::new(
                at("metadata.url"),
                "must be an absolute http(s) URL",
            ))
        }
        None => format!("{origin}{path}"),
    };
    if url.contains('"') || url.contains('\\') {
        return Err(ConfigError::new(
            at("metadata.url"),
            "must not contain quotes",
        ));
    }
    let mut doc = Map::new();
    doc.insert("resource".into(), json!(resource));
    doc.insert(
        "authorization_servers".into(),
        json!(m.authorization_servers),
    );
    if !m.scopes_supported.is_empty() {
        doc.insert("scopes_supported".into(), json!(m.scopes_supported));
    }
    doc.insert("bearer_methods_supported".into(), json!(["header"]));
    if let Some(n) = &m.resource_name {
        doc.insert("resource_name".into(), json!(n));
    }
    if let Some(d) = &m.resource_documentation {
        doc.insert("resource_documentation".into(), json!(d));
    }
    let document = serde_json::to_vec(&Value::Object(doc))
        .map_err(|e| ConfigError::new(at("metadata"), e.to_string()))?;
    Ok(Metadata {
        path,
        url,
        document,
    })
}

/// What the request side knows about the caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Facts the per-tool limits key on (`route` is replaced by the tool name).
    pub facts: RequestFacts<'a>,
    /// Envoy's clock.
    pub now_ms: u64,
}

/// The request-side decision.
#[derive(Debug, PartialEq, Eq)]
pub enum McpDecision {
    /// Forward. `Some` replaces the body: a batch with refused elements removed.
    Forward(Option<Vec<u8>>),
    /// Answer locally with this JSON-RPC body (HTTP 200, `application/json`):
    /// every element was refused, or the body is not JSON.
    Respond(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    List,
    Call { tool: String, rule: Option<usize> },
}

#[derive(Debug)]
enum Body {
    /// Not rewritten.
    Pass,
    /// JSON, held whole.
    Json,
    /// SSE, event by event.
    Sse(sse::EventSplitter),
    /// Too large to hold: refused, the rest is dropped.
    Dropped,
}

/// How a response body chunk is handled (mirrors the pipeline's body step).
#[derive(Debug, PartialEq, Eq)]
pub enum BodyAction {
    /// Forward unchanged.
    Pass,
    /// Keep buffering.
    Hold,
    /// Replace what the host holds with these bytes.
    Replace(Vec<u8>),
}

/// One MCP request/response exchange on a stream.
#[derive(Debug)]
pub struct Exchange {
    server: ServerId,
    roles: Vec<String>,
    profile: Option<ProfileId>,
    pending: Vec<(Value, Pending)>,
    /// Local answers for refused batch elements, added to the response.
    errors: Vec<Value>,
    catalog: Option<Catalog>,
    observations: Observations,
    body: Body,
    counters: BTreeMap<String, u64>,
    calls: Vec<Value>,
    audit: Map<String, Value>,
}

impl Default for Exchange {
    fn default() -> Self {
        Self {
            server: ServerId(0),
            roles: Vec::new(),
            profile: None,
            pending: Vec::new(),
            errors: Vec::new(),
            catalog: None,
            observations: Observations::default(),
            body: Body::Pass,
            counters: BTreeMap::new(),
            calls: Vec::new(),
            audit: Map::new(),
        }
    }
}

/// The services the exchange uses.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// The MCP section.
    pub mcp: &'a Mcp,
    /// Prompt screening (arguments and results).
    pub screener: &'a Screener,
    /// Response redaction (results).
    pub redactor: &'a Redactor,
}

fn rpc_error(id: &Value, code: i64, message: &str, data: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message, "data": data }
    })
}

fn audit_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_AUDIT_NAME)
        .collect()
}

/// Every string inside a JSON value, joined by newlines (for screening).
fn collect_strings(v: &Value, out: &mut String, depth: usize) {
    if depth > 32 {
        return;
    }
    match v {
        Value::String(s) => {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(s);
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out, depth + 1)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out, depth + 1)),
        _ => {}
    }
}

/// Screened text and what the rules said.
#[derive(Debug, Default)]
struct Screened {
    blocked: Option<RuleHit>,
    flagged: Vec<RuleHit>,
    /// Screening refused the text itself (too long, ...): not screened.
    unscreened: bool,
}

/// Screens untrusted text with the prompt rules, as a user turn.
fn screen_text(screener: &Screener, text: &str, check: Check) -> Screened {
    if text.is_empty() || check == Check::Off || !screener.enabled() {
        return Screened::default();
    }
    let body = json!({ "messages": [{ "role": "user", "content": text }] });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    match screener.screen("/v1/chat/completions", &bytes) {
        ScreenOutcome::Pass { flagged, .. } => Screened {
            flagged,
            ..Screened::default()
        },
        ScreenOutcome::Block { hit, .. } if check == Check::Block => Screened {
            blocked: Some(hit),
            ..Screened::default()
        },
        ScreenOutcome::Block { hit, .. } => Screened {
            flagged: vec![RuleHit {
                action: Action::Monitor,
                ..hit
            }],
            ..Screened::default()
        },
        ScreenOutcome::Invalid(_) => Screened {
            unscreened: true,
            ..Screened::default()
        },
    }
}

fn rule_ids(hits: &[RuleHit]) -> Vec<&str> {
    hits.iter().map(|h| h.rule_id.as_str()).collect()
}

impl Server {
    fn rule_for(&self, tool: &str) -> Option<usize> {
        self.tools
            .iter()
            .position(|r| glob_matches(&r.pattern, tool))
    }

    fn may_use(&self, rule: Option<usize>, roles: &[String]) -> bool {
        match rule.and_then(|i| self.tools.get(i)) {
            Some(r) => r.roles.satisfied_by(roles),
            None => self.unlisted == Unlisted::Allow,
        }
    }
}

impl Exchange {
    fn count(&mut self, name: impl Into<String>) {
        let c = self.counters.entry(name.into()).or_default();
        *c = c.saturating_add(1);
    }

    fn note_call(&mut self, tool: &str, outcome: &str, extra: Option<(&str, Value)>) {
        if self.calls.len() >= MAX_AUDIT_CALLS {
            return;
        }
        let mut entry = Map::new();
        entry.insert("tool".into(), json!(audit_name(tool)));
        entry.insert("outcome".into(), json!(outcome));
        if let Some((k, v)) = extra {
            entry.insert(k.into(), v);
        }
        self.calls.push(Value::Object(entry));
    }

    fn catalog<'c>(&'c mut self, store: &dyn SharedStore, server: &Server) -> &'c Catalog {
        if self.catalog.is_none() {
            let loaded = match catalog::load(store, &server.name) {
                Ok((c, _)) => c,
                Err(e) => {
                    self.count(metrics::internal_error(e.code()));
                    Catalog::default()
                }
            };
            self.catalog = Some(loaded);
        }
        self.catalog.get_or_insert_with(Catalog::default)
    }

    /// Decides a request body, parsed once by the pipeline (`None`: not
    /// JSON): every `tools/call` is authorized, limited, validated and
    /// screened; `tools/list` and call ids are remembered for the answer.
    /// Counts are emitted by [`Exchange::finish`].
    pub fn inspect_request(
        &mut self,
        services: Services<'_>,
        store: &dyn SharedStore,
        caller: &Caller<'_>,
        message: Option<&Value>,
    ) -> McpDecision {
        let Some(server) = services.mcp.server(self.server) else {
            return McpDecision::Forward(None);
        };
        let parsed = match message {
            Some(v) => v,
            None => {
                self.count(metrics::mcp("invalid_json"));
                self.audit.insert("invalid".into(), json!("parse_error"));
                let err = rpc_error(
                    &Value::Null,
                    ERROR_PARSE,
                    "parse error",
                    json!({"code": "invalid_json"}),
                );
                return McpDecision::Respond(serde_json::to_vec(&err).unwrap_or_default());
            }
        };
        match parsed {
            Value::Array(items) => {
                self.audit.insert("batch".into(), json!(items.len()));
                let mut kept: Vec<&Value> = Vec::with_capacity(items.len());
                let mut refused = Vec::new();
                for item in items {
                    match self.inspect_message(services, server, store, caller, item) {
                        None => kept.push(item),
                        Some(err) => {
                            if item.get("id").is_some() {
                                refused.push(err);
                            }
                        }
                    }
                }
                if refused.is_empty() {
                    return McpDecision::Forward(None);
                }
                if kept.iter().all(|m| m.get("id").is_none()) {
                    // Nothing left the server would answer: answer here.
                    self.pending.clear();
                    return McpDecision::Respond(
                        serde_json::to_vec(&Value::Array(refused)).unwrap_or_default(),
                    );
                }
                self.errors = refused;
                // One element left goes as a plain message: servers on MCP
                // 2025-06-18 and later no longer accept batches.
                let forwarded = match kept.as_slice() {
                    [single] => serde_json::to_vec(single),
                    _ => serde_json::to_vec(&kept),
                };
                McpDecision::Forward(Some(forwarded.unwrap_or_default()))
            }
            msg => match self.inspect_message(services, server, store, caller, msg) {
                None => McpDecision::Forward(None),
                Some(err) => McpDecision::Respond(serde_json::to_vec(&err).unwrap_or_default()),
            },
        }
    }

    /// One JSON-RPC message; `Some` is the error answer that replaces it.
    fn inspect_message(
        &mut self,
        services: Services<'_>,
        server: &Server,
        store: &dyn SharedStore,
        caller: &Caller<'_>,
        msg: &Value,
    ) -> Option<Value> {
        let method = msg.get("method").and_then(Value::as_str)?;
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        match method {
            "tools/list" => {
                if msg.get("id").is_some() {
                    self.catalog(store, server);
                    self.pending.push((id, Pending::List));
                }
                None
            }
            "tools/call" => {
                let params = msg.get("params");
                let Some(tool) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
                    // The server answers a malformed call itself.
                    return None;
                };
                let empty = json!({});
                let args = params.and_then(|p| p.get("arguments")).unwrap_or(&empty);
                match self.check_call(services, server, store, caller, tool, args) {
                    Ok(rule) => {
                        self.count(metrics::mcp("call.allowed"));
                        self.note_call(tool, "allowed", None);
                        self.pending.push((
                            id,
                            Pending::Call {
                                tool: tool.to_string(),
                                rule,
                            },
                        ));
                        None
                    }
                    Err(refusal) => {
                        self.count(metrics::mcp_denied(refusal.code));
                        self.note_call(tool, refusal.code, refusal.audit);
                        Some(rpc_error(
                            &id,
                            refusal.rpc_code,
                            &refusal.message,
                            refusal.data,
                        ))
                    }
                }
            }
            _ => None,
        }
    }

    fn check_call(
        &mut self,
        services: Services<'_>,
        server: &Server,
        store: &dyn SharedStore,
        caller: &Caller<'_>,
        tool: &str,
        args: &Value,
    ) -> Result<Option<usize>, Box<Refusal>> {
        let rule_index = server.rule_for(tool);
        let rule = rule_index.and_then(|i| server.tools.get(i));
        if !server.may_use(rule_index, &self.roles) {
            return Err(Box::new(Refusal::new(
                "forbidden_tool",
                ERROR_FORBIDDEN,
                format!("the caller may not use tool `{}`", audit_name(tool)),
            )));
        }
        let entry = self.catalog(store, server).tools.get(tool).cloned();
        if server.pinning.mode == Check::Block && entry.as_ref().is_some_and(|e| e.changed) {
            return Err(Box::new(Refusal::new(
                "tool_changed",
                ERROR_FORBIDDEN,
                format!(
                    "tool `{}` changed since it was pinned; an operator must review it",
                    audit_name(tool)
                ),
            )));
        }
        if let Some(limiter) = rule.and_then(|r| r.limiter.as_ref()) {
            let facts = RequestFacts {
                route: tool,
                ..caller.facts
            };
            match limiter.check_requests(store, &facts, caller.now_ms) {
                Outcome::Admitted { monitored, .. } => {
                    for p in monitored {
                        self.count(metrics::rate_limit_monitored(&p));
                    }
                }
                Outcome::Limited { retry_after_s, .. } => {
                    let mut r = Refusal::new(
                        "tool_rate_limited",
                        ERROR_FORBIDDEN,
                        format!(
                            "tool `{}` is rate limited; retry after {retry_after_s} s",
                            audit_name(tool)
                        ),
                    );
                    r.data["retry_after_s"] = json!(retry_after_s);
                    return Err(Box::new(r));
                }
                Outcome::Failed { kind } => {
                    self.count(metrics::internal_error(kind));
                    if limiter.fail_mode() == FailMode::Closed {
                        return Err(Box::new(Refusal::new(
                            "rate_limit_unavailable",
                            ERROR_FORBIDDEN,
                            "rate limiting is temporarily unavailable".to_string(),
                        )));
                    }
                }
            }
        }
        if server.arguments.validate {
            let schema = rule
                .and_then(|r| r.input_schema.as_ref())
                .or_else(|| entry.as_ref().and_then(|e| e.schema.as_ref()));
            match schema {
                Some(schema) => {
                    let violations = schema::validate(schema, args, "arguments");
                    if !violations.is_empty() {
                        let text: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
                        let paths: Vec<Value> = violations
                            .iter()
                            .map(|v| json!({"path": audit_name(&v.path), "keyword": v.keyword}))
                            .collect();
                        let mut r = Refusal::new(
                            "invalid_arguments",
                            ERROR_INVALID_PARAMS,
                            format!(
                                "invalid arguments for tool `{}`: {}",
                                audit_name(tool),
                                text.join("; ")
                            ),
                        );
                        r.data["violations"] = Value::Array(paths.clone());
                        r.audit = Some(("violations", Value::Array(paths)));
                        return Err(Box::new(r));
                    }
                }
                None => self.count(metrics::mcp("call.schema_unknown")),
            }
        }
        let mut text = String::new();
        collect_strings(args, &mut text, 0);
        let screened = screen_text(services.screener, &text, server.arguments.screening);
        if let Some(hit) = screened.blocked {
            self.count(metrics::screening_blocked(hit.category));
            let mut r = Refusal::new(
                "arguments_blocked",
                ERROR_FORBIDDEN,
                format!(
                    "the arguments were blocked by rule `{}` ({})",
                    hit.rule_id, hit.category
                ),
            );
            r.data["rule"] = json!(hit.rule_id);
            r.audit = Some(("rules", json!([hit.rule_id])));
            return Err(Box::new(r));
        }
        if !screened.flagged.is_empty() {
            for h in &screened.flagged {
                self.count(metrics::screening_flagged(h.category));
            }
            self.count(metrics::mcp("call.arguments_flagged"));
            let ids = json!(rule_ids(&screened.flagged));
            self.audit.insert("arguments_flagged".into(), ids);
        }
        if screened.unscreened {
            self.count(metrics::mcp("call.arguments_unscreened"));
        }
        Ok(rule_index)
    }

    /// True when the answer must be looked at.
    pub fn wants_response(&self) -> bool {
        !self.pending.is_empty() || !self.errors.is_empty()
    }

    /// Decides from the response's `content-type` whether the body is
    /// rewritten (then `Content-Length` must go).
    pub fn on_response_headers(&mut self, content_type: Option<&str>) -> bool {
        if !self.wants_response() {
            return false;
        }
        let ct = content_type.unwrap_or("").trim().to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        self.body = if mime == "application/json" || mime.ends_with("+json") {
            Body::Json
        } else if mime == "text/event-stream" {
            Body::Sse(sse::EventSplitter::default())
        } else {
            Body::Pass
        };
        !matches!(self.body, Body::Pass)
    }

    /// True while response body chunks must come here.
    pub fn rewrites_body(&self) -> bool {
        !matches!(self.body, Body::Pass)
    }

    /// One response body callback. `held` is the whole body so far while
    /// JSON is held, otherwise the new chunk.
    pub fn on_response_body(
        &mut self,
        services: Services<'_>,
        counts: &mut Counts,
        held: &[u8],
        end_of_stream: bool,
    ) -> BodyAction {
        let Some(server) = services.mcp.server(self.server) else {
            return BodyAction::Pass;
        };
        match std::mem::replace(&mut self.body, Body::Pass) {
            Body::Pass => BodyAction::Pass,
            Body::Dropped => {
                self.body = Body::Dropped;
                BodyAction::Replace(Vec::new())
            }
            Body::Json => {
                if !end_of_stream {
                    if held.len() > server.max_response_bytes {
                        // Fail closed: an answer too large to filter is not shown.
                        self.count(metrics::mcp("response.too_large"));
                        self.body = Body::Dropped;
                        let errors: Vec<Value> = self
                            .pending
                            .drain(..)
                            .map(|(id, _)| {
                                rpc_error(
                                    &id,
                                    ERROR_FORBIDDEN,
                                    "the answer is too large to inspect",
                                    json!({"code": "response_too_large"}),
                                )
                            })
                            .collect();
                        let out = if errors.len() == 1 {
                            errors.into_iter().next().unwrap_or(Value::Null)
                        } else {
                            Value::Array(errors)
                        };
                        return BodyAction::Replace(serde_json::to_vec(&out).unwrap_or_default());
                    }
                    self.body = Body::Json;
                    return BodyAction::Hold;
                }
                let Ok(doc) = serde_json::from_slice::<Value>(held) else {
                    return BodyAction::Pass;
                };
                let errors = std::mem::take(&mut self.errors);
                let out = match doc {
                    Value::Array(items) => {
                        let mut out: Vec<Value> = items
                            .into_iter()
                            .map(|m| self.rewrite_message(services, server, counts, m))
                            .collect();
                        out.extend(errors);
                        Value::Array(out)
                    }
                    single => {
                        let m = self.rewrite_message(services, server, counts, single);
                        if errors.is_empty() {
                            m
                        } else {
                            let mut out = vec![m];
                            out.extend(errors);
                            Value::Array(out)
                        }
                    }
                };
                BodyAction::Replace(serde_json::to_vec(&out).unwrap_or_default())
            }
            Body::Sse(mut splitter) => {
                let mut events = splitter.push(held);
                if end_of_stream {
                    events.extend(splitter.finish());
                }
                let mut out = Vec::with_capacity(held.len());
                for event in events {
                    let rewritten = sse::event_data(&event)
                        .and_then(|d| serde_json::from_str::<Value>(&d).ok())
                        .map(|v| {
                            let v = match v {
                                Value::Array(items) => Value::Array(
                                    items
                                        .into_iter()
                                        .map(|m| self.rewrite_message(services, server, counts, m))
                                        .collect(),
                                ),
                                single => self.rewrite_message(services, server, counts, single),
                            };
                            sse::with_data(&event, &serde_json::to_string(&v).unwrap_or_default())
                        });
                    match rewritten {
                        Some(bytes) => out.extend(bytes),
                        None => {
                            out.extend_from_slice(&event);
                            out.extend_from_slice(b"\n\n");
                        }
                    }
                }
                if splitter.dropped > 0 {
                    self.count(metrics::mcp("response.event_too_large"));
                    splitter.dropped = 0;
                }
                if end_of_stream {
                    for e in std::mem::take(&mut self.errors) {
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        out.extend(sse::with_data(b"event: message", &data));
                    }
                }
                self.body = Body::Sse(splitter);
                BodyAction::Replace(out)
            }
        }
    }

    /// Rewrites one JSON-RPC message of the answer.
    fn rewrite_message(
        &mut self,
        services: Services<'_>,
        server: &Server,
        counts: &mut Counts,
        mut msg: Value,
    ) -> Value {
        let Some(id) = msg.get("id").cloned() else {
            return msg;
        };
        let Some(at) = self.pending.iter().position(|(pid, _)| *pid == id) else {
            return msg;
        };
        let (_, pending) = self.pending.remove(at);
        match pending {
            Pending::List => {
                if let Some(tools) = msg
                    .get_mut("result")
                    .and_then(|r| r.get_mut("tools"))
                    .and_then(Value::as_array_mut)
                {
                    let list = std::mem::take(tools);
                    *tools = self.filter_list(server, list);
                }
                msg
            }
            Pending::Call { tool, rule } => {
                self.screen_result(services, server, counts, &tool, rule, &id, msg)
            }
        }
    }

    /// Pins, checks and filters a `tools/list` answer.
    fn filter_list(&mut self, server: &Server, tools: Vec<Value>) -> Vec<Value> {
        let total = tools.len();
        let mut shown = Vec::with_capacity(total);
        let mut changed_names = Vec::new();
        let mut hidden = 0usize;
        let mut learned = 0usize;
        let known = self.catalog.as_ref().map_or(0, |c| c.tools.len());
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str).map(str::to_string) else {
                hidden += 1;
                continue;
            };
            let rule_index = server.rule_for(&name);
            let rule = rule_index.and_then(|i| server.tools.get(i));
            let fp = catalog::fingerprint(&tool);
            let pinned = rule
                .and_then(|r| r.fingerprint.clone())
                .or_else(|| {
                    self.catalog
                        .as_ref()
                        .and_then(|c| c.tools.get(&name))
                        .map(|e| e.fp.clone())
                        .filter(|fp| !fp.is_empty())
                })
                .or_else(|| {
                    self.observations
                        .learned
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, e)| e.fp.clone())
                });
            let (changed, unpinned) = match pinned {
                Some(p) => (p != fp, false),
                None if server.pinning.learn && known + learned < server.pinning.max_tools => {
                    learned += 1;
                    self.observations.learned.push((
                        name.clone(),
                        Entry {
                            fp: fp.clone(),
                            schema: tool.get("inputSchema").cloned(),
                            changed: false,
                        },
                    ));
                    (false, false)
                }
                None => (false, true),
            };
            if changed && server.pinning.mode != Check::Off {
                self.count(metrics::mcp("catalog.changed"));
                changed_names.push(json!(audit_name(&name)));
                if !self.observations.changed.contains(&name) {
                    self.observations.changed.push(name.clone());
                }
            }
            let hide = !server.may_use(rule_index, &self.roles)
                || (changed && server.pinning.mode == Check::Block)
                || (unpinned && server.pinning.strip_unpinned);
            if hide {
                hidden += 1;
            } else {
                shown.push(tool);
            }
        }
        if learned > 0 {
            for _ in 0..learned {
                self.count(metrics::mcp("catalog.pinned"));
            }
        }
        for _ in 0..hidden {
            self.count(metrics::mcp("list.hidden"));
        }
        self.count(metrics::mcp("list.answered"));
        let mut list = Map::new();
        list.insert("tools".into(), json!(total));
        list.insert("shown".into(), json!(shown.len()));
        list.insert("hidden".into(), json!(hidden));
        if learned > 0 {
            list.insert("pinned".into(), json!(learned));
        }
        if !changed_names.is_empty() {
            list.insert("changed".into(), Value::Array(changed_names));
            list.insert(
                "pinning".into(),
                json!(match server.pinning.mode {
                    Check::Block => "block",
                    _ => "monitor",
                }),
            );
        }
        self.audit.insert("list".into(), Value::Object(list));
        shown
    }

    /// Screens a `tools/call` result for injection and redacts it.
    #[allow(clippy::too_many_arguments)]
    fn screen_result(
        &mut self,
        services: Services<'_>,
        server: &Server,
        counts: &mut Counts,
        tool: &str,
        rule: Option<usize>,
        id: &Value,
        mut msg: Value,
    ) -> Value {
        let rule = rule.and_then(|i| server.tools.get(i));
        let Some(result) = msg.get_mut("result") else {
            return msg;
        };
        let check = rule
            .and_then(|r| r.result_injection)
            .unwrap_or(server.results.injection);
        let mut text = String::new();
        if let Some(content) = result.get("content").and_then(Value::as_array) {
            for item in content {
                if let Some(t) = item.get("text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(t);
                }
            }
        }
        if let Some(structured) = result.get("structuredContent") {
            collect_strings(structured, &mut text, 0);
        }
        let screened = screen_text(services.screener, &text, check);
        let mut section = Map::new();
        if let Some(hit) = screened.blocked {
            self.count(metrics::mcp("result.blocked"));
            self.count(metrics::screening_blocked(hit.category));
            section.insert("tool".into(), json!(audit_name(tool)));
            section.insert("action".into(), json!("block"));
            section.insert("rules".into(), json!([hit.rule_id]));
            self.audit.insert("result".into(), Value::Object(section));
            return rpc_error(
                id,
                ERROR_FORBIDDEN,
                &format!(
                    "the tool result was blocked by rule `{}` ({})",
                    hit.rule_id, hit.category
                ),
                json!({"code": "result_blocked", "rule": hit.rule_id}),
            );
        }
        if !screened.flagged.is_empty() {
            self.count(metrics::mcp("result.flagged"));
            for h in &screened.flagged {
                self.count(metrics::screening_flagged(h.category));
            }
            section.insert("tool".into(), json!(audit_name(tool)));
            section.insert("action".into(), json!("monitor"));
            section.insert("rules".into(), json!(rule_ids(&screened.flagged)));
        }
        if screened.unscreened {
            self.count(metrics::mcp("result.unscreened"));
        }
        let profile = match rule.and_then(|r| r.redact) {
            Some(p) => p,
            None => self.profile,
        };
        if let (true, Some(profile)) = (server.results.redact, profile) {
            let before = counts.total();
            if let Some(content) = result.get_mut("content").and_then(Value::as_array_mut) {
                for item in content {
                    if let Some(Value::String(t)) = item.get_mut("text") {
                        *t = services.redactor.redact_text(profile, t, counts);
                    }
                }
            }
            if let Some(structured) = result.get_mut("structuredContent") {
                redact_strings(services.redactor, profile, structured, counts, 0);
            }
            let n = counts.total().saturating_sub(before);
            if n > 0 {
                self.count(metrics::mcp("result.redacted"));
                section.insert("tool".into(), json!(audit_name(tool)));
                section.insert("redactions".into(), json!(n));
            }
        }
        if !section.is_empty() {
            self.audit.insert("result".into(), Value::Object(section));
        }
        msg
    }

    /// At the end of the stream: writes what was learned to the shared
    /// catalog and counts everything. Returns the audit section.
    pub fn finish(
        &mut self,
        mcp: &Mcp,
        store: &dyn SharedStore,
        metrics: &mut dyn Metrics,
    ) -> Map<String, Value> {
        if let Some(server) = mcp.server(self.server) {
            if !self.observations.is_empty() {
                if let Err(e) = catalog::record(
                    store,
                    &server.name,
                    &self.observations,
                    server.pinning.max_tools,
                ) {
                    self.count(metrics::internal_error(e.code()));
                }
                self.observations = Observations::default();
            }
            self.audit.insert("server".into(), json!(server.name));
        }
        for (name, n) in std::mem::take(&mut self.counters) {
            metrics.count(&name, n);
        }
        if !self.calls.is_empty() {
            self.audit.insert(
                "calls".into(),
                Value::Array(std::mem::take(&mut self.calls)),
            );
        }
        std::mem::take(&mut self.audit)
    }
}

fn redact_strings(
    redactor: &Redactor,
    profile: ProfileId,
    v: &mut Value,
    counts: &mut Counts,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    match v {
        Value::String(s) => *s = redactor.redact_text(profile, s, counts),
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| redact_strings(redactor, profile, x, counts, depth + 1)),
        Value::Object(o) => o
            .values_mut()
            .for_each(|x| redact_strings(redactor, profile, x, counts, depth + 1)),
        _ => {}
    }
}

/// A refused call, before it becomes a JSON-RPC error.
struct Refusal {
    code: &'static str,
    rpc_code: i64,
    message: String,
    data: Value,
    audit: Option<(&'static str, Value)>,
}

impl Refusal {
    fn new(code: &'static str, rpc_code: i64, message: String) -> Self {
        Self {
            code,
            rpc_code,
            message,
            data: json!({ "code": code }),
            audit: None,
        }
    }
}

/// One tool rule. `limit_name`: the shared-data name of its rate limit;
/// `at`: the rule's path.
fn compile_tool(
    t: ToolSettings,
    limit_name: &str,
    policy_names: &[&str],
    redactor: &Redactor,
    at: &str,
) -> Result<ToolRule, ConfigError> {
    let at_tool = |field: &str| format!("{at}.{field}");
    if t.pattern.trim().is_empty() {
        return Err(ConfigError::new(at_tool("match"), "must not be empty"));
    }
    if let Some(schema) = &t.input_schema {
        schema::check_schema(schema).map_err(|e| {
            ConfigError::new(format!("{}{e}", at_tool("input_schema")), "invalid schema")
        })?;
    }
    if let Some(fp) = &t.fingerprint {
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::new(
                at_tool("fingerprint"),
                "must be 64 hexadecimal digits (SHA-256)",
            ));
        }
    }
    let redact = match &t.redact_entities {
        None => None,
        Some(list) if list.is_empty() => Some(None),
        Some(list) => {
            let names: Vec<&str> = list.iter().map(String::as_str).collect();
            let Some(p) = redactor.profile_of(&names) else {
                return Err(ConfigError::new(
                    at_tool("redact_entities"),
                    "names no enabled redaction entity",
                ));
            };
            Some(Some(p))
        }
    };
    let limiter = match t.rate_limit {
        None => None,
        Some(l) => Some(compile_tool_limit(
            l,
            limit_name,
            policy_names,
            &at_tool("rate_limit"),
        )?),
    };
    Ok(ToolRule {
        pattern: t.pattern,
        roles: RoleRequirement {
            any_of: t.roles.any_of,
            all_of: t.roles.all_of,
        },
        limiter,
        input_schema: t.input_schema,
        fingerprint: t.fingerprint.map(|f| f.to_ascii_lowercase()),
        redact,
        result_injection: t.result_injection,
    })
}

/// A tool's own rate limit: a one-policy limiter named `name`.
fn compile_tool_limit(
    l: ToolLimitSettings,
    name: &str,
    policy_names: &[&str],
    at: &str,
) -> Result<RateLimiter, ConfigError> {
    if policy_names.contains(&name) {
        return Err(ConfigError::new(
            at,
            format!("policy name `{name}` is taken by rate_limit.policies"),
        ));
    }
    let policy = PolicySettings {
        name: name.to_string(),
        key: l.key,
        capacity: l.capacity,
        refill: l.refill,
        routes: Vec::new(),
        tiers: Vec::new(),
        monitor: l.monitor,
        kind: Default::default(),
        slots: crate::rate_limit::settings::DEFAULT_SLOTS,
        currency: None,
        backend: Default::default(),
        fail_mode: None,
    };
    let settings = RateLimitSettings {
        policies: vec![policy],
        ..RateLimitSettings::default()
    };
    RateLimiter::compile_single(settings, &[], at)
}
