//! Prompt screening: validate an AI API request body and screen the text a
//! model will read for prompt injection and jailbreaks.
//!
//! Pure: the host reads the whole body once, at end of stream, and calls
//! [`Screener::screen`]; the outcome says pass (with monitor-mode hits), block
//! (403 `prompt_blocked` with the rule id, never the matched text) or invalid
//! (400 with [`ValidationError::code`]).
//!
//! Pipeline per text: [`normalize::fold`] (compatibility folding, invisible
//! characters removed and noted) → words ([`normalize::tokenize`], plus a
//! leetspeak view when digits or `@ $` sit inside words) → built-in word
//! templates and literal phrases ([`engine`]) → chat-template markers on the
//! whitespace-free view → structural regexes → base64 / hex / URL-encoded
//! runs decoded and screened again ([`decode`]).

mod decode;
mod engine;
pub mod model;
pub mod normalize;
pub mod rules;
pub mod settings;
pub mod shapes;
pub mod validate;

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex_lite::Regex;

use crate::error::ConfigError;

use decode::{Budget, Encoding};
use engine::{push_unique, PatternDef, SlotDef, ViewMatcher};
use rules::Category;
pub use settings::{
    Action, AllowRuleSettings, CategorySettings, DecodeSettings, DenyRuleSettings, History,
    MatchOn, Mode, ModelSettings, Role, ScreeningSettings,
};

/// Rule id reported when the learned model decides.
pub const MODEL_RULE_ID: &str = "model.injection";
/// Category reported when the learned model decides.
pub const MODEL_CATEGORY: &str = "model";
/// Rule id reported when a request has more encoded runs than the decode budget.
pub const DECODE_BUDGET_RULE_ID: &str = "smuggling.decode_budget_exhausted";
pub use shapes::Api;
pub use validate::ValidationError;

/// A rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    /// Stable rule id, e.g. `io.ignore_previous`, or the operator's id.
    pub rule_id: String,
    /// Category name, e.g. `instruction_override`, or `operator`.
    pub category: &'static str,
    /// The action taken (`block` or `monitor`).
    pub action: Action,
}

/// The result of screening one request body.
#[derive(Debug, Clone, PartialEq)]
pub enum ScreenOutcome {
    /// Forward the request.
    Pass {
        /// Hits of monitor-mode rules (log, count, send [`monitor_header_value`] upstream).
        flagged: Vec<RuleHit>,
        /// Characters of all text in the request (for a token estimate).
        prompt_chars: usize,
        /// The `model` field.
        model: Option<String>,
        /// The largest requested output-token limit.
        max_tokens: Option<u64>,
        /// The model's highest score over the screened texts (`None`: model off
        /// or nothing screened).
        score: Option<f32>,
    },
    /// Refuse with 403 `prompt_blocked`, naming `hit.rule_id`.
    Block {
        /// The first blocking hit.
        hit: RuleHit,
        /// The model's highest score over the texts screened so far.
        score: Option<f32>,
    },
    /// Refuse with 400 and the error's code.
    Invalid(ValidationError),
}

/// Value of the `x-tollgate-screening` request header for monitor-mode hits.
pub fn monitor_header_value(hits: &[RuleHit]) -> String {
    let mut ids: Vec<&str> = Vec::with_capacity(hits.len());
    for h in hits {
        if !ids.contains(&h.rule_id.as_str()) {
            ids.push(&h.rule_id);
        }
    }
    format!("flagged; rules={}", ids.join(","))
}

#[derive(Debug, Clone)]
struct RuleMeta {
    id: String,
    category: Category,
    action: Action,
    /// An allow rule (its matches cancel overridable hits).
    allow: bool,
    /// An allow match in the same text cancels this rule's hits.
    overridable: bool,
}

#[derive(Debug, Clone)]
struct RegexRule {
    rule: usize,
    re: Regex,
    on: MatchOn,
}

/// Compiled screening configuration, shared by every stream.
#[derive(Debug, Clone)]
pub struct Screener {
    enabled: bool,
    mode: Mode,
    max_body_bytes: usize,
    max_messages: usize,
    max_message_chars: usize,
    max_total_chars: usize,
    max_tokens_cap: Option<u64>,
    allowed_models: Vec<validate::ModelPattern>,
    allow_token_input: bool,
    roles: Vec<Role>,
    history: History,
    rules: Vec<RuleMeta>,
    plain: ViewMatcher,
    leet: ViewMatcher,
    /// Chat-template markers (lowercase, no whitespace), their longest length
    /// in characters, and the rule.
    markers: Option<(Vec<String>, usize, usize)>,
    /// The fake-system-header regex, a prefilter for its keywords, and the rule.
    system_header: Option<(Regex, AhoCorasick, usize)>,
    header_starters: Vec<String>,
    regexes: Vec<RegexRule>,
    tags_rule: Option<usize>,
    invisible_rule: Option<usize>,
    encoded_rules: [Option<usize>; 3],
    decode: DecodeSettings,
    exempt_routes: Vec<String>,
    exempt_roles: Vec<String>,
    model: Option<Arc<model::Model>>,
    model_settings: ModelSettings,
    system_action: Action,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn category_action(c: &CategorySettings, cat: Category) -> Action {
    match cat {
        Category::InstructionOverride => c.instruction_override,
        Category::SystemPromptExtraction => c.system_prompt_extraction,
        Category::RoleImpersonation => c.role_impersonation,
        Category::JailbreakPersona => c.jailbreak_persona,
        Category::Smuggling => c.smuggling,
        Category::Operator => Action::Block,
    }
}

/// Every line [`SYSTEM_HEADER_RE`] can match contains one of these, in any case.
const SYSTEM_HEADER_WORDS: &[&str] = &["sys", "developer", "admin"];
const SYSTEM_HEADER_RE: &str = r"(?im)(?:^|[\[(<{])[ \t>#*\[(<|=-]*(?:system|developer|sys|admin|administrator)(?:[ \t]+(?:message|prompt|note|notice|instructions?|override|update|alert|command|directive|msg))?[ \t]*[\]>)*|=]*[ \t]*:(.*)$";

impl Screener {
    /// Validates and compiles the settings. `route_names` are the configured
    /// routes (for `exempt_routes`); `path` prefixes error paths.
    pub fn compile(
        s: ScreeningSettings,
        route_names: &[&str],
        path: &str,
    ) -> Result<Self, ConfigError> {
        let at = |field: &str| format!("{path}.{field}");
        for (field, v) in [
            ("max_body_bytes", s.max_body_bytes),
            ("max_messages", s.max_messages),
            ("max_message_chars", s.max_message_chars),
            ("max_total_chars", s.max_total_chars),
        ] {
            if v == 0 {
                return Err(ConfigError::new(at(field), "must be greater than 0"));
            }
        }
        if s.max_tokens_cap == Some(0) {
            return Err(ConfigError::new(
                at("max_tokens_cap"),
                "must be greater than 0",
            ));
        }
        if s.decode.min_base64_chars < 8 || s.decode.min_hex_chars < 8 {
            return Err(ConfigError::new(
                at("decode"),
                "minimum run lengths must be at least 8",
            ));
        }
        let m = &s.model;
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        if !unit(m.block_threshold) {
            return Err(ConfigError::new(
                at("model.block_threshold"),
                "must be a number from 0 to 1",
            ));
        }
        if !unit(m.monitor_threshold) || m.monitor_threshold > m.block_threshold {
            return Err(ConfigError::new(
                at("model.monitor_threshold"),
                "must be a number from 0 to model.block_threshold",
            ));
        }
        for r in m.route_indirect_actions.keys() {
            if !route_names.contains(&r.as_str()) {
                return Err(ConfigError::new(
                    at("model.route_indirect_actions"),
                    format!("no route named `{r}`"),
                ));
            }
        }
        let model = if m.enabled {
            Some(Arc::new(model::Model::load(model::SHIPPED, &at("model"))?))
        } else {
            None
        };
        if s.roles.is_empty() {
            return Err(ConfigError::new(
                at("roles"),
                "must list at least one role (set `enabled: false` to turn screening off)",
            ));
        }
        let mut allowed_models = Vec::with_capacity(s.allowed_models.len());
        for (i, m) in s.allowed_models.iter().enumerate() {
            match validate::ModelPattern::parse(m) {
                Some(p) => allowed_models.push(p),
                None => {
                    return Err(ConfigError::new(
                        format!("{path}.allowed_models[{i}]"),
                        "must be a model name, optionally ending in `*`",
                    ))
                }
            }
        }
        for (i, r) in s.exempt_routes.iter().enumerate() {
            if !route_names.contains(&r.as_str()) {
                return Err(ConfigError::new(
                    format!("{path}.exempt_routes[{i}]"),
                    format!("no route named `{r}`"),
                ));
            }
        }

        let built_in = rules::built_in_ids();
        for id in s.rule_actions.keys() {
            if !built_in.iter().any(|(b, _)| b == id) {
                return Err(ConfigError::new(
                    at("rule_actions"),
                    format!("unknown built-in rule id `{id}`"),
                ));
            }
        }
        let mut rule_ids: Vec<&str> = built_in.iter().map(|(id, _)| *id).collect();
        for (kind, list) in [
            (
                "deny",
                s.deny.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ),
            (
                "allow",
                s.allow.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ),
        ] {
            for (i, id) in list.into_iter().enumerate() {
                let p = format!("{path}.{kind}[{i}].id");
                if !valid_id(id) {
                    return Err(ConfigError::new(
                        p,
                        "must be 1-64 characters of a-z, 0-9, `.`, `_`, `-`",
                    ));
                }
                if rule_ids.contains(&id) {
                    return Err(ConfigError::new(p, format!("duplicate rule id `{id}`")));
                }
                rule_ids.push(id);
            }
        }
        for (i, o) in s.allow_overrides.iter().enumerate() {
            let known = o == "operator"
                || Category::BUILT_IN.iter().any(|c| c.as_str() == o)
                || rule_ids.contains(&o.as_str());
            if !known {
                return Err(ConfigError::new(
                    format!("{path}.allow_overrides[{i}]"),
                    format!("`{o}` is neither a category nor a rule id"),
                ));
            }
        }
        if !s.allow.is_empty() && s.allow_overrides.is_empty() {
            return Err(ConfigError::new(
                at("allow_overrides"),
                "allow rules have no effect unless allow_overrides names the categories or rule ids they may override",
            ));
        }
        let overridable = |id: &str, cat: Category| {
            s.allow_overrides
                .iter()
                .any(|o| o == id || o == cat.as_str())
        };

        let mut metas: Vec<RuleMeta> = Vec::new();
        let rule_index = |id: &str,
                          cat: Category,
                          action: Action,
                          allow: bool,
                          metas: &mut Vec<RuleMeta>|
         -> usize {
            if let Some(i) = metas.iter().position(|m| m.id == id) {
                return i;
            }
            metas.push(RuleMeta {
                id: id.to_string(),
                category: cat,
                action,
                allow,
                overridable: !allow && overridable(id, cat),
            });
            metas.len() - 1
        };
        let built_in_action = |id: &str, cat: Category| -> Action {
            s.rule_actions.get(id).copied().unwrap_or_else(|| {
                match category_action(&s.categories, cat) {
                    Action::Block if rules::MONITOR_BY_DEFAULT.contains(&id) => Action::Monitor,
                    a => a,
                }
            })
        };

        let mut patterns: Vec<PatternDef> = Vec::new();
        let template_def = |rule: usize, t: &rules::Template, tool_only: bool| PatternDef {
            rule,
            slots: t
                .slots
                .iter()
                .map(|s| match s {
                    rules::Slot::W(a) => SlotDef::Req(a.iter().map(|x| x.to_string()).collect()),
                    rules::Slot::Opt(a) => SlotDef::Opt(a.iter().map(|x| x.to_string()).collect()),
                    rules::Slot::Gap(n) => SlotDef::Gap(*n),
                })
                .collect(),
            not_before: t.not_before.iter().map(|x| x.to_string()).collect(),
            not_after: t.not_after.iter().map(|x| x.to_string()).collect(),
            tool_only,
            literal: false,
        };
        let phrase_def = |rule: usize, text: &str| PatternDef {
            rule,
            slots: vec![SlotDef::Req(vec![text.to_string()])],
            not_before: Vec::new(),
            not_after: Vec::new(),
            tool_only: false,
            literal: true,
        };
        for (t, tool_only) in rules::TEMPLATES
            .iter()
            .map(|t| (t, false))
            .chain(rules::TOOL_TEMPLATES.iter().map(|t| (t, true)))
        {
            let action = built_in_action(t.id, t.category);
            if action != Action::Off {
                let r = rule_index(t.id, t.category, action, false, &mut metas);
                patterns.push(template_def(r, t, tool_only));
            }
        }
        for p in rules::PHRASES {
            let action = built_in_action(p.id, p.category);
            if action != Action::Off {
                let r = rule_index(p.id, p.category, action, false, &mut metas);
                patterns.extend(p.phrases.iter().map(|x| phrase_def(r, x)));
            }
        }
        let special =
            |id: &'static str, cat: Category, metas: &mut Vec<RuleMeta>| -> Option<usize> {
                let action = built_in_action(id, cat);
                (action != Action::Off).then(|| rule_index(id, cat, action, false, metas))
            };
        let markers_rule = special(
            rules::CHAT_TEMPLATE_ID,
            Category::RoleImpersonation,
            &mut metas,
        );
        let header_rule = special(
            rules::SYSTEM_HEADER_ID,
            Category::RoleImpersonation,
            &mut metas,
        );
        let tags_rule = special(rules::UNICODE_TAGS_ID, Category::Smuggling, &mut metas);
        let invisible_rule = special(rules::INVISIBLE_RUN_ID, Category::Smuggling, &mut metas);
        let encoded_rules = if s.decode.enabled {
            [
                special(rules::BASE64_ID, Category::Smuggling, &mut metas),
                special(rules::HEX_ID, Category::Smuggling, &mut metas),
                special(rules::URL_ID, Category::Smuggling, &mut metas),
            ]
        } else {
            [None, None, None]
        };

        let mut regexes = Vec::new();
        let operator_rules = s
            .deny
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    &r.pattern,
                    &r.phrases,
                    r.match_on,
                    r.action,
                    false,
                    "deny",
                )
            })
            .chain(s.allow.iter().map(|r| {
                (
                    r.id.as_str(),
                    &r.pattern,
                    &r.phrases,
                    r.match_on,
                    Action::Block,
                    true,
                    "allow",
                )
            }));
        for (i, (id, pattern, list, on, action, allow, kind)) in operator_rules.enumerate() {
            let i = if allow {
                i.saturating_sub(s.deny.len())
            } else {
                i
            };
            let p = |f: &str| format!("{path}.{kind}[{i}].{f}");
            if action == Action::Off {
                continue;
            }
            let r = rule_index(id, Category::Operator, action, allow, &mut metas);
            match (pattern, list.is_empty()) {
                (Some(_), false) | (None, true) => {
                    return Err(ConfigError::new(
                        p("pattern"),
                        "set exactly one of `pattern` or `phrases`",
                    ));
                }
                (Some(pat), true) => {
                    let re = Regex::new(pat).map_err(|e| {
                        ConfigError::new(p("pattern"), format!("invalid regex: {e}"))
                    })?;
                    regexes.push(RegexRule { rule: r, re, on });
                }
                (None, false) => {
                    for (j, ph) in list.iter().enumerate() {
                        if normalize::phrase(ph, false).trim().is_empty() {
                            return Err(ConfigError::new(
                                format!("{path}.{kind}[{i}].phrases[{j}]"),
                                "must contain a letter or digit",
                            ));
                        }
                        patterns.push(phrase_def(r, ph));
                    }
                }
            }
        }

        let plain = ViewMatcher::new(&patterns, false);
        let leet = ViewMatcher::new(&patterns, true);
        let markers = markers_rule.map(|r| {
            let list: Vec<String> = rules::CHAT_TEMPLATE_MARKERS
                .iter()
                .map(|m| normalize::squash(m))
                .collect();
            let max = list.iter().map(|m| m.chars().count()).max().unwrap_or(0);
            (list, max, r)
        });
        let system_header = match header_rule {
            Some(r) => Some((
                Regex::new(SYSTEM_HEADER_RE)
                    .map_err(|e| ConfigError::new(path, format!("built-in regex: {e}")))?,
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .build(SYSTEM_HEADER_WORDS)
                    .map_err(|e| ConfigError::new(path, format!("built-in matcher: {e}")))?,
                r,
            )),
            None => None,
        };
        let header_starters = rules::SYSTEM_HEADER_STARTERS
            .iter()
            .map(|w| normalize::phrase(w, false))
            .collect();

        Ok(Self {
            enabled: s.enabled,
            mode: s.mode,
            max_body_bytes: s.max_body_bytes,
            max_messages: s.max_messages,
            max_message_chars: s.max_message_chars,
            max_total_chars: s.max_total_chars,
            max_tokens_cap: s.max_tokens_cap,
            allowed_models,
            allow_token_input: s.allow_token_input,
            roles: s.roles,
            history: s.history,
            rules: metas,
            plain,
            leet,
            markers,
            system_header,
            header_starters,
            regexes,
            tags_rule,
            invisible_rule,
            encoded_rules,
            decode: s.decode,
            exempt_routes: s.exempt_routes,
            exempt_roles: s.exempt_roles,
            model,
            model_settings: s.model,
            system_action: s.system_action,
        })
    }

    /// Whether requests on `route` from a caller with `roles` are screened.
    pub fn applies(&self, route: &str, roles: &[String]) -> bool {
        self.enabled
            && !self.exempt_routes.iter().any(|r| r == route)
            && !roles.iter().any(|r| self.exempt_roles.contains(r))
    }

    /// True when screening is switched on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Largest body the host should buffer (larger: 413).
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Validates and screens a whole request body. `path` picks the API shape.
    pub fn screen(&self, path: &str, body: &[u8]) -> ScreenOutcome {
        self.screen_on("", path, body)
    }

    /// [`Screener::screen`] for a request on the named route (which may
    /// override the action for indirect text).
    pub fn screen_on(&self, route: &str, path: &str, body: &[u8]) -> ScreenOutcome {
        if body.len() > self.max_body_bytes {
            // The host refuses these with 413 first; this keeps the core safe on its own.
            return ScreenOutcome::Invalid(ValidationError::BodyTooLarge {
                max: self.max_body_bytes,
            });
        }
        match shapes::parse(body) {
            Ok(value) => self.screen_value(route, path, &value),
            Err(e) => ScreenOutcome::Invalid(e),
        }
    }

    /// Validates and screens a body the caller has already parsed with
    /// [`crate::llm_api::parse_body`] (the pipeline parses each body once and
    /// shares the value); its size was checked against
    /// [`Screener::max_body_bytes`] before.
    pub fn screen_value(
        &self,
        route: &str,
        path: &str,
        value: &serde_json::Value,
    ) -> ScreenOutcome {
        let mut score = None;
        let outcome = match self.check(route, path, value, &mut score) {
            Ok(outcome) | Err(outcome) => outcome,
        };
        match outcome {
            ScreenOutcome::Pass {
                flagged,
                prompt_chars,
                model,
                max_tokens,
                ..
            } => ScreenOutcome::Pass {
                flagged,
                prompt_chars,
                model,
                max_tokens,
                score,
            },
            ScreenOutcome::Block { hit, .. } => ScreenOutcome::Block { hit, score },
            other => other,
        }
    }

    /// Replaces the model with another artefact (evaluation of a candidate
    /// before it is shipped). Invalid artefacts are refused.
    pub fn use_model(&mut self, bytes: &[u8]) -> Result<(), ConfigError> {
        self.model = Some(Arc::new(model::Model::load(bytes, "model")?));
        Ok(())
    }

    /// The model's score for one text (for evaluation and tests): `None` when
    /// the model is off.
    pub fn model_score(&self, text: &str) -> Option<f32> {
        let m = self.model.as_ref()?;
        Some(m.score(&model::model_text(text)))
    }

    /// The action a hit of `action` takes in text of `role`.
    fn role_action(&self, role: Role, action: Action) -> Action {
        match (role, action) {
            (Role::System | Role::Developer, Action::Block) => self.system_action,
            (_, a) => a,
        }
    }

    fn check(
        &self,
        route: &str,
        path: &str,
        value: &serde_json::Value,
        best: &mut Option<f32>,
    ) -> Result<ScreenOutcome, ScreenOutcome> {
        let invalid = ScreenOutcome::Invalid;
        let ex = shapes::extract_value(Api::from_path(path), value, self.allow_token_input)
            .map_err(invalid)?;
        if !self.allowed_models.is_empty() {
            let ok = ex
                .model
                .as_deref()
                .is_some_and(|m| self.allowed_models.iter().any(|p| p.matches(m)));
            if !ok {
                return Err(invalid(ValidationError::ModelNotAllowed));
            }
        }
        if let (Some(cap), Some(n)) = (self.max_tokens_cap, ex.max_tokens) {
            if n > cap {
                return Err(invalid(ValidationError::MaxTokensTooHigh { max: cap }));
            }
        }
        if ex.units > self.max_messages {
            return Err(invalid(ValidationError::TooManyMessages {
                max: self.max_messages,
            }));
        }
        let mut total = 0usize;
        let mut unit_sum: (Option<usize>, usize) = (None, 0);
        for seg in &ex.segments {
            let n = seg.text.chars().count();
            total = total.saturating_add(n);
            unit_sum = match (unit_sum, seg.unit) {
                ((Some(u), sum), Some(v)) if u == v => (Some(u), sum.saturating_add(n)),
                (_, unit) => (unit, n),
            };
            if unit_sum.1 > self.max_message_chars {
                return Err(invalid(ValidationError::MessageTooLong {
                    index: seg.unit.unwrap_or(0),
                    max: self.max_message_chars,
                }));
            }
        }
        if total > self.max_total_chars {
            return Err(invalid(ValidationError::PromptTooLong {
                max: self.max_total_chars,
            }));
        }

        let mut budget = Budget {
            runs: self.decode.max_runs,
            bytes: self.decode.max_decoded_bytes,
            min_base64: self.decode.min_base64_chars,
            min_hex: self.decode.min_hex_chars,
            exhausted: false,
        };
        let indirect_action = self
            .model_settings
            .route_indirect_actions
            .get(route)
            .copied()
            .unwrap_or(self.model_settings.indirect_action);
        let mut flagged: Vec<RuleHit> = Vec::new();
        let record = |id: &str,
                      category: &'static str,
                      action: Action,
                      flagged: &mut Vec<RuleHit>|
         -> Result<(), ScreenOutcome> {
            let action = match (self.mode, action) {
                (Mode::Monitor, Action::Block) => Action::Monitor,
                (_, a) => a,
            };
            let hit = RuleHit {
                rule_id: id.to_string(),
                category,
                action,
            };
            match action {
                Action::Block => Err(ScreenOutcome::Block { hit, score: None }),
                Action::Monitor if !flagged.iter().any(|h| h.rule_id == hit.rule_id) => {
                    flagged.push(hit);
                    Ok(())
                }
                _ => Ok(()),
            }
        };
        for seg in &ex.segments {
            if !self.roles.contains(&seg.role) {
                continue;
            }
            if self.history == History::Last && seg.unit.is_some_and(|u| u < ex.new_turn_start) {
                continue;
            }
            let mut score = None;
            let tool = seg.role == Role::Tool;
            for rule in self.hits(&seg.text, tool, &mut budget, &mut score) {
                let Some(meta) = self.rules.get(rule) else {
                    continue;
                };
                let action = self.role_action(seg.role, meta.action);
                record(&meta.id, meta.category.as_str(), action, &mut flagged)?;
            }
            if let Some(sc) = score {
                *best = Some(best.map_or(sc, |b: f32| b.max(sc)));
                let ms = &self.model_settings;
                let action = if sc >= ms.block_threshold {
                    if tool {
                        indirect_action
                    } else {
                        self.role_action(seg.role, Action::Block)
                    }
                } else if sc >= ms.monitor_threshold {
                    if tool && indirect_action == Action::Off {
                        Action::Off
                    } else {
                        Action::Monitor
                    }
                } else {
                    Action::Off
                };
                record(MODEL_RULE_ID, MODEL_CATEGORY, action, &mut flagged)?;
            }
        }
        if budget.exhausted {
            record(
                DECODE_BUDGET_RULE_ID,
                Category::Smuggling.as_str(),
                self.decode.on_exhausted,
                &mut flagged,
            )?;
        }
        Ok(ScreenOutcome::Pass {
            flagged,
            prompt_chars: total,
            model: ex.model,
            max_tokens: ex.max_tokens,
            score: None,
        })
    }

    /// Deny-rule hits in one text, after allow rules had their say.
    fn hits(
        &self,
        text: &str,
        tool: bool,
        budget: &mut Budget,
        score: &mut Option<f32>,
    ) -> Vec<usize> {
        let mut found = self.scan(text, tool, Some(budget), score);
        let allowed = found
            .iter()
            .any(|&r| self.rules.get(r).is_some_and(|m| m.allow));
        found.retain(|&r| {
            self.rules
                .get(r)
                .is_some_and(|m| !(m.allow || (allowed && m.overridable)))
        });
        found
    }

    /// Every rule (deny and allow) matching `text`; decodes runs when given a budget.
    ///
    /// One normalisation feeds every consumer: the folded text (borrowed when
    /// folding changes nothing), then one tokenisation whose words feed both
    /// the model and the patterns. The other detectors run only where their
    /// literal prefilter finds a candidate (`<` / `[` for chat-template
    /// markers, `:` plus a keyword for fake headers, `%` for URL escapes).
    fn scan(
        &self,
        text: &str,
        tool: bool,
        budget: Option<&mut Budget>,
        score: &mut Option<f32>,
    ) -> Vec<usize> {
        let mut found = Vec::new();
        let (folded, signals) = normalize::fold_cow(text);
        if let Some(r) = self.tags_rule {
            if signals.tag_chars > 0 {
                push_unique(&mut found, r);
            }
        }
        if let Some(r) = self.invisible_rule {
            if signals.max_invisible_run >= rules::INVISIBLE_RUN_MIN {
                push_unique(&mut found, r);
            }
        }
        let tokens = normalize::tokenize(&folded, false);
        if let Some(m) = &self.model {
            let sc = m.score(&tokens.text);
            *score = Some(score.map_or(sc, |b: f32| b.max(sc)));
        }
        let mut ids = engine::Ids::default();
        self.plain.ids(&tokens, &mut ids);
        self.plain.scan(&tokens, &ids, tool, &mut found);
        if normalize::has_leet(&folded) {
            let leet = normalize::tokenize(&folded, true);
            self.leet.ids(&leet, &mut ids);
            self.leet.scan(&leet, &ids, tool, &mut found);
        }
        if let Some((markers, max, r)) = &self.markers {
            if normalize::has_marker(&folded, markers, *max) {
                push_unique(&mut found, *r);
            }
        }
        if let Some((re, words, r)) = &self.system_header {
            if self.fake_system_header(&folded, re, words) {
                push_unique(&mut found, *r);
            }
        }
        for rr in &self.regexes {
            let hay = match rr.on {
                MatchOn::Normalized => tokens.text.trim(),
                MatchOn::Raw => text,
            };
            if rr.re.is_match(hay) {
                push_unique(&mut found, rr.rule);
            }
        }
        if let Some(budget) = budget {
            if self.encoded_rules.iter().any(Option::is_some) {
                for (enc, decoded) in decode::decode_runs(&folded, budget) {
                    let rule = match enc {
                        Encoding::Base64 => self.encoded_rules[0],
                        Encoding::Hex => self.encoded_rules[1],
                        Encoding::Url => self.encoded_rules[2],
                    };
                    let Some(rule) = rule else { continue };
                    let inner = self.scan(&decoded, tool, None, score);
                    if inner
                        .iter()
                        .any(|&r| self.rules.get(r).is_some_and(|m| !m.allow))
                    {
                        push_unique(&mut found, rule);
                    }
                }
            }
        }
        found
    }

    /// A `System:` / `### System:` / `[System note:` header followed by an
    /// instruction. The regex is line-anchored: it runs only on lines with a
    /// colon (found with memchr) and one of its keywords.
    fn fake_system_header(&self, folded: &str, re: &Regex, words: &AhoCorasick) -> bool {
        let bytes = folded.as_bytes();
        let mut done_to = 0usize;
        for colon in memchr::memchr_iter(b':', bytes) {
            if colon < done_to {
                continue;
            }
            let start =
                memchr::memrchr(b'\n', bytes.get(..colon).unwrap_or_default()).map_or(0, |p| p + 1);
            let end = memchr::memchr(b'\n', bytes.get(colon..).unwrap_or_default())
                .map_or(bytes.len(), |p| colon + p);
            done_to = end;
            let Some(line) = folded.get(start..end) else {
                continue;
            };
            if !words.is_match(line) {
                continue;
            }
            let starts_instruction = re.captures_iter(line).any(|c| {
                let rest = c.get(1).map_or("", |m| m.as_str());
                let words = normalize::tokenize(rest, false).text;
                self.header_starters
                    .iter()
                    .any(|s| words.starts_with(s.as_str()))
            });
            if starts_instruction {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
