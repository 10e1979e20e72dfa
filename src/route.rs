//! Routes matched inside the filter.
//!
//! Envoy gives Wasm filters no per-route configuration, so the filter keeps
//! its own table: path (exact or prefix) and methods, matched in order, the
//! first match wins. Each route says whether a token is required and which
//! roles or scopes it needs. A request that matches no route follows
//! `unmatched` (deny by default).

use serde::Deserialize;

use crate::auth::Auth;
use crate::decision::ErrorShape;
use crate::error::ConfigError;
use crate::tls::RequireTls;

/// Whether a route needs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthRequirement {
    /// A valid token is required (the default).
    #[default]
    Required,
    /// A token is verified when present; anonymous requests pass.
    Optional,
    /// No token is looked at.
    None,
}

/// What happens to a request that matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnmatchedAction {
    /// Refuse with 404 `route_not_found` (the default).
    #[default]
    Deny,
    /// Require a valid token, no particular role.
    Authenticate,
    /// Pass without authentication.
    Allow,
}

/// How a route matches a request, as configured.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct MatchSettings {
    /// The path (without query) must equal this.
    pub exact: Option<String>,
    /// The path (without query) must start with this.
    pub prefix: Option<String>,
    /// Allowed methods; empty means any.
    pub methods: Vec<String>,
}

/// Roles or scopes a route requires, as configured.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct RolesSettings {
    /// At least one of these.
    pub any_of: Vec<String>,
    /// Every one of these.
    pub all_of: Vec<String>,
}

/// One route, as configured.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Name used in logs, metrics and the audit line.
    pub name: String,
    /// How the route matches.
    #[serde(rename = "match")]
    pub matcher: MatchSettings,
    /// Whether a token is required.
    #[serde(default)]
    pub auth: AuthRequirement,
    /// Roles or scopes required (only with `auth: required`).
    #[serde(default)]
    pub roles: RolesSettings,
    /// Names of the providers whose tokens this route accepts; empty means all.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Error shape of refusals (`openai` or `anthropic`). Absent: by path,
    /// Anthropic under `/v1/messages`, else OpenAI.
    #[serde(default)]
    pub error_format: Option<ErrorShape>,
    /// Refuse plaintext and TLS older than `min_version` (403 `tls_required`).
    #[serde(default)]
    pub require_tls: Option<RequireTls>,
    /// Accept paths that [`path_problem`] refuses (dot segments, encoded
    /// dots / slashes / backslashes, `;` parameters) on this route.
    #[serde(default)]
    pub allow_unnormalized_path: bool,
}

/// Request headers that ask an upstream to use another method or path than
/// the one the filter routed on. Removed from every request by default.
pub const DEFAULT_STRIP_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-forwarded-prefix",
];

/// The top-level `path_policy` section: what the filter does about paths
/// and headers that an upstream could read differently from the filter.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PathPolicySettings {
    /// Refuse ambiguous paths with 400 `invalid_path` (routes may opt out).
    pub reject_unnormalized: bool,
    /// Request headers removed before forwarding (lowercase names).
    pub strip_headers: Vec<String>,
}

impl Default for PathPolicySettings {
    fn default() -> Self {
        Self {
            reject_unnormalized: true,
            strip_headers: DEFAULT_STRIP_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
        }
    }
}

/// Why a path is ambiguous: an upstream or intermediary that normalises it
/// (resolves dot segments, decodes `%2F`, treats `\` as `/`, drops `;`
/// parameters) could serve another route than the one the filter matched.
/// Only the path part is looked at; the query is the upstream's business.
pub fn path_problem(path: &str) -> Option<&'static str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let bytes = path.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Some("the path contains a backslash"),
            b';' => return Some("the path contains a `;` parameter"),
            0..=0x1f | 0x7f => return Some("the path contains a control character"),
            b'%' => {
                let hex = |j: usize| bytes.get(j).map(u8::to_ascii_lowercase);
                match (hex(i + 1), hex(i + 2)) {
                    (Some(b'2'), Some(b'e')) => return Some("the path contains an encoded dot"),
                    (Some(b'2'), Some(b'f')) => return Some("the path contains an encoded slash"),
                    (Some(b'5'), Some(b'c')) => {
                        return Some("the path contains an encoded backslash")
                    }
                    // A percent-encoded percent is double encoding (`%252e`).
                    (Some(b'2'), Some(b'5')) => {
                        return Some("the path contains an encoded percent sign")
                    }
                    (Some(b'0'), _) | (Some(b'1'), _) => {
                        return Some("the path contains an encoded control character")
                    }
                    (Some(b'7'), Some(b'f')) => {
                        return Some("the path contains an encoded control character")
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Some("the path contains a dot segment");
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

/// Roles a route requires, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleRequirement {
    /// At least one of these (ignored when empty).
    pub any_of: Vec<String>,
    /// All of these.
    pub all_of: Vec<String>,
}

impl RoleRequirement {
    /// True when `roles` satisfies both the any-of and the all-of list.
    pub fn satisfied_by(&self, roles: &[String]) -> bool {
        let has = |r: &String| roles.iter().any(|x| x == r);
        (self.any_of.is_empty() || self.any_of.iter().any(has)) && self.all_of.iter().all(has)
    }

    /// True when the route names no role at all.
    pub fn is_empty(&self) -> bool {
        self.any_of.is_empty() && self.all_of.is_empty()
    }
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Configured name.
    pub name: String,
    path: PathMatch,
    methods: Vec<String>,
    /// Whether a token is required.
    pub auth: AuthRequirement,
    /// Required roles.
    pub roles: RoleRequirement,
    /// Indices of accepted providers; empty means all.
    pub providers: Vec<usize>,
    /// Configured error shape; `None`: by path ([`ErrorShape::for_path`]).
    pub error_format: Option<ErrorShape>,
    /// TLS requirement, checked against the connection's TLS version.
    pub require_tls: Option<RequireTls>,
    /// Ambiguous paths are accepted on this route.
    pub allow_unnormalized_path: bool,
}

impl Route {
    fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        };
        path_ok
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// The route table.
#[derive(Debug, Clone)]
pub struct Routes {
    routes: Vec<Route>,
    unmatched: UnmatchedAction,
    fallback: Route,
    reject_unnormalized: bool,
    strip_headers: Vec<String>,
}

/// The outcome of matching a request.
#[derive(Debug, Clone, Copy)]
pub enum Matched<'a> {
    /// A configured route, or the synthetic fallback route for `authenticate` / `allow`.
    Route(&'a Route),
    /// No route and the default is deny.
    Denied,
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

impl Routes {
    /// Validates and compiles the route table.
    pub fn compile(
        settings: Vec<RouteSettings>,
        unmatched: UnmatchedAction,
        auth: &Auth,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let mut routes: Vec<Route> = Vec::with_capacity(settings.len());
        for (i, s) in settings.into_iter().enumerate() {
            let at = format!("{path}[{i}]");
            if s.name.trim().is_empty() {
                return Err(ConfigError::new(format!("{at}.name"), "must not be empty"));
            }
            if routes.iter().any(|r| r.name == s.name) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!("duplicate route name `{}`", s.name),
                ));
            }
            routes.push(compile_route(s, auth, &at)?);
        }
        let fallback_auth = match unmatched {
            UnmatchedAction::Allow | UnmatchedAction::Deny => AuthRequirement::None,
            UnmatchedAction::Authenticate => {
                if auth.provider_count() == 0 {
                    return Err(ConfigError::new(
                        "unmatched",
                        "`authenticate` needs at least one auth provider",
                    ));
                }
                AuthRequirement::Required
            }
        };
        let fallback = Route {
            name: "unmatched".to_string(),
            path: PathMatch::Prefix("/".to_string()),
            methods: Vec::new(),
            auth: fallback_auth,
            roles: RoleRequirement::default(),
            providers: Vec::new(),
            error_format: None,
            require_tls: None,
            allow_unnormalized_path: false,
        };
        Ok(Self {
            routes,
            unmatched,
            fallback,
            reject_unnormalized: true,
            strip_headers: DEFAULT_STRIP_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
        })
    }

    /// Applies the `path_policy` section (validated here; `path` names it).
    pub fn with_path_policy(
        mut self,
        settings: PathPolicySettings,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let mut strip = Vec::with_capacity(settings.strip_headers.len());
        for (i, h) in settings.strip_headers.iter().enumerate() {
            let name = h.trim().to_ascii_lowercase();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError::new(
                    format!("{path}.strip_headers[{i}]"),
                    "must be a header name (letters, digits, `-`, `_`)",
                ));
            }
            if matches!(name.as_str(), "authorization" | "host" | "content-type") {
                return Err(ConfigError::new(
                    format!("{path}.strip_headers[{i}]"),
                    format!("`{name}` cannot be stripped here"),
                ));
            }
            strip.push(name);
        }
        self.reject_unnormalized = settings.reject_unnormalized;
        self.strip_headers = strip;
        Ok(self)
    }

    /// Refuses an ambiguous path unless the route allows it: `Err` carries
    /// the reason, for a 400 `invalid_path`.
    pub fn check_path(&self, route: &Route, path: &str) -> Result<(), &'static str> {
        if !self.reject_unnormalized || route.allow_unnormalized_path {
            return Ok(());
        }
        path_problem(path).map_or(Ok(()), Err)
    }

    /// Request headers removed before forwarding (method override, URL rewrite).
    pub fn strip_headers(&self) -> &[String] {
        &self.strip_headers
    }

    /// Finds the route for a request. `path` may carry a query string; it is ignored.
    pub fn find(&self, method: &str, path: &str) -> Matched<'_> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        match self.routes.iter().find(|r| r.matches(method, path)) {
            Some(r) => Matched::Route(r),
            None if self.unmatched == UnmatchedAction::Deny => Matched::Denied,
            None => Matched::Route(&self.fallback),
        }
    }

    /// True when some route sets `require_tls`: only then does the host
    /// read the connection's TLS version.
    pub fn requires_tls(&self) -> bool {
        self.routes.iter().any(|r| r.require_tls.is_some())
    }

    /// The configured routes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

fn check_path(p: String, at: &str) -> Result<String, ConfigError> {
    if !p.starts_with('/') {
        return Err(ConfigError::new(at, "must start with `/`"));
    }
    Ok(p)
}

/// One route: its matcher, methods, roles and providers. `at`: its path.
fn compile_route(s: RouteSettings, auth: &Auth, at: &str) -> Result<Route, ConfigError> {
    let field = |name: &str| format!("{at}.{name}");
    let path_match = match (s.matcher.exact, s.matcher.prefix) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                field("match"),
                "set either `exact` or `prefix`, not both",
            ))
        }
        (None, None) => {
            return Err(ConfigError::new(
                field("match"),
                "one of `exact` or `prefix` is required",
            ))
        }
        (Some(p), None) => PathMatch::Exact(check_path(p, &field("match.exact"))?),
        (None, Some(p)) => PathMatch::Prefix(check_path(p, &field("match.prefix"))?),
    };
    let mut methods = Vec::with_capacity(s.matcher.methods.len());
    for (j, m) in s.matcher.methods.iter().enumerate() {
        let upper = m.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            return Err(ConfigError::new(
                field(&format!("match.methods[{j}]")),
                format!("unknown http method `{m}`"),
            ));
        }
        methods.push(upper);
    }
    let roles = RoleRequirement {
        any_of: s.roles.any_of,
        all_of: s.roles.all_of,
    };
    if !roles.is_empty() && s.auth != AuthRequirement::Required {
        return Err(ConfigError::new(
            field("roles"),
            "roles need `auth: required`",
        ));
    }
    for (j, r) in roles.any_of.iter().chain(roles.all_of.iter()).enumerate() {
        if r.trim().is_empty() {
            return Err(ConfigError::new(
                field("roles"),
                format!("role #{j} is empty"),
            ));
        }
    }
    if s.auth != AuthRequirement::None && auth.provider_count() == 0 {
        return Err(ConfigError::new(
            field("auth"),
            "requires a token but `auth.providers` is empty",
        ));
    }
    let mut providers = Vec::with_capacity(s.providers.len());
    for (j, name) in s.providers.iter().enumerate() {
        let Some(idx) = auth.provider_index(name) else {
            return Err(ConfigError::new(
                field(&format!("providers[{j}]")),
                format!("no provider named `{name}` in auth.providers"),
            ));
        };
        providers.push(idx);
    }
    Ok(Route {
        name: s.name,
        path: path_match,
        methods,
        auth: s.auth,
        roles,
        providers,
        error_format: s.error_format,
        require_tls: s.require_tls,
        allow_unnormalized_path: s.allow_unnormalized_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Auth, AuthSettings};

    fn no_auth() -> Auth {
        Auth::compile(AuthSettings::default(), "auth").unwrap()
    }

    fn route(name: &str, m: MatchSettings) -> RouteSettings {
        RouteSettings {
            name: name.into(),
            matcher: m,
            auth: AuthRequirement::None,
            roles: RolesSettings::default(),
            providers: vec![],
            error_format: None,
            require_tls: None,
            allow_unnormalized_path: false,
        }
    }

    fn prefix(p: &str) -> MatchSettings {
        MatchSettings {
            prefix: Some(p.into()),
            ..Default::default()
        }
    }

    #[test]
    fn first_matching_route_wins() {
        let routes = Routes::compile(
            vec![route("a", prefix("/v1/chat")), route("b", prefix("/v1"))],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap();
        match routes.find("POST", "/v1/chat/completions?x=1") {
            Matched::Route(r) => assert_eq!(r.name, "a"),
            Matched::Denied => panic!("expected a route"),
        }
        match routes.find("GET", "/v1/models") {
            Matched::Route(r) => assert_eq!(r.name, "b"),
            Matched::Denied => panic!("expected a route"),
        }
    }

    #[test]
    fn exact_match_ignores_query_and_rejects_longer_paths() {
        let m = MatchSettings {
            exact: Some("/healthz".into()),
            ..Default::default()
        };
        let routes = Routes::compile(
            vec![route("h", m)],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap();
        assert!(matches!(
            routes.find("GET", "/healthz?probe=1"),
            Matched::Route(_)
        ));
        assert!(matches!(routes.find("GET", "/healthz/x"), Matched::Denied));
    }

    #[test]
    fn methods_restrict_a_route() {
        let m = MatchSettings {
            prefix: Some("/v1".into()),
            methods: vec!["post".into()],
            ..Default::default()
        };
        let routes = Routes::compile(
            vec![route("p", m)],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap();
        assert!(matches!(routes.find("POST", "/v1/x"), Matched::Route(_)));
        assert!(matches!(routes.find("GET", "/v1/x"), Matched::Denied));
    }

    #[test]
    fn unmatched_allow_gives_an_anonymous_fallback() {
        let routes = Routes::compile(vec![], UnmatchedAction::Allow, &no_auth(), "routes").unwrap();
        match routes.find("GET", "/anything") {
            Matched::Route(r) => assert_eq!(r.auth, AuthRequirement::None),
            Matched::Denied => panic!("expected the fallback"),
        }
    }

    #[test]
    fn unknown_method_is_refused_with_its_path() {
        let m = MatchSettings {
            prefix: Some("/".into()),
            methods: vec!["GET".into(), "FETCH".into()],
            ..Default::default()
        };
        let err = Routes::compile(
            vec![route("p", m)],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap_err();
        assert_eq!(err.path, "routes[0].match.methods[1]");
    }

    #[test]
    fn exact_and_prefix_together_are_refused() {
        let m = MatchSettings {
            prefix: Some("/".into()),
            exact: Some("/".into()),
            ..Default::default()
        };
        let err = Routes::compile(
            vec![route("p", m)],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap_err();
        assert_eq!(err.path, "routes[0].match");
    }

    #[test]
    fn path_must_start_with_a_slash() {
        let err = Routes::compile(
            vec![route("p", prefix("v1"))],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "routes[0].match.prefix: must start with `/`"
        );
    }

    #[test]
    fn required_auth_without_providers_is_refused() {
        let mut r = route("p", prefix("/"));
        r.auth = AuthRequirement::Required;
        let err =
            Routes::compile(vec![r], UnmatchedAction::Deny, &no_auth(), "routes").unwrap_err();
        assert_eq!(err.path, "routes[0].auth");
    }

    #[test]
    fn ambiguous_paths_are_named() {
        for bad in [
            "/v1/models/../fine_tuning/jobs",
            "/v1/chat/completions/../../fine_tuning/jobs",
            "/v1/models/..",
            "/v1/./models",
            "/v1/models/%2e%2e/fine_tuning/jobs",
            "/v1/models/%2E%2E/fine_tuning",
            "/v1/models/.%2e/fine_tuning",
            "/v1/models/%252e%252e/fine_tuning",
            "/v1/models%2f..%2ffine_tuning",
            "/v1/models%2F",
            "/v1/models/..;/fine_tuning/jobs",
            "/v1/models;x=1",
            "/v1/models\\..\\fine_tuning",
            "/v1/models%5c",
            "/v1/models%00",
            "/v1/models\u{1}",
        ] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn ordinary_paths_and_queries_pass() {
        for good in [
            "/v1/chat/completions",
            "/v1/models/gpt-4o-mini",
            "/v1/files/file-abc.jsonl",
            "/v1/models/..x/y",
            "/v1/models?q=../..;%2e%2F",
            "/healthz",
            "/v1/models/a%20b",
        ] {
            assert_eq!(path_problem(good), None, "{good}");
        }
    }

    #[test]
    fn a_route_may_allow_unnormalized_paths() {
        let mut r = route("raw", prefix("/raw"));
        r.allow_unnormalized_path = true;
        let routes = Routes::compile(
            vec![r, route("v1", prefix("/v1"))],
            UnmatchedAction::Deny,
            &no_auth(),
            "routes",
        )
        .unwrap();
        let (Matched::Route(raw), Matched::Route(v1)) = (
            routes.find("GET", "/raw/../x"),
            routes.find("GET", "/v1/../x"),
        ) else {
            panic!("expected routes");
        };
        assert_eq!(routes.check_path(raw, "/raw/../x"), Ok(()));
        assert_eq!(
            routes.check_path(v1, "/v1/../x"),
            Err("the path contains a dot segment")
        );
        let off = routes
            .with_path_policy(
                PathPolicySettings {
                    reject_unnormalized: false,
                    strip_headers: vec![],
                },
                "path_policy",
            )
            .unwrap();
        let Matched::Route(v1) = off.find("GET", "/v1/../x") else {
            panic!("expected a route");
        };
        assert_eq!(off.check_path(v1, "/v1/../x"), Ok(()));
        assert!(off.strip_headers().is_empty());
    }

    #[test]
    fn strip_headers_default_to_override_and_rewrite_headers() {
        let routes = Routes::compile(vec![], UnmatchedAction::Deny, &no_auth(), "routes").unwrap();
        for h in ["x-http-method-override", "x-original-url", "x-rewrite-url"] {
            assert!(routes.strip_headers().iter().any(|x| x == h), "{h}");
        }
        let err = routes
            .with_path_policy(
                PathPolicySettings {
                    reject_unnormalized: true,
                    strip_headers: vec!["X-Ok".into(), "bad header".into()],
                },
                "path_policy",
            )
            .unwrap_err();
        assert_eq!(err.path, "path_policy.strip_headers[1]");
    }

    #[test]
    fn role_requirement_any_of_and_all_of() {
        let req = RoleRequirement {
            any_of: vec!["user".into(), "admin".into()],
            all_of: vec!["chat".into()],
        };
        assert!(req.satisfied_by(&["user".into(), "chat".into()]));
        assert!(!req.satisfied_by(&["user".into()]));
        assert!(!req.satisfied_by(&["chat".into()]));
        assert!(RoleRequirement::default().satisfied_by(&[]));
    }

    #[test]
    fn require_tls_and_error_format_are_read_per_route() {
        let settings: Vec<RouteSettings> = serde_json::from_str(
            r#"[{"name":"m","match":{"prefix":"/v1/messages"},"auth":"none",
                 "require_tls":{"min_version":"TLSv1.3"},"error_format":"openai"},
                {"name":"h","match":{"exact":"/healthz"},"auth":"none"}]"#,
        )
        .unwrap();
        let routes =
            Routes::compile(settings, UnmatchedAction::Deny, &no_auth(), "routes").unwrap();
        assert!(routes.requires_tls());
        let Matched::Route(m) = routes.find("POST", "/v1/messages") else {
            panic!("expected a route")
        };
        assert_eq!(m.error_format, Some(ErrorShape::Openai));
        assert!(m.require_tls.unwrap().check(Some("TLSv1.2")).is_err());
        let Matched::Route(h) = routes.find("GET", "/healthz") else {
            panic!("expected a route")
        };
        assert_eq!((h.error_format, h.require_tls), (None, None));
    }

    #[test]
    fn unknown_error_format_is_refused() {
        let err = serde_json::from_str::<RouteSettings>(
            r#"{"name":"m","match":{"prefix":"/"},"error_format":"gemini"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}
