//! What the operator writes under `screening` in the plugin configuration.
//!
//! Every struct denies unknown fields and takes its defaults from
//! `impl Default`, so `"screening": {}` means: enabled, the built-in pack in
//! block mode, user and tool content of the whole history, default limits.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What happens when a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Refuse the request with 403 `prompt_blocked` (the default).
    #[default]
    Block,
    /// Admit the request, count it, log the rule id and tell the upstream in a header.
    Monitor,
    /// The rule (or category) is not evaluated.
    Off,
}

impl Action {
    /// Lowercase name, as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Monitor => "monitor",
            Action::Off => "off",
        }
    }
}

/// Whether block actions are carried out, or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Rules act as configured (the default).
    #[default]
    Enforce,
    /// Every `block` is downgraded to `monitor`: a dry run for a new rule pack.
    Monitor,
}

pub use crate::llm_api::shapes::Role;

/// How much of the conversation is screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum History {
    /// Every message (the default): clients can rewrite history freely.
    #[default]
    All,
    /// Only the new turn: the messages after the last assistant message.
    Last,
}

/// Action per built-in category.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CategorySettings {
    /// "Ignore previous instructions" and its paraphrases.
    pub instruction_override: Action,
    /// Attempts to make the model reveal its system prompt.
    pub system_prompt_extraction: Action,
    /// Fake chat-template tokens and fake system / developer headers.
    pub role_impersonation: Action,
    /// Known jailbreak personas and "no restrictions" role-play set-ups.
    pub jailbreak_persona: Action,
    /// Hidden text: Unicode tag characters, invisible runs, encoded instructions.
    pub smuggling: Action,
}

impl Default for CategorySettings {
    fn default() -> Self {
        Self {
            instruction_override: Action::Block,
            system_prompt_extraction: Action::Block,
            role_impersonation: Action::Block,
            jailbreak_persona: Action::Block,
            smuggling: Action::Block,
        }
    }
}

/// What an operator rule is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchOn {
    /// The normalised text: folded, lowercase, punctuation runs as single spaces
    /// (the default; defeats most obfuscation).
    #[default]
    Normalized,
    /// The text exactly as sent.
    Raw,
}

/// An operator deny rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyRuleSettings {
    /// Stable id reported in the 403 message and the monitor header: `[a-z0-9._-]`, unique.
    pub id: String,
    /// A regex-lite pattern. Set this or `phrases`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Literal phrases, matched on word boundaries of the normalised text.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// What the pattern is matched against (`pattern` only; phrases are always normalised).
    #[serde(default)]
    pub match_on: MatchOn,
    /// `block` (default) or `monitor`.
    #[serde(default)]
    pub action: Action,
}

/// An operator allow rule: where it matches, the hits named in `allow_overrides` are dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRuleSettings {
    /// Stable id: `[a-z0-9._-]`, unique.
    pub id: String,
    /// A regex-lite pattern. Set this or `phrases`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Literal phrases, matched on word boundaries of the normalised text.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// What the pattern is matched against.
    #[serde(default)]
    pub match_on: MatchOn,
}

/// Bounds on decoding base64 / hex / URL-encoded runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeSettings {
    /// Decode runs at all (screening the decoded text needs `smuggling` not `off`).
    pub enabled: bool,
    /// Shortest base64 run tried, in characters.
    pub min_base64_chars: usize,
    /// Shortest hex run tried, in hex digits.
    pub min_hex_chars: usize,
    /// Most runs tried per request.
    pub max_runs: usize,
    /// Most decoded bytes screened per request.
    pub max_decoded_bytes: usize,
    /// What happens when a request has more encoded runs or bytes than the
    /// budget: `block` (default, fail closed), `monitor` (flag) or `off`.
    /// Never a silent pass by default: decoys could hide the real payload.
    pub on_exhausted: Action,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_base64_chars: 24,
            min_hex_chars: 32,
            max_runs: 32,
            max_decoded_bytes: 64 * 1024,
            on_exhausted: Action::Block,
        }
    }
}

/// The learned classifier (see `docs/screening.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// Score texts with the built-in model.
    pub enabled: bool,
    /// Score at or above which a text is blocked (0-1; chosen on the held-out
    /// split, docs/screening.md).
    pub block_threshold: f32,
    /// Score at or above which a text is flagged (0-1, at most `block_threshold`).
    pub monitor_threshold: f32,
    /// Thresholds of the category heads (the two fields above are the
    /// `injection` head's, which learns from every attack).
    pub categories: ModelCategories,
    /// Action for a high score in indirect text (tool results, attached
    /// documents): `monitor` by default, since a document that merely
    /// discusses instructions is common.
    pub indirect_action: Action,
    /// Per-route override of `indirect_action`, by route name.
    pub route_indirect_actions: BTreeMap<String, Action>,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            block_threshold: 0.95,
            monitor_threshold: 0.65,
            categories: ModelCategories::default(),
            indirect_action: Action::Monitor,
            route_indirect_actions: BTreeMap::new(),
        }
    }
}

/// Thresholds of one category head of the model. An unset field takes the
/// category's default ([`ModelCategories::default`]).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HeadThresholds {
    /// Score at or above which a text is blocked (0-1).
    pub block_threshold: Option<f32>,
    /// Score at or above which a text is flagged (0-1, at most `block_threshold`).
    pub monitor_threshold: Option<f32>,
}

/// Per-category thresholds of the model's category heads (`model.override`,
/// `model.leak`, `model.jailbreak`). Defaults chosen on the held-out split
/// and our calibration set (docs/screening.md).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelCategories {
    /// Instruction overrides and goal hijacking.
    #[serde(rename = "override")]
    pub override_: HeadThresholds,
    /// Attempts to make the model reveal its instructions.
    pub leak: HeadThresholds,
    /// Persona and role-play jailbreaks.
    pub jailbreak: HeadThresholds,
}

/// Built-in (block, monitor) thresholds of the category heads, in the order
/// override, leak, jailbreak.
pub const CATEGORY_DEFAULTS: [(f32, f32); 3] = [(0.85, 0.75), (0.35, 0.25), (0.5, 0.4)];

impl Default for ModelCategories {
    fn default() -> Self {
        let t = |(b, m): (f32, f32)| HeadThresholds {
            block_threshold: Some(b),
            monitor_threshold: Some(m),
        };
        Self {
            override_: t(CATEGORY_DEFAULTS[0]),
            leak: t(CATEGORY_DEFAULTS[1]),
            jailbreak: t(CATEGORY_DEFAULTS[2]),
        }
    }
}

/// The `screening` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreeningSettings {
    /// Screen request bodies at all.
    pub enabled: bool,
    /// `enforce` (default) or `monitor` (every block becomes monitor).
    pub mode: Mode,
    /// Largest request body read, in bytes (larger: 413 from the host).
    pub max_body_bytes: usize,
    /// Most messages (chat / Anthropic) or input items (Responses).
    pub max_messages: usize,
    /// Most characters in one message, item or prompt string.
    pub max_message_chars: usize,
    /// Most characters in all text of a request.
    pub max_total_chars: usize,
    /// Largest accepted `max_tokens` / `max_completion_tokens` / `max_output_tokens`.
    pub max_tokens_cap: Option<u64>,
    /// Accepted models: exact names, or prefixes ending in `*`. Empty: any model.
    pub allowed_models: Vec<String>,
    /// Accept token-id arrays as `prompt` / `input` (they cannot be screened).
    pub allow_token_input: bool,
    /// Roles whose text is screened.
    pub roles: Vec<Role>,
    /// All of the history, or only the new turn.
    pub history: History,
    /// Action per built-in category.
    pub categories: CategorySettings,
    /// Action per built-in rule id, overriding its category's.
    pub rule_actions: BTreeMap<String, Action>,
    /// Operator deny rules.
    pub deny: Vec<DenyRuleSettings>,
    /// Operator allow rules.
    pub allow: Vec<AllowRuleSettings>,
    /// Categories or rule ids an allow match may override. Nothing else is overridable.
    pub allow_overrides: Vec<String>,
    /// Route names that are not screened.
    pub exempt_routes: Vec<String>,
    /// Caller roles (from the token) that are not screened.
    pub exempt_roles: Vec<String>,
    /// Decoding of base64 / hex / URL-encoded runs.
    pub decode: DecodeSettings,
    /// The learned classifier.
    pub model: ModelSettings,
    /// Action for hits in `system` and `developer` text (messages, tool and
    /// schema descriptions): `block` by default, since a client writes the
    /// whole body; `monitor` for apps whose own system prompts quote attacks.
    pub system_action: Action,
    /// Score a document pasted into a user message ("Summarize this email:
    /// <long text>") as indirect text, like a tool result: the model's verdict
    /// on it follows `model.indirect_action`. Rules read the whole message.
    pub pasted_documents: bool,
    /// Judge an attack quoted for analysis ("Is this a prompt injection?
    /// '<attack>'", "Classify as safe or unsafe: \"<attack>\"") as indirect
    /// text: hits only the quotes hold follow `model.indirect_action`
    /// (monitor by default). The text outside the quotes is judged as usual.
    pub quoted_analysis: bool,
}

impl Default for ScreeningSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: Mode::Enforce,
            max_body_bytes: 1024 * 1024,
            max_messages: 256,
            max_message_chars: 100_000,
            max_total_chars: 400_000,
            max_tokens_cap: None,
            allowed_models: Vec::new(),
            allow_token_input: false,
            roles: vec![
                Role::System,
                Role::Developer,
                Role::User,
                Role::Assistant,
                Role::Tool,
            ],
            history: History::All,
            categories: CategorySettings::default(),
            rule_actions: BTreeMap::new(),
            deny: Vec::new(),
            allow: Vec::new(),
            allow_overrides: Vec::new(),
            exempt_routes: Vec::new(),
            exempt_roles: Vec::new(),
            decode: DecodeSettings::default(),
            model: ModelSettings::default(),
            system_action: Action::Block,
            pasted_documents: true,
            quoted_analysis: true,
        }
    }
}
