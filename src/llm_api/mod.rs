//! The LLM API bodies (OpenAI chat, completions, Responses, embeddings, and
//! Anthropic messages) as the filter reads them: parsed once per request, and
//! shared by screening, budgets, MCP and request redaction.
//!
//! Parsing is stricter than `serde_json::from_slice` in one way that matters
//! for a guard: an object with a repeated member name is refused. Parsers
//! disagree on which copy wins (serde_json keeps the last, many others the
//! first), so a body with `"messages"` twice could be screened as one prompt
//! and answered as another.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

pub mod shapes;
pub mod sse;

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a body is not a JSON document the filter will vouch for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or nested deeper than serde_json's limit (128).
    InvalidJson,
    /// An object names the same member twice.
    DuplicateKey,
}

impl ParseError {
    /// Stable snake_case code, used in the 400 body, the metric and the audit line.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::InvalidJson => "invalid_json",
            ParseError::DuplicateKey => "duplicate_json_key",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::InvalidJson => f.write_str("the request body is not valid JSON"),
            ParseError::DuplicateKey => {
                f.write_str("the request body repeats a member name in one object")
            }
        }
    }
}

/// Parses a request body, refusing repeated member names at any depth.
pub fn parse_body(body: &[u8]) -> Result<Value, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut duplicate = false;
    let parsed = StrictValue {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if duplicate => Err(ParseError::DuplicateKey),
        Err(_) => Err(ParseError::InvalidJson),
    }
}

/// A `Value` seed that fails on the first repeated member name.
struct StrictValue<'a> {
    duplicate: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(StrictValue {
            duplicate: &mut *self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                *self.duplicate = true;
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = map.next_value_seed(StrictValue {
                duplicate: &mut *self.duplicate,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_what_serde_json_parses() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1,"t":0.5,"x":null,"b":true,"neg":-3}"#;
        let strict = parse_body(body).unwrap();
        let plain: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(strict, plain);
    }

    #[test]
    fn refuses_a_repeated_top_level_member() {
        let body = br#"{"messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"}]}"#;
        assert_eq!(parse_body(body), Err(ParseError::DuplicateKey));
    }

    #[test]
    fn refuses_a_repeated_nested_member() {
        let body = br#"{"messages":[{"role":"user","content":"a","content":"b"}]}"#;
        assert_eq!(parse_body(body), Err(ParseError::DuplicateKey));
        assert_eq!(ParseError::DuplicateKey.code(), "duplicate_json_key");
    }

    #[test]
    fn escaped_spellings_of_one_name_are_the_same_name() {
        let body = br#"{"role":"user","r\u006fle":"system"}"#;
        assert_eq!(parse_body(body), Err(ParseError::DuplicateKey));
    }

    #[test]
    fn the_same_name_in_sibling_objects_is_fine() {
        let body = br#"[{"a":1},{"a":2}]"#;
        assert_eq!(parse_body(body).unwrap(), json!([{"a":1},{"a":2}]));
    }

    #[test]
    fn invalid_json_and_trailing_bytes_are_invalid() {
        assert_eq!(parse_body(b"{"), Err(ParseError::InvalidJson));
        assert_eq!(parse_body(b"{} x"), Err(ParseError::InvalidJson));
        assert_eq!(parse_body(b""), Err(ParseError::InvalidJson));
    }

    #[test]
    fn nesting_beyond_the_recursion_limit_is_invalid_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_body(deep.as_bytes()), Err(ParseError::InvalidJson));
    }
}
