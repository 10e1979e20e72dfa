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
pub mod documents;
mod engine;
pub mod model;
pub mod normalize;
pub mod pack;
pub mod quoted;
pub mod rules;
pub mod settings;
pub mod validate;

use std::cell::RefCell;
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

/// Rule id reported when the learned model's `injection` head (any attack)
/// decides; its category heads report `model.override`, `model.leak` and
/// `model.jailbreak` ([`model_rule_id`]).
pub const MODEL_RULE_ID: &str = "model.injection";

/// Rule ids of the model's heads, in the order of [`model::HEADS`].
const MODEL_RULE_IDS: [&str; model::NHEADS] = [
    MODEL_RULE_ID,
    "model.override",
    "model.leak",
    "model.jailbreak",
];

/// Rule id reported when the model's head `head` (index into
/// [`model::HEADS`]) decides.
pub fn model_rule_id(head: usize) -> &'static str {
    MODEL_RULE_IDS.get(head).copied().unwrap_or(MODEL_RULE_ID)
}
/// Category reported when the learned model decides.
pub const MODEL_CATEGORY: &str = "model";
/// Rule id reported when a request has more encoded runs than the decode budget.
pub const DECODE_BUDGET_RULE_ID: &str = "smuggling.decode_budget_exhausted";
pub use crate::llm_api::shapes::{self, Api};
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

/// The detectors in code that the pack switches on, each with its rule index.
#[derive(Debug, Clone, Default)]
struct Detectors {
    /// Chat-template markers (lowercase, no whitespace), their longest length
    /// in characters, and the rule.
    markers: Option<(Vec<String>, usize, usize)>,
    /// The fake-system-header regex, a prefilter for its keywords, the words
    /// that may open an instruction after it, and the rule.
    system_header: Option<(Regex, AhoCorasick, Vec<String>, usize)>,
    /// Unicode tag characters.
    tags: Option<usize>,
    /// A run of invisible characters: (rule, minimum run).
    invisible: Option<(usize, usize)>,
    /// Base64, hex and URL-encoded runs (only with `decode.enabled`).
    encoded: [Option<usize>; 3],
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
    detectors: Detectors,
    regexes: Vec<RegexRule>,
    decode: DecodeSettings,
    exempt_routes: Vec<String>,
    exempt_roles: Vec<String>,
    model: Option<Arc<model::Model>>,
    model_settings: ModelSettings,
    /// (block, monitor) threshold per head, in the order of [`model::HEADS`].
    thresholds: [(f32, f32); model::NHEADS],
    system_action: Action,
    pasted_documents: bool,
    quoted_analysis: bool,
    pack_version: String,
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

/// The rule table and patterns while compiling.
struct Builder<'s> {
    s: &'s ScreeningSettings,
    metas: Vec<RuleMeta>,
    patterns: Vec<PatternDef>,
    regexes: Vec<RegexRule>,
    detectors: Detectors,
}

impl Builder<'_> {
    fn overridable(&self, id: &str, cat: Category) -> bool {
        self.s
            .allow_overrides
            .iter()
            .any(|o| o == id || o == cat.as_str())
    }

    /// The index of rule `id`, adding it.
    fn rule(&mut self, id: &str, cat: Category, action: Action, allow: bool) -> usize {
        if let Some(i) = self.metas.iter().position(|m| m.id == id) {
            return i;
        }
        let overridable = !allow && self.overridable(id, cat);
        self.metas.push(RuleMeta {
            id: id.to_string(),
            category: cat,
            action,
            allow,
            overridable,
        });
        self.metas.len() - 1
    }

    /// The action of a built-in rule: `rule_actions`, else its category's
    /// (monitor for monitor-by-default rules when the category blocks).
    fn built_in_action(&self, r: &pack::Rule) -> Action {
        self.s.rule_actions.get(&r.id).copied().unwrap_or_else(|| {
            match category_action(&self.s.categories, r.category) {
                Action::Block if r.monitor_by_default => Action::Monitor,
                a => a,
            }
        })
    }

    fn phrase(rule: usize, text: &str) -> PatternDef {
        PatternDef {
            rule,
            slots: vec![SlotDef::Req(vec![text.to_string()])],
            not_before: Vec::new(),
            not_after: Vec::new(),
            tool_only: false,
            literal: true,
        }
    }

    /// Adds the pack's rules that are not switched off.
    fn built_in(&mut self, pack: &pack::Pack, path: &str) -> Result<(), ConfigError> {
        for r in &pack.rules {
            let action = self.built_in_action(r);
            if action == Action::Off {
                continue;
            }
            let idx = self.rule(&r.id, r.category, action, false);
            match &r.matcher {
                pack::Matcher::Templates(ts) => {
                    self.patterns.extend(ts.iter().map(|t| PatternDef {
                        rule: idx,
                        slots: t.slots.clone(),
                        not_before: t.not_before.clone(),
                        not_after: t.not_after.clone(),
                        tool_only: r.tool_only,
                        literal: false,
                    }));
                }
                pack::Matcher::Phrases(ps) => {
                    self.patterns
                        .extend(ps.iter().map(|p| Self::phrase(idx, p)));
                }
                pack::Matcher::Detector(d) => self.detector(d, idx, path)?,
            }
        }
        Ok(())
    }

    fn detector(&mut self, d: &pack::Detector, idx: usize, path: &str) -> Result<(), ConfigError> {
        let decode = self.s.decode.enabled;
        let det = &mut self.detectors;
        match d {
            pack::Detector::ChatTemplateMarkers(list) => {
                let max = list.iter().map(|m| m.chars().count()).max().unwrap_or(0);
                det.markers = Some((list.clone(), max, idx));
            }
            pack::Detector::SystemHeader(starters) => {
                let re = Regex::new(SYSTEM_HEADER_RE)
                    .map_err(|e| ConfigError::new(path, format!("built-in regex: {e}")))?;
                let words = AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .build(SYSTEM_HEADER_WORDS)
                    .map_err(|e| ConfigError::new(path, format!("built-in matcher: {e}")))?;
                let starters = starters
                    .iter()
                    .map(|w| normalize::phrase(w, false))
                    .collect();
                det.system_header = Some((re, words, starters, idx));
            }
            pack::Detector::UnicodeTags => det.tags = Some(idx),
            pack::Detector::InvisibleRun(n) => det.invisible = Some((idx, *n)),
            pack::Detector::Base64 if decode => det.encoded[0] = Some(idx),
            pack::Detector::Hex if decode => det.encoded[1] = Some(idx),
            pack::Detector::UrlEncoded if decode => det.encoded[2] = Some(idx),
            pack::Detector::Base64 | pack::Detector::Hex | pack::Detector::UrlEncoded => {}
        }
        Ok(())
    }

    /// Adds the operator's deny and allow rules (regex or phrases).
    fn operator(&mut self, path: &str) -> Result<(), ConfigError> {
        let s = self.s;
        let deny = s.deny.iter().enumerate().map(|(i, r)| {
            (
                i,
                r.id.as_str(),
                &r.pattern,
                &r.phrases,
                r.match_on,
                r.action,
                false,
            )
        });
        let allow = s.allow.iter().enumerate().map(|(i, r)| {
            (
                i,
                r.id.as_str(),
                &r.pattern,
                &r.phrases,
                r.match_on,
                Action::Block,
                true,
            )
        });
        for (i, id, pattern, list, on, action, allow) in deny.chain(allow) {
            let kind = if allow { "allow" } else { "deny" };
            let p = |f: &str| format!("{path}.{kind}[{i}].{f}");
            if action == Action::Off {
                continue;
            }
            let r = self.rule(id, Category::Operator, action, allow);
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
                    self.regexes.push(RegexRule { rule: r, re, on });
                }
                (None, false) => {
                    for (j, ph) in list.iter().enumerate() {
                        if normalize::phrase(ph, false).trim().is_empty() {
                            return Err(ConfigError::new(
                                format!("{path}.{kind}[{i}].phrases[{j}]"),
                                "must contain a letter or digit",
                            ));
                        }
                        self.patterns.push(Self::phrase(r, ph));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Numeric limits and decode settings.
fn check_limits(s: &ScreeningSettings, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
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
    if s.roles.is_empty() {
        return Err(ConfigError::new(
            at("roles"),
            "must list at least one role (set `enabled: false` to turn screening off)",
        ));
    }
    Ok(())
}

/// The model loaded when enabled, and each head's (block, monitor)
/// thresholds, validated; per-route overrides name configured routes.
type CompiledModel = (Option<Arc<model::Model>>, [(f32, f32); model::NHEADS]);

/// Model thresholds and per-route overrides; loads the shipped model when enabled.
fn compile_model(
    m: &ModelSettings,
    route_names: &[&str],
    at: &dyn Fn(&str) -> String,
) -> Result<CompiledModel, ConfigError> {
    let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
    let check = |block: f32, monitor: f32, field: &str| -> Result<(f32, f32), ConfigError> {
        if !unit(block) {
            return Err(ConfigError::new(
                at(&format!("{field}block_threshold")),
                "must be a number from 0 to 1",
            ));
        }
        if !unit(monitor) || monitor > block {
            return Err(ConfigError::new(
                at(&format!("{field}monitor_threshold")),
                format!("must be a number from 0 to {field}block_threshold"),
            ));
        }
        Ok((block, monitor))
    };
    let mut thresholds = [(0f32, 0f32); model::NHEADS];
    thresholds[0] = check(m.block_threshold, m.monitor_threshold, "model.")?;
    let c = &m.categories;
    for (i, (name, head)) in [
        ("override", c.override_),
        ("leak", c.leak),
        ("jailbreak", c.jailbreak),
    ]
    .into_iter()
    .enumerate()
    {
        let (db, dm) = settings::CATEGORY_DEFAULTS[i];
        let block = head.block_threshold.unwrap_or(db);
        // An unset monitor threshold follows a lowered block threshold.
        let monitor = head.monitor_threshold.unwrap_or(dm.min(block));
        thresholds[i + 1] = check(block, monitor, &format!("model.categories.{name}."))?;
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
    Ok((model, thresholds))
}

/// `allowed_models` patterns; `exempt_routes` name configured routes.
fn compile_scope(
    s: &ScreeningSettings,
    route_names: &[&str],
    path: &str,
) -> Result<Vec<validate::ModelPattern>, ConfigError> {
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
    Ok(allowed_models)
}

/// Rule ids: `rule_actions` names built-in rules, operator ids are valid and
/// unique, `allow_overrides` names categories or rules.
fn check_rule_ids(s: &ScreeningSettings, pack: &pack::Pack, path: &str) -> Result<(), ConfigError> {
    let built_in = pack.ids();
    for id in s.rule_actions.keys() {
        if !built_in.iter().any(|(b, _)| b == id) {
            return Err(ConfigError::new(
                format!("{path}.rule_actions"),
                format!("unknown built-in rule id `{id}`"),
            ));
        }
    }
    let mut rule_ids: Vec<&str> = built_in.iter().map(|(id, _)| *id).collect();
    let operator = s
        .deny
        .iter()
        .map(|r| ("deny", r.id.as_str()))
        .enumerate()
        .chain(s.allow.iter().map(|r| ("allow", r.id.as_str())).enumerate());
    for (i, (kind, id)) in operator {
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
            format!("{path}.allow_overrides"),
            "allow rules have no effect unless allow_overrides names the categories or rule ids they may override",
        ));
    }
    Ok(())
}

impl Screener {
    /// Validates and compiles the settings. `route_names` are the configured
    /// routes (for `exempt_routes`); `path` prefixes error paths.
    pub fn compile(
        s: ScreeningSettings,
        route_names: &[&str],
        path: &str,
    ) -> Result<Self, ConfigError> {
        let at = |field: &str| format!("{path}.{field}");
        check_limits(&s, &at)?;
        let (model, thresholds) = compile_model(&s.model, route_names, &at)?;
        let allowed_models = compile_scope(&s, route_names, path)?;
        let pack = pack::Pack::shipped(&at("pack"))?;
        check_rule_ids(&s, &pack, path)?;

        let mut b = Builder {
            s: &s,
            metas: Vec::new(),
            patterns: Vec::new(),
            regexes: Vec::new(),
            detectors: Detectors::default(),
        };
        b.built_in(&pack, path)?;
        b.operator(path)?;
        let Builder {
            metas,
            patterns,
            regexes,
            detectors,
            ..
        } = b;
        let plain = ViewMatcher::new(&patterns, false);
        let leet = ViewMatcher::new(&patterns, true);

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
            detectors,
            regexes,
            decode: s.decode,
            exempt_routes: s.exempt_routes,
            exempt_roles: s.exempt_roles,
            model,
            model_settings: s.model,
            thresholds,
            system_action: s.system_action,
            pasted_documents: s.pasted_documents,
            quoted_analysis: s.quoted_analysis,
            pack_version: pack.version,
        })
    }

    /// The built-in rule pack's version (`pack/rules.v1.json`), for the
    /// configure log line.
    pub fn pack_version(&self) -> &str {
        &self.pack_version
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
        self.model_scores(text).map(|s| s.max())
    }

    /// The model's per-head scores for one text (order of [`model::HEADS`]).
    pub fn model_scores(&self, text: &str) -> Option<model::Scores> {
        let m = self.model.as_ref()?;
        Some(m.scores(&model::model_text(text)))
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
            let tool = seg.role == Role::Tool;
            // A document pasted into a user message: the model scores it as
            // indirect and the request around it as direct; rules read it all.
            let pasted = if self.pasted_documents && seg.role == Role::User && self.model.is_some()
            {
                documents::pasted_document(&seg.text)
            } else {
                None
            };
            // An attack quoted for analysis ("Is this an injection? '...'"):
            // what only the quotes hold is judged as indirect text.
            let split = if self.quoted_analysis && seg.role == Role::User && pasted.is_none() {
                quoted::quoted_for_analysis(&seg.text)
            } else {
                None
            };
            let mut score = None;
            let model_here = pasted.is_none() && split.is_none();
            // The text outside the quotes is read again with the budget as it
            // was before this text: its runs were decoded (and charged) once.
            let budget_before = split.as_ref().map(|_| budget.clone());
            let hits = self.hits(&seg.text, tool, model_here, &mut budget, &mut score);
            let outside_hits = match (&split, budget_before, hits.is_empty()) {
                (Some(s), Some(mut again), false) => {
                    Some(self.hits(&s.outside, tool, false, &mut again, &mut None))
                }
                _ => None,
            };
            for rule in hits {
                let Some(meta) = self.rules.get(rule) else {
                    continue;
                };
                let mut action = self.role_action(seg.role, meta.action);
                if outside_hits.as_ref().is_some_and(|o| !o.contains(&rule)) {
                    action = indirect(action, indirect_action);
                }
                record(&meta.id, meta.category.as_str(), action, &mut flagged)?;
            }
            // At most three scores per text (the text; or the request around
            // a pasted document, then the document): no allocation.
            let direct = score.map(|sc| (sc, tool));
            let (around, document) = match (pasted, &split) {
                (None, Some(s)) => (
                    self.model_scores(&s.outside).map(|sc| (sc, false)),
                    self.model_scores(&s.quoted).map(|sc| (sc, true)),
                ),
                (Some(range), _) => {
                    let text: &str = &seg.text;
                    let doc = text.get(range.clone()).unwrap_or_default();
                    let instruction = [
                        text.get(..range.start).unwrap_or_default(),
                        text.get(range.end..).unwrap_or_default(),
                    ]
                    .concat();
                    (
                        self.model_scores(&instruction).map(|sc| (sc, false)),
                        self.model_scores(doc).map(|sc| (sc, true)),
                    )
                }
                (None, None) => (None, None),
            };
            let scored = [direct, around, document];
            for (sc, indirect) in scored.into_iter().flatten() {
                let top = sc.max();
                *best = Some(best.map_or(top, |b: f32| b.max(top)));
                let (head, action) = self.model_action(&sc, indirect, seg.role, indirect_action);
                record(model_rule_id(head), MODEL_CATEGORY, action, &mut flagged)?;
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

    /// The model's action for a text's head scores, and the head that
    /// decides: the head furthest over its threshold of the most severe
    /// action. Indirect text (tool results, pasted documents) follows
    /// `indirect_action`, direct text its role's.
    fn model_action(
        &self,
        sc: &model::Scores,
        indirect: bool,
        role: Role,
        indirect_action: Action,
    ) -> (usize, Action) {
        let rank = |a: Action| match a {
            Action::Block => 2,
            Action::Monitor => 1,
            Action::Off => 0,
        };
        let mut out = (0usize, Action::Off, f32::NEG_INFINITY);
        for (h, (&s, &(block, monitor))) in sc.0.iter().zip(&self.thresholds).enumerate() {
            let (action, margin) = if s >= block {
                let a = if indirect {
                    indirect_action
                } else {
                    self.role_action(role, Action::Block)
                };
                (a, s - block)
            } else if s >= monitor {
                let a = if indirect && indirect_action == Action::Off {
                    Action::Off
                } else {
                    Action::Monitor
                };
                (a, s - monitor)
            } else {
                (Action::Off, s - monitor)
            };
            if (rank(action), margin) > (rank(out.1), out.2) {
                out = (h, action, margin);
            }
        }
        (out.0, out.1)
    }

    /// Deny-rule hits in one text, after allow rules had their say; `model`
    /// scores the text (and its decoded runs) into `score`.
    fn hits(
        &self,
        text: &str,
        tool: bool,
        model: bool,
        budget: &mut Budget,
        score: &mut Option<model::Scores>,
    ) -> Vec<usize> {
        let mut found = self.scan(text, tool, model, Some(budget), score);
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

    /// Every rule (deny and allow) matching `text`; decodes runs when given a
    /// budget and screens what they decode to.
    fn scan(
        &self,
        text: &str,
        tool: bool,
        model: bool,
        budget: Option<&mut Budget>,
        score: &mut Option<model::Scores>,
    ) -> Vec<usize> {
        let mut found = Vec::new();
        let mut budget = budget;
        let decoded = with_scratch(|s| {
            self.scan_text(
                s,
                text,
                tool,
                model,
                budget.as_deref_mut(),
                score,
                &mut found,
            )
        });
        for (rule, decoded) in decoded {
            let inner = self.scan(&decoded, tool, model, None, score);
            if inner
                .iter()
                .any(|&r| self.rules.get(r).is_some_and(|m| !m.allow))
            {
                push_unique(&mut found, rule);
            }
        }
        found
    }

    /// The rules matching `text` itself, into `found`; returns its decoded
    /// runs (with the rule each would report) for the caller to screen.
    ///
    /// One normalisation feeds every consumer: the folded text (the input
    /// itself when folding changes nothing), then one tokenisation pass that
    /// writes the words for both the model and the patterns, looks each word
    /// up as it is written, and notes the facts the other detectors'
    /// prefilters need (leetspeak, `<` / `[`, `:`, `%`, base64 and hex
    /// stretches). A detector whose fact is absent does not read the text.
    #[allow(clippy::too_many_arguments)]
    fn scan_text(
        &self,
        scratch: &mut Scratch,
        text: &str,
        tool: bool,
        model: bool,
        budget: Option<&mut Budget>,
        score: &mut Option<model::Scores>,
        found: &mut Vec<usize>,
    ) -> Vec<(usize, String)> {
        let Scratch {
            folded: fold_buf,
            tokens,
            ids,
            leet,
        } = scratch;
        let (folded, signals): (&str, normalize::Signals) = if normalize::is_plain(text) {
            (text, normalize::Signals::default())
        } else {
            let signals = normalize::fold_into(text, fold_buf);
            (fold_buf.as_str(), signals)
        };
        let det = &self.detectors;
        if let Some(r) = det.tags {
            if signals.tag_chars > 0 {
                push_unique(found, r);
            }
        }
        if let Some((r, min)) = det.invisible {
            if signals.max_invisible_run >= min {
                push_unique(found, r);
            }
        }
        self.plain.begin(ids);
        let facts = normalize::tokenize_into(folded, tokens, |w| self.plain.push_word(ids, w));
        if let Some(m) = self.model.as_ref().filter(|_| model) {
            let sc = m.scores(&tokens.text);
            *score = Some(score.map_or(sc, |b| b.elementwise_max(&sc)));
        }
        self.plain.scan(tokens, ids, tool, found);
        if facts.leet {
            self.leet.begin(ids);
            normalize::tokenize_general(folded, true, leet, |w| self.leet.push_word(ids, w));
            self.leet.scan(leet, ids, tool, found);
        }
        if let Some((markers, max, r)) = &det.markers {
            if facts.marker_start && normalize::has_marker(folded, markers, *max) {
                push_unique(found, *r);
            }
        }
        if let Some((re, words, starters, r)) = &det.system_header {
            if facts.colon && fake_system_header(folded, re, words, starters) {
                push_unique(found, *r);
            }
        }
        for rr in &self.regexes {
            let hay = match rr.on {
                MatchOn::Normalized => tokens.text.trim(),
                MatchOn::Raw => text,
            };
            if rr.re.is_match(hay) {
                push_unique(found, rr.rule);
            }
        }
        let mut out = Vec::new();
        if let Some(budget) = budget {
            if det.encoded.iter().any(Option::is_some) {
                let runs = decode::decode_runs_with(
                    folded,
                    budget,
                    facts.base64_run,
                    facts.hex_run,
                    facts.percent,
                );
                for (enc, decoded) in runs {
                    let rule = match enc {
                        Encoding::Base64 => det.encoded[0],
                        Encoding::Hex => det.encoded[1],
                        Encoding::Url => det.encoded[2],
                    };
                    if let Some(rule) = rule {
                        out.push((rule, decoded));
                    }
                }
            }
        }
        out
    }
}

/// Per-worker buffers that every screened text reuses, so a warm worker
/// allocates nothing per text for folding, words and word ids.
#[derive(Debug, Default)]
struct Scratch {
    folded: String,
    tokens: normalize::Tokens,
    ids: engine::Ids,
    leet: normalize::Tokens,
}

impl Scratch {
    /// Frees buffers grown past [`SCRATCH_KEEP`] bytes of text (a rare huge
    /// prompt should not pin its buffers in every worker).
    fn trim(&mut self) {
        if self.folded.capacity() > SCRATCH_KEEP
            || self.tokens.text.capacity() > SCRATCH_KEEP
            || self.leet.text.capacity() > SCRATCH_KEEP
        {
            *self = Scratch::default();
        }
    }
}

/// Text bytes whose buffers a worker keeps between texts.
const SCRATCH_KEEP: usize = 256 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this worker's [`Scratch`] (a fresh one when it is in use
/// or gone: never a panic).
fn with_scratch<R>(mut f: impl FnMut(&mut Scratch) -> R) -> R {
    SCRATCH
        .try_with(|cell| {
            cell.try_borrow_mut().ok().map(|mut s| {
                let r = f(&mut s);
                s.trim();
                r
            })
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| f(&mut Scratch::default()))
}

/// The action for a hit in indirect text (a tool result, a pasted document,
/// a quote under analysis): a block follows `indirect_action`, and a route
/// that switches indirect screening off drops monitor hits too.
fn indirect(action: Action, indirect_action: Action) -> Action {
    match (action, indirect_action) {
        (Action::Block, a) => a,
        (_, Action::Off) => Action::Off,
        (a, _) => a,
    }
}

/// A `System:` / `### System:` / `[System note:` header followed by an
/// instruction. The regex is line-anchored: it runs only on lines with a
/// colon (found with memchr) and one of its keywords.
fn fake_system_header(folded: &str, re: &Regex, words: &AhoCorasick, starters: &[String]) -> bool {
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
            starters.iter().any(|s| words.starts_with(s.as_str()))
        });
        if starts_instruction {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
