//! The JSON Schema subset MCP servers use for `inputSchema`: `type`,
//! `required`, `properties`, `additionalProperties`, `items`, `enum`,
//! `const`, `minimum` / `maximum` (and the exclusive forms), `minLength` /
//! `maxLength`, `minItems` / `maxItems` and `pattern` (regex-lite syntax).
//! Other keywords (`anyOf`, `$ref`, `format`, ...) are ignored: the check is
//! a floor, not a full validator.
//!
//! Violations name the argument path and the keyword, never the value, so
//! they can go into an error message and the audit line.

use regex_lite::Regex;
use serde_json::Value;

/// Deepest nesting followed (deeper values are not checked further).
const MAX_DEPTH: usize = 32;
/// Most violations reported for one call.
const MAX_ERRORS: usize = 8;

/// One way the arguments break the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: `arguments.priority`, `arguments.tags[2]`.
    pub path: String,
    /// The keyword that failed, e.g. `required`, `enum`.
    pub keyword: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.keyword {
            "type" => "has the wrong type",
            "required" => "is required",
            "additionalProperties" => "is not an allowed property",
            "enum" | "const" => "is not one of the allowed values",
            "minimum" | "exclusiveMinimum" => "is below the minimum",
            "maximum" | "exclusiveMaximum" => "is above the maximum",
            "minLength" => "is too short",
            "maxLength" => "is too long",
            "minItems" => "has too few items",
            "maxItems" => "has too many items",
            "pattern" => "does not match the pattern",
            _ => "is invalid",
        };
        write!(f, "{} {what} ({})", self.path, self.keyword)
    }
}

/// Checks that a schema is usable: `type` names known types and every
/// `pattern` compiles. `Err` is a lowercase reason with the schema path.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    check_schema_at(schema, "", 0)
}

fn check_schema_at(schema: &Value, at: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested too deeply"));
    }
    let Some(obj) = schema.as_object() else {
        if schema.is_boolean() {
            return Ok(());
        }
        return Err(format!("{at}: a schema must be an object"));
    };
    if let Some(t) = obj.get("type") {
        let names: Vec<&Value> = match t {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for n in names {
            let ok = n.as_str().is_some_and(|s| {
                matches!(
                    s,
                    "object" | "array" | "string" | "number" | "integer" | "boolean" | "null"
                )
            });
            if !ok {
                return Err(format!("{at}.type: unknown type"));
            }
        }
    }
    if let Some(p) = obj.get("pattern") {
        let Some(p) = p.as_str() else {
            return Err(format!("{at}.pattern: must be a string"));
        };
        Regex::new(p).map_err(|e| format!("{at}.pattern: {e}"))?;
    }
    if let Some(props) = obj.get("properties") {
        let Some(props) = props.as_object() else {
            return Err(format!("{at}.properties: must be an object"));
        };
        for (k, v) in props {
            check_schema_at(v, &format!("{at}.properties.{k}"), depth + 1)?;
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = obj.get(key) {
            check_schema_at(v, &format!("{at}.{key}"), depth + 1)?;
        }
    }
    Ok(())
}

/// Validates `value` against `schema`; empty when it conforms. `root` names
/// the value in violations (`arguments`).
pub fn validate(schema: &Value, value: &Value, root: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(schema, value, root, 0, &mut out);
    out
}

fn push(out: &mut Vec<Violation>, path: &str, keyword: &'static str) {
    if out.len() < MAX_ERRORS {
        out.push(Violation {
            path: path.to_string(),
            keyword,
        });
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64()
                || value.is_u64()
                || value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn walk(schema: &Value, value: &Value, path: &str, depth: usize, out: &mut Vec<Violation>) {
    if depth > MAX_DEPTH || out.len() >= MAX_ERRORS {
        return;
    }
    let obj = match schema {
        Value::Bool(false) => {
            push(out, path, "false");
            return;
        }
        Value::Object(obj) => obj,
        _ => return,
    };
    if let Some(t) = obj.get("type") {
        let ok = match t {
            Value::String(s) => type_matches(s, value),
            Value::Array(a) => a
                .iter()
                .any(|n| n.as_str().is_some_and(|s| type_matches(s, value))),
            _ => true,
        };
        if !ok {
            push(out, path, "type");
            return;
        }
    }
    if let Some(Value::Array(allowed)) = obj.get("enum") {
        if !allowed.iter().any(|a| a == value) {
            push(out, path, "enum");
        }
    }
    if let Some(c) = obj.get("const") {
        if c != value {
            push(out, path, "const");
        }
    }
    match value {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                let bound = |k: &str| obj.get(k).and_then(Value::as_f64);
                if bound("minimum").is_some_and(|m| x < m) {
                    push(out, path, "minimum");
                }
                if bound("maximum").is_some_and(|m| x > m) {
                    push(out, path, "maximum");
                }
                if bound("exclusiveMinimum").is_some_and(|m| x <= m) {
                    push(out, path, "exclusiveMinimum");
                }
                if bound("exclusiveMaximum").is_some_and(|m| x >= m) {
                    push(out, path, "exclusiveMaximum");
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if obj
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len < m)
            {
                push(out, path, "minLength");
            }
            if obj
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len > m)
            {
                push(out, path, "maxLength");
            }
            if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
                // An unusable pattern in a learned schema is not the caller's fault.
                if let Ok(re) = Regex::new(p) {
                    if !re.is_match(s) {
                        push(out, path, "pattern");
                    }
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if obj
                .get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| n < m)
            {
                push(out, path, "minItems");
            }
            if obj
                .get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
            {
                push(out, path, "maxItems");
            }
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), depth + 1, out);
                }
            }
        }
        Value::Object(map) => {
            if let Some(Value::Array(req)) = obj.get("required") {
                for r in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        push(out, &format!("{path}.{r}"), "required");
                    }
                }
            }
            let props = obj.get("properties").and_then(Value::as_object);
            let additional = obj.get("additionalProperties");
            for (k, v) in map {
                let child = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => walk(s, v, &child, depth + 1, out),
                    None => match additional {
                        Some(Value::Bool(false)) => push(out, &child, "additionalProperties"),
                        Some(s @ Value::Object(_)) => walk(s, v, &child, depth + 1, out),
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ticket() -> Value {
        json!({
            "type": "object",
            "required": ["title", "priority"],
            "additionalProperties": false,
            "properties": {
                "title": {"type": "string", "minLength": 3, "maxLength": 20},
                "priority": {"type": "string", "enum": ["low", "high"]},
                "count": {"type": "integer", "minimum": 1, "maximum": 5},
                "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}}
            }
        })
    }

    fn keywords(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|x| x.keyword).collect()
    }

    #[test]
    fn conforming_arguments_pass() {
        let args = json!({"title": "disk full", "priority": "high", "count": 2, "code": "OPS-12", "tags": ["a"]});
        assert!(validate(&ticket(), &args, "arguments").is_empty());
    }

    #[test]
    fn missing_required_field_is_named() {
        let v = validate(&ticket(), &json!({"title": "disk full"}), "arguments");
        assert_eq!(v[0].path, "arguments.priority");
        assert_eq!(v[0].keyword, "required");
    }

    #[test]
    fn value_outside_enum_is_refused() {
        let v = validate(
            &ticket(),
            &json!({"title": "abc", "priority": "urgent"}),
            "arguments",
        );
        assert_eq!(keywords(&v), ["enum"]);
    }

    #[test]
    fn wrong_type_stops_at_that_value() {
        let v = validate(
            &ticket(),
            &json!({"title": 3, "priority": "low"}),
            "arguments",
        );
        assert_eq!(keywords(&v), ["type"]);
        assert_eq!(v[0].path, "arguments.title");
    }

    #[test]
    fn integer_rejects_fractions_and_bounds_apply() {
        let s = ticket();
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"abc","priority":"low","count":1.5}),
                "a"
            )),
            ["type"]
        );
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"abc","priority":"low","count":9}),
                "a"
            )),
            ["maximum"]
        );
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"abc","priority":"low","count":0}),
                "a"
            )),
            ["minimum"]
        );
        assert!(validate(
            &s,
            &json!({"title":"abc","priority":"low","count":2.0}),
            "a"
        )
        .is_empty());
    }

    #[test]
    fn string_lengths_count_characters() {
        let s = ticket();
        assert_eq!(
            keywords(&validate(&s, &json!({"title":"ab","priority":"low"}), "a")),
            ["minLength"]
        );
        assert!(validate(&s, &json!({"title":"ééé","priority":"low"}), "a").is_empty());
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"x".repeat(21),"priority":"low"}),
                "a"
            )),
            ["maxLength"]
        );
    }

    #[test]
    fn pattern_is_checked() {
        let s = ticket();
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"abc","priority":"low","code":"ops-1"}),
                "a"
            )),
            ["pattern"]
        );
    }

    #[test]
    fn extra_properties_are_refused_when_closed() {
        let v = validate(
            &ticket(),
            &json!({"title":"abc","priority":"low","admin":true}),
            "arguments",
        );
        assert_eq!(v[0].path, "arguments.admin");
        assert_eq!(v[0].keyword, "additionalProperties");
    }

    #[test]
    fn array_items_and_sizes_are_checked() {
        let s = ticket();
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"abc","priority":"low","tags":["a",1]}),
                "a"
            )),
            ["type"]
        );
        assert_eq!(
            keywords(&validate(
                &s,
                &json!({"title":"abc","priority":"low","tags":["a","b","c"]}),
                "a"
            )),
            ["maxItems"]
        );
    }

    #[test]
    fn violation_messages_never_carry_the_value() {
        let v = validate(
            &ticket(),
            &json!({"title":"abc","priority":"SECRET-VALUE"}),
            "arguments",
        );
        assert!(!v[0].to_string().contains("SECRET-VALUE"));
        assert!(v[0].to_string().contains("arguments.priority"));
    }

    #[test]
    fn unusable_schemas_are_refused_at_load() {
        assert!(check_schema(&ticket()).is_ok());
        assert!(check_schema(&json!({"type": "strin"}))
            .unwrap_err()
            .contains(".type"));
        assert!(
            check_schema(&json!({"properties": {"a": {"pattern": "("}}}))
                .unwrap_err()
                .contains("properties.a.pattern")
        );
        assert!(check_schema(&json!(3)).is_err());
    }

    #[test]
    fn deep_documents_do_not_overflow() {
        let mut schema = json!({"type": "object"});
        let mut value = json!(1);
        for _ in 0..200 {
            schema = json!({"type": "object", "additionalProperties": schema});
            value = json!({"a": value});
        }
        let _ = validate(&schema, &value, "a");
    }
}
