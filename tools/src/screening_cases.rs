//! Labelled screening cases and how a tool screens them: our fixture files
//! (`tests/fixtures/screening/*.jsonl`, the calibration set), one JSON object
//! per line with `text`, `label` (`attack` / `benign`), optional `kind` and
//! `role`. Shared by `tollgate-eval-screening` and `tollgate-threshold-sweep`.

// Each binary includes this file and reads only some fields (the sweep no `kind`).
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Attack,
    Benign,
}

pub struct Case {
    pub text: String,
    pub label: Label,
    pub tool: bool,
    /// The fixture's `kind` (paraphrase set: override, leak, persona,
    /// multilingual, …), for the per-kind breakdown.
    pub kind: String,
}

/// The non-empty lines of a JSON-lines file, parsed.
pub fn read_jsonl(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

/// The cases of one of our fixture files.
pub fn load_fixture(path: &Path) -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    for v in read_jsonl(path)? {
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{}: missing text", path.display()))?;
        let label = match v.get("label").and_then(Value::as_str) {
            Some("attack") => Label::Attack,
            Some("benign") => Label::Benign,
            _ => {
                return Err(format!(
                    "{}: label must be attack or benign",
                    path.display()
                ))
            }
        };
        let tool = v.get("role").and_then(Value::as_str) == Some("tool");
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        out.push(Case {
            text: text.to_string(),
            label,
            tool,
            kind: kind.to_string(),
        });
    }
    Ok(out)
}

/// The chat request a case is screened as: one user message, or a tool
/// result for `role: tool`.
pub fn body(case: &Case) -> Vec<u8> {
    let msg = if case.tool {
        serde_json::json!({"role": "tool", "tool_call_id": "call_1", "content": case.text})
    } else {
        serde_json::json!({"role": "user", "content": case.text})
    };
    serde_json::to_vec(&serde_json::json!({"model": "eval", "messages": [msg]})).unwrap_or_default()
}
