//! Routes matched inside the filter.
//!
//! Envoy gives Wasm filters no per-route configuration, so the filter keeps
//! its own table: path (exact or prefix) and methods, matched in order, the
//! first match wins. Each route says whether a token is required and which
//! roles or scopes it needs. A request that matches no route follows
//! `unmatched` (deny by default).

use serde::Deserialize;

use crate::auth::Auth;
use crate::error::ConfigError;

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
        let mut routes = Vec::with_capacity(settings.len());
        for (i, s) in settings.into_iter().enumerate() {
            let at = |field: &str| format!("{path}[{i}].{field}");
            if s.name.trim().is_empty() {
                return Err(ConfigError::new(at("name"), "must not be empty"));
            }
            if routes.iter().any(|r: &Route| r.name == s.name) {
                return Err(ConfigError::new(
                    at("name"),
                    format!("duplicate route name `{}`", s.name),
                ));
            }
            let path_match = match (s.matcher.exact, s.matcher.prefix) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        at("match"),
                        "set either `exact` or `prefix`, not both",
                    ))
                }
                (None, None) => {
                    return Err(ConfigError::new(
                        at("match"),
                        "one of `exact` or `prefix` is required",
                    ))
                }
                (Some(p), None) => PathMatch::Exact(check_path(p, &at("match.exact"))?),
                (None, Some(p)) => PathMatch::Prefix(check_path(p, &at("match.prefix"))?),
            };
            let mut methods = Vec::with_capacity(s.matcher.methods.len());
            for (j, m) in s.matcher.methods.iter().enumerate() {
                let upper = m.to_ascii_uppercase();
                if !METHODS.contains(&upper.as_str()) {
                    return Err(ConfigError::new(
                        format!("{path}[{i}].match.methods[{j}]"),
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
                return Err(ConfigError::new(at("roles"), "roles need `auth: required`"));
            }
            for (j, r) in roles.any_of.iter().chain(roles.all_of.iter()).enumerate() {
                if r.trim().is_empty() {
                    return Err(ConfigError::new(at("roles"), format!("role #{j} is empty")));
                }
            }
            if s.auth != AuthRequirement::None && auth.provider_count() == 0 {
                return Err(ConfigError::new(
                    at("auth"),
                    "requires a token but `auth.providers` is empty",
                ));
            }
            let mut providers = Vec::with_capacity(s.providers.len());
            for (j, name) in s.providers.iter().enumerate() {
                match auth.provider_index(name) {
                    Some(idx) => providers.push(idx),
                    None => {
                        return Err(ConfigError::new(
                            format!("{path}[{i}].providers[{j}]"),
                            format!("no provider named `{name}` in auth.providers"),
                        ))
                    }
                }
            }
            routes.push(Route {
                name: s.name,
                path: path_match,
                methods,
                auth: s.auth,
                roles,
                providers,
            });
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
        };
        Ok(Self {
            routes,
            unmatched,
            fallback,
        })
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
}
