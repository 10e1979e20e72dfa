//! A JSON parse that refuses objects with duplicate keys.
//!
//! `serde_json` keeps the last of two equal keys; other parsers keep the
//! first. A body such as `{"messages": [benign], "messages": [attack]}` would
//! then be screened as one thing and read by the upstream as another, so
//! screening refuses it (400 `duplicate_json_key`). Same value model and the
//! same recursion limit as `serde_json::from_slice`.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a body could not be parsed strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictError {
    /// Not JSON, or nested too deeply.
    Invalid,
    /// An object repeats a key.
    DuplicateKey,
}

const DUPLICATE: &str = "tollgate: duplicate object key";

struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Strict, D::Error> {
        de::Deserialize::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// Parses `body`, refusing duplicate keys at any depth.
pub fn parse(body: &[u8]) -> Result<Value, StrictError> {
    match serde_json::from_slice::<Strict>(body) {
        Ok(Strict(v)) => Ok(v),
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err(StrictError::DuplicateKey),
        Err(_) => Err(StrictError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(parse(br#"{"a":1,"a":2}"#), Err(StrictError::DuplicateKey));
        assert_eq!(
            parse(br#"{"m":[{"role":"user","role":"system"}]}"#),
            Err(StrictError::DuplicateKey)
        );
        // Escaped spellings of the same key are the same key.
        assert_eq!(
            parse(br#"{"messages":1,"\u006dessages":2}"#),
            Err(StrictError::DuplicateKey)
        );
    }

    #[test]
    fn ordinary_json_parses_like_serde_json() {
        let body = br#"{"a":[1,-2,3.5,true,null,"x"],"b":{"c":"d"}}"#;
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(parse(body), Ok(v));
    }

    #[test]
    fn invalid_and_too_deep_json_are_invalid() {
        assert_eq!(parse(b"{"), Err(StrictError::Invalid));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse(deep.as_bytes()), Err(StrictError::Invalid));
    }
}
