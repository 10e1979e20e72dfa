//! The built-in rule pack as data: `pack/rules.v1.json`, embedded in the
//! filter and compiled at configure time (see docs/screening.md, "The rule
//! pack", for its syntax).
//!
//! A pack is checked whole before anything uses it: its format number, rule
//! ids (unique, prefixed by their category), word classes (defined, no
//! cycles), template shapes (first slot required, bounded gaps), detectors
//! (known, at most once each). A native test compiles the shipped pack, so a
//! malformed one cannot ship; an error names the JSON path.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::ConfigError;

use super::engine::SlotDef;
use super::rules::Category;
use super::settings::Action;

/// The shipped pack's text.
pub const SHIPPED: &str = include_str!("pack/rules.v1.json");

/// Pack format this filter reads.
pub const FORMAT: u32 = 1;

/// Longest gap a template may declare (bounds backtracking).
const MAX_GAP: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    format: u32,
    version: String,
    /// Documentation only.
    #[serde(default, rename = "about")]
    _about: String,
    #[serde(default)]
    classes: BTreeMap<String, Vec<String>>,
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    category: String,
    /// Documentation only.
    #[serde(default, rename = "note")]
    _note: String,
    #[serde(default)]
    applies_to: AppliesTo,
    #[serde(default)]
    default_action: Option<Action>,
    #[serde(default)]
    templates: Vec<TemplateFile>,
    #[serde(default)]
    phrases: Vec<String>,
    #[serde(default)]
    detector: Option<DetectorKind>,
    #[serde(default)]
    markers: Vec<String>,
    #[serde(default)]
    starters: Vec<String>,
    #[serde(default)]
    min_run: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AppliesTo {
    #[default]
    All,
    Tool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DetectorKind {
    ChatTemplateMarkers,
    SystemHeader,
    UnicodeTags,
    InvisibleRun,
    Base64,
    Hex,
    UrlEncoded,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    slots: Vec<SlotFile>,
    #[serde(default)]
    not_before: ListFile,
    #[serde(default)]
    not_after: ListFile,
    /// Documentation only.
    #[serde(default, rename = "note")]
    _note: String,
}

/// `"CLASS"`, `"?CLASS"` (optional), `"gap N"`, `["inline", "words"]`, or
/// `{"opt": ["inline", "words"]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SlotFile {
    Named(String),
    Inline(Vec<String>),
    Opt(OptSlot),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptSlot {
    opt: Vec<String>,
}

/// `"CLASS"` or `["inline", "words"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ListFile {
    Named(String),
    Inline(Vec<String>),
}

impl Default for ListFile {
    fn default() -> Self {
        ListFile::Inline(Vec::new())
    }
}

/// A detector implemented in code, switched on and named by the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detector {
    /// Chat-template control tokens (lowercase, no whitespace; each starts with `<` or `[`).
    ChatTemplateMarkers(Vec<String>),
    /// A `System:` header whose text opens with one of these words.
    SystemHeader(Vec<String>),
    /// Unicode tag characters outside emoji flags.
    UnicodeTags,
    /// A run of at least this many invisible characters.
    InvisibleRun(usize),
    /// A base64 run that decodes to text another rule matches.
    Base64,
    /// A hex run that decodes to text another rule matches.
    Hex,
    /// URL-encoded text that decodes to text another rule matches.
    UrlEncoded,
}

/// One word template of the pack, with its classes expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The slots (the first is required).
    pub slots: Vec<SlotDef>,
    /// The match does not count right after one of these.
    pub not_before: Vec<String>,
    /// The match does not count right before one of these.
    pub not_after: Vec<String>,
}

/// How a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Word templates.
    Templates(Vec<Template>),
    /// Literal phrases on word boundaries.
    Phrases(Vec<String>),
    /// A detector in code.
    Detector(Detector),
}

/// One rule of the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id (reported in 403s, logs, the monitor header).
    pub id: String,
    /// Its category.
    pub category: Category,
    /// Applies to tool results (indirect text) only.
    pub tool_only: bool,
    /// Monitors even when its category blocks (a useful signal whose
    /// false-positive rate is too high to block on).
    pub monitor_by_default: bool,
    /// How it matches.
    pub matcher: Matcher,
}

/// A checked rule pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    /// The pack's version (`rules.v1.json` `version`), logged at configure.
    pub version: String,
    /// The rules in pack order.
    pub rules: Vec<Rule>,
}

fn category(name: &str) -> Option<Category> {
    Category::BUILT_IN
        .iter()
        .copied()
        .find(|c| c.as_str() == name)
}

fn prefix_of(c: Category) -> &'static str {
    match c {
        Category::InstructionOverride => "io.",
        Category::SystemPromptExtraction => "spe.",
        Category::RoleImpersonation => "ri.",
        Category::JailbreakPersona => "jb.",
        Category::Smuggling => "smg.",
        Category::Operator => "op.",
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn valid_class_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && n.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
}

/// Whether an alternative has a word once normalised (`=` and `*` are syntax).
fn has_word(alt: &str) -> bool {
    let bare: String = alt
        .split_whitespace()
        .map(|w| w.trim_start_matches('=').trim_end_matches('*'))
        .collect::<Vec<_>>()
        .join(" ");
    !super::normalize::phrase(&bare, false).trim().is_empty()
}

struct Classes<'a> {
    defs: &'a BTreeMap<String, Vec<String>>,
    path: &'a str,
}

impl Classes<'_> {
    /// The words of class `name`, `@OTHER` entries expanded (no cycles).
    fn expand(&self, name: &str, depth: usize, at: &str) -> Result<Vec<String>, ConfigError> {
        let Some(list) = self.defs.get(name) else {
            return Err(ConfigError::new(at, format!("no class named `{name}`")));
        };
        if depth > 8 {
            return Err(ConfigError::new(
                format!("{}.classes.{name}", self.path),
                "classes include each other too deeply (a cycle?)",
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, w) in list.iter().enumerate() {
            let here = format!("{}.classes.{name}[{i}]", self.path);
            match w.strip_prefix('@') {
                Some(inner) => {
                    for x in self.expand(inner, depth + 1, &here)? {
                        if !out.contains(&x) {
                            out.push(x);
                        }
                    }
                }
                None => {
                    if !has_word(w) {
                        return Err(ConfigError::new(here, "must contain a letter or digit"));
                    }
                    if !out.contains(w) {
                        out.push(w.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    fn list(&self, l: &ListFile, at: &str) -> Result<Vec<String>, ConfigError> {
        match l {
            ListFile::Named(n) => self.expand(n, 0, at),
            ListFile::Inline(v) => inline(v, at),
        }
    }

    fn slot(&self, s: &SlotFile, at: &str) -> Result<SlotDef, ConfigError> {
        match s {
            SlotFile::Named(n) => {
                if let Some(g) = n.strip_prefix("gap ") {
                    let n: usize = g.trim().parse().map_err(|_| {
                        ConfigError::new(at, "a gap is `gap N` with N a whole number")
                    })?;
                    if n == 0 || n > MAX_GAP {
                        return Err(ConfigError::new(
                            at,
                            format!("a gap must be 1 to {MAX_GAP} words"),
                        ));
                    }
                    Ok(SlotDef::Gap(n))
                } else if let Some(c) = n.strip_prefix('?') {
                    Ok(SlotDef::Opt(self.expand(c, 0, at)?))
                } else {
                    Ok(SlotDef::Req(self.expand(n, 0, at)?))
                }
            }
            SlotFile::Inline(v) => Ok(SlotDef::Req(inline(v, at)?)),
            SlotFile::Opt(o) => Ok(SlotDef::Opt(inline(&o.opt, &format!("{at}.opt"))?)),
        }
    }
}

fn inline(v: &[String], at: &str) -> Result<Vec<String>, ConfigError> {
    for (i, w) in v.iter().enumerate() {
        if w.starts_with('@') {
            return Err(ConfigError::new(
                format!("{at}[{i}]"),
                "`@CLASS` is for class definitions; name the class as the slot instead",
            ));
        }
        if !has_word(w) {
            return Err(ConfigError::new(
                format!("{at}[{i}]"),
                "must contain a letter or digit",
            ));
        }
    }
    Ok(v.to_vec())
}

impl Pack {
    /// The shipped pack.
    pub fn shipped(path: &str) -> Result<Pack, ConfigError> {
        Pack::parse(SHIPPED, path)
    }

    /// Parses and checks a pack; errors name `path` and the JSON path inside.
    pub fn parse(text: &str, path: &str) -> Result<Pack, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: PackFile = serde_path_to_error::deserialize(de)
            .map_err(|e| ConfigError::new(format!("{path}.{}", e.path()), e.inner().to_string()))?;
        if file.format != FORMAT {
            return Err(ConfigError::new(
                format!("{path}.format"),
                format!("this filter reads rule pack format {FORMAT}"),
            ));
        }
        if file.version.trim().is_empty() {
            return Err(ConfigError::new(
                format!("{path}.version"),
                "must not be empty",
            ));
        }
        for name in file.classes.keys() {
            if !valid_class_name(name) {
                return Err(ConfigError::new(
                    format!("{path}.classes.{name}"),
                    "class names are UPPER_SNAKE_CASE",
                ));
            }
        }
        let classes = Classes {
            defs: &file.classes,
            path,
        };
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rules.len());
        let mut detectors: Vec<DetectorKind> = Vec::new();
        for (i, r) in file.rules.iter().enumerate() {
            let at = format!("{path}.rules[{i}]");
            rules.push(rule(&classes, r, &at, &mut detectors, &rules)?);
        }
        Ok(Pack {
            version: file.version,
            rules,
        })
    }

    /// Every rule id with its category.
    pub fn ids(&self) -> Vec<(&str, Category)> {
        self.rules
            .iter()
            .map(|r| (r.id.as_str(), r.category))
            .collect()
    }
}

fn rule(
    classes: &Classes<'_>,
    r: &RuleFile,
    at: &str,
    detectors: &mut Vec<DetectorKind>,
    earlier: &[Rule],
) -> Result<Rule, ConfigError> {
    if !valid_id(&r.id) {
        return Err(ConfigError::new(
            format!("{at}.id"),
            "must be 1-64 characters of a-z, 0-9, `.`, `_`, `-`",
        ));
    }
    if earlier.iter().any(|e| e.id == r.id) {
        return Err(ConfigError::new(
            format!("{at}.id"),
            format!("duplicate rule id `{}`", r.id),
        ));
    }
    let Some(cat) = category(&r.category) else {
        return Err(ConfigError::new(
            format!("{at}.category"),
            "must be one of instruction_override, system_prompt_extraction, role_impersonation, jailbreak_persona, smuggling",
        ));
    };
    if !r.id.starts_with(prefix_of(cat)) {
        return Err(ConfigError::new(
            format!("{at}.id"),
            format!(
                "ids of category {} start with `{}`",
                cat.as_str(),
                prefix_of(cat)
            ),
        ));
    }
    let monitor_by_default = match r.default_action {
        None | Some(Action::Block) => false,
        Some(Action::Monitor) => true,
        Some(Action::Off) => {
            return Err(ConfigError::new(
                format!("{at}.default_action"),
                "must be block or monitor (operators switch rules off with rule_actions)",
            ))
        }
    };
    let kinds = [
        !r.templates.is_empty(),
        !r.phrases.is_empty(),
        r.detector.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(ConfigError::new(
            at,
            "a rule has exactly one of `templates`, `phrases` or `detector`",
        ));
    }
    if r.detector.is_none()
        && (!r.markers.is_empty() || !r.starters.is_empty() || r.min_run.is_some())
    {
        return Err(ConfigError::new(
            at,
            "`markers`, `starters` and `min_run` belong to detectors",
        ));
    }
    let matcher = if let Some(kind) = r.detector {
        if detectors.contains(&kind) {
            return Err(ConfigError::new(
                format!("{at}.detector"),
                "each detector appears once",
            ));
        }
        detectors.push(kind);
        Matcher::Detector(detector(kind, r, at)?)
    } else if !r.phrases.is_empty() {
        Matcher::Phrases(inline(&r.phrases, &format!("{at}.phrases"))?)
    } else {
        let mut out = Vec::with_capacity(r.templates.len());
        for (j, t) in r.templates.iter().enumerate() {
            let tat = format!("{at}.templates[{j}]");
            let mut slots = Vec::with_capacity(t.slots.len());
            for (k, s) in t.slots.iter().enumerate() {
                slots.push(classes.slot(s, &format!("{tat}.slots[{k}]"))?);
            }
            if !matches!(slots.first(), Some(SlotDef::Req(_))) {
                return Err(ConfigError::new(
                    format!("{tat}.slots[0]"),
                    "the first slot must be required words (not optional, not a gap)",
                ));
            }
            out.push(Template {
                slots,
                not_before: classes.list(&t.not_before, &format!("{tat}.not_before"))?,
                not_after: classes.list(&t.not_after, &format!("{tat}.not_after"))?,
            });
        }
        Matcher::Templates(out)
    };
    Ok(Rule {
        id: r.id.clone(),
        category: cat,
        tool_only: r.applies_to == AppliesTo::Tool,
        monitor_by_default,
        matcher,
    })
}

fn detector(kind: DetectorKind, r: &RuleFile, at: &str) -> Result<Detector, ConfigError> {
    let no_extra = |what: &str, present: bool| {
        if present {
            Err(ConfigError::new(
                format!("{at}.{what}"),
                "does not apply to this detector",
            ))
        } else {
            Ok(())
        }
    };
    if kind != DetectorKind::ChatTemplateMarkers {
        no_extra("markers", !r.markers.is_empty())?;
    }
    if kind != DetectorKind::SystemHeader {
        no_extra("starters", !r.starters.is_empty())?;
    }
    if kind != DetectorKind::InvisibleRun {
        no_extra("min_run", r.min_run.is_some())?;
    }
    Ok(match kind {
        DetectorKind::ChatTemplateMarkers => {
            if r.markers.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.markers"),
                    "must list markers",
                ));
            }
            let mut out = Vec::with_capacity(r.markers.len());
            for (i, m) in r.markers.iter().enumerate() {
                let squashed = super::normalize::squash(m);
                if !(squashed.starts_with('<') || squashed.starts_with('[')) || squashed.len() < 3 {
                    return Err(ConfigError::new(
                        format!("{at}.markers[{i}]"),
                        "a marker starts with `<` or `[` (the matcher looks only there)",
                    ));
                }
                out.push(squashed);
            }
            Detector::ChatTemplateMarkers(out)
        }
        DetectorKind::SystemHeader => {
            if r.starters.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.starters"),
                    "must list words",
                ));
            }
            Detector::SystemHeader(inline(&r.starters, &format!("{at}.starters"))?)
        }
        DetectorKind::UnicodeTags => Detector::UnicodeTags,
        DetectorKind::InvisibleRun => match r.min_run {
            Some(n) if n >= 2 => Detector::InvisibleRun(n),
            _ => {
                return Err(ConfigError::new(
                    format!("{at}.min_run"),
                    "must be a number of characters, at least 2",
                ))
            }
        },
        DetectorKind::Base64 => Detector::Base64,
        DetectorKind::Hex => Detector::Hex,
        DetectorKind::UrlEncoded => Detector::UrlEncoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_pack_compiles() {
        let pack = Pack::shipped("screening.pack").unwrap();
        assert!(!pack.version.is_empty());
        assert!(pack.rules.len() > 20);
        // Every detector is in the shipped pack.
        let detectors = pack
            .rules
            .iter()
            .filter(|r| matches!(r.matcher, Matcher::Detector(_)))
            .count();
        assert_eq!(detectors, 7);
    }

    #[test]
    fn class_references_expand_and_include_other_classes() {
        let pack = Pack::parse(
            r#"{"format":1,"version":"t","classes":{"A":["x","y"],"B":["@A","z"]},
                "rules":[{"id":"io.t","category":"instruction_override",
                          "templates":[{"slots":["B","?A","gap 2",["w"],{"opt":["v"]}],"not_before":"A"}]}]}"#,
            "p",
        )
        .unwrap();
        let Matcher::Templates(t) = &pack.rules[0].matcher else {
            panic!()
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            t[0].slots,
            vec![
                SlotDef::Req(s(&["x", "y", "z"])),
                SlotDef::Opt(s(&["x", "y"])),
                SlotDef::Gap(2),
                SlotDef::Req(s(&["w"])),
                SlotDef::Opt(s(&["v"])),
            ]
        );
        assert_eq!(t[0].not_before, s(&["x", "y"]));
    }

    fn err(json: &str) -> String {
        Pack::parse(json, "p").unwrap_err().to_string()
    }

    #[test]
    fn malformed_packs_are_refused_with_the_path() {
        let rule = |r: &str| {
            format!(
                r#"{{"format":1,"version":"t","classes":{{"A":["x"],"C":["@C"]}},"rules":[{r}]}}"#
            )
        };
        let cases = [
            (
                r#"{"format":2,"version":"t","rules":[]}"#.to_string(),
                "p.format",
            ),
            (
                r#"{"format":1,"version":" ","rules":[]}"#.to_string(),
                "p.version",
            ),
            (
                r#"{"format":1,"version":"t","rules":[],"extra":1}"#.to_string(),
                "extra",
            ),
            (
                r#"{"format":1,"version":"t","classes":{"lower":["x"]},"rules":[]}"#.to_string(),
                "p.classes.lower",
            ),
            (
                rule(r#"{"id":"io.t","category":"nope","phrases":["x"]}"#),
                "p.rules[0].category",
            ),
            (
                rule(r#"{"id":"jb.t","category":"instruction_override","phrases":["x"]}"#),
                "p.rules[0].id",
            ),
            (
                rule(r#"{"id":"Io","category":"instruction_override","phrases":["x"]}"#),
                "p.rules[0].id",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","phrases":["x"]},{"id":"io.t","category":"instruction_override","phrases":["y"]}"#,
                ),
                "p.rules[1].id",
            ),
            (
                rule(r#"{"id":"io.t","category":"instruction_override"}"#),
                "p.rules[0]",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","phrases":["x"],"detector":"hex"}"#,
                ),
                "p.rules[0]",
            ),
            (
                rule(r#"{"id":"io.t","category":"instruction_override","phrases":["!!"]}"#),
                "p.rules[0].phrases[0]",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","templates":[{"slots":["NOPE"]}]}"#,
                ),
                "p.rules[0].templates[0].slots[0]",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","templates":[{"slots":["C"]}]}"#,
                ),
                "p.classes.C",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","templates":[{"slots":["?A"]}]}"#,
                ),
                "p.rules[0].templates[0].slots[0]",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","templates":[{"slots":["A","gap 99"]}]}"#,
                ),
                "p.rules[0].templates[0].slots[1]",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","templates":[{"slots":["A"],"not_after":"NOPE"}]}"#,
                ),
                "p.rules[0].templates[0].not_after",
            ),
            (
                rule(
                    r#"{"id":"ri.t","category":"role_impersonation","detector":"chat_template_markers","markers":["im_start"]}"#,
                ),
                "p.rules[0].markers[0]",
            ),
            (
                rule(
                    r#"{"id":"smg.t","category":"smuggling","detector":"hex"},{"id":"smg.u","category":"smuggling","detector":"hex"}"#,
                ),
                "p.rules[1].detector",
            ),
            (
                rule(r#"{"id":"smg.t","category":"smuggling","detector":"invisible_run"}"#),
                "p.rules[0].min_run",
            ),
            (
                rule(r#"{"id":"smg.t","category":"smuggling","detector":"telepathy"}"#),
                "p.rules[0].detector",
            ),
            (
                rule(
                    r#"{"id":"io.t","category":"instruction_override","phrases":["x"],"default_action":"off"}"#,
                ),
                "p.rules[0].default_action",
            ),
        ];
        for (json, want) in cases {
            let e = err(&json);
            assert!(e.contains(want), "{json}\n=> {e}\nwanted path {want}");
        }
    }

    /// No run of six words of a validation file may appear in the pack: its
    /// phrases must generalise, not fingerprint single items (issue 12).
    #[test]
    fn no_six_word_run_of_the_validation_files_is_in_the_pack() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/prompt_injection");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: {} not present", dir.display());
            return;
        };
        let words = |s: &str| -> Vec<String> {
            super::super::normalize::phrase(s, false)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        // Every 6-word run of every string in the pack file.
        let pack: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
        let mut runs = std::collections::HashSet::new();
        let mut strings = Vec::new();
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&pack["rules"], &mut strings);
        walk(&pack["classes"], &mut strings);
        for s in &strings {
            let w = words(s);
            for win in w.windows(6) {
                runs.insert(win.join(" "));
            }
        }
        let mut checked = 0;
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            checked += 1;
            let w = words(&text);
            for win in w.windows(6) {
                assert!(
                    !runs.contains(&win.join(" ")),
                    "pack contains `{}` from {}",
                    win.join(" "),
                    e.path().display()
                );
            }
        }
        assert!(checked > 0);
    }
}
