//! Request-body validation errors (each becomes a 400 with its code).
//!
//! Messages name the JSON field by our own path (`messages[3].content`) and
//! the configured limit, never the user's text or model name.

use std::fmt;

pub use crate::llm_api::shapes::ValidationError;

impl ValidationError {
    /// Stable snake_case code for the 400 body, the log and the metric.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::InvalidJson => "invalid_json",
            ValidationError::InvalidBody { .. } => "invalid_body",
            ValidationError::MissingMessages => "missing_messages",
            ValidationError::TooManyMessages { .. } => "too_many_messages",
            ValidationError::MessageTooLong { .. } => "message_too_long",
            ValidationError::PromptTooLong { .. } => "prompt_too_long",
            ValidationError::MaxTokensTooHigh { .. } => "max_tokens_too_high",
            ValidationError::ModelNotAllowed => "model_not_allowed",
            ValidationError::DuplicateJsonKey => "duplicate_json_key",
            ValidationError::BodyTooLarge { .. } => "body_too_large",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, expected: &'static str) -> Self {
        ValidationError::InvalidBody {
            field: field.into(),
            expected,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationError::InvalidJson => write!(f, "request body is not valid json"),
            ValidationError::DuplicateJsonKey => {
                write!(f, "request body has an object with a duplicate key")
            }
            ValidationError::InvalidBody { field, expected } => {
                if field.is_empty() {
                    write!(f, "request body must be {expected}")
                } else {
                    write!(f, "`{field}` must be {expected}")
                }
            }
            ValidationError::MissingMessages => {
                write!(
                    f,
                    "request body has no `messages` (or `input` / `prompt`) to send to the model"
                )
            }
            ValidationError::TooManyMessages { max } => {
                write!(f, "too many messages: at most {max} are accepted")
            }
            ValidationError::MessageTooLong { index, max } => {
                write!(
                    f,
                    "message {index} is too long: at most {max} characters are accepted"
                )
            }
            ValidationError::PromptTooLong { max } => {
                write!(
                    f,
                    "prompt is too long: at most {max} characters in total are accepted"
                )
            }
            ValidationError::MaxTokensTooHigh { max } => {
                write!(f, "max tokens is above the limit of {max}")
            }
            ValidationError::ModelNotAllowed => write!(f, "model is not allowed on this route"),
            ValidationError::BodyTooLarge { max } => write!(
                f,
                "request body is too large: at most {max} bytes are accepted"
            ),
        }
    }
}

impl std::error::Error for ValidationError {}

/// An `allowed_models` entry: exact name or prefix (written with a trailing `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelPattern {
    Exact(String),
    Prefix(String),
}

impl ModelPattern {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        match s.strip_suffix('*') {
            Some(prefix) if prefix.contains('*') => None,
            Some(prefix) => Some(ModelPattern::Prefix(prefix.to_string())),
            None if s.contains('*') => None,
            None => Some(ModelPattern::Exact(s.to_string())),
        }
    }

    pub(crate) fn matches(&self, model: &str) -> bool {
        match self {
            ModelPattern::Exact(m) => m == model,
            ModelPattern::Prefix(p) => model.starts_with(p.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases = [
            (ValidationError::InvalidJson, "invalid_json"),
            (
                ValidationError::invalid("messages", "an array"),
                "invalid_body",
            ),
            (ValidationError::MissingMessages, "missing_messages"),
            (
                ValidationError::TooManyMessages { max: 1 },
                "too_many_messages",
            ),
            (
                ValidationError::MessageTooLong { index: 0, max: 1 },
                "message_too_long",
            ),
            (ValidationError::PromptTooLong { max: 1 }, "prompt_too_long"),
            (
                ValidationError::MaxTokensTooHigh { max: 1 },
                "max_tokens_too_high",
            ),
            (ValidationError::ModelNotAllowed, "model_not_allowed"),
            (ValidationError::BodyTooLarge { max: 1 }, "body_too_large"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn invalid_body_message_names_the_field() {
        let err = ValidationError::invalid("messages[2].content", "a string or an array");
        assert_eq!(
            err.to_string(),
            "`messages[2].content` must be a string or an array"
        );
    }

    #[test]
    fn model_patterns_are_exact_or_trailing_star_prefix() {
        assert_eq!(
            ModelPattern::parse("gpt-4o"),
            Some(ModelPattern::Exact("gpt-4o".into()))
        );
        assert_eq!(
            ModelPattern::parse("gpt-4o*"),
            Some(ModelPattern::Prefix("gpt-4o".into()))
        );
        assert_eq!(ModelPattern::parse("g*t"), None);
        assert_eq!(ModelPattern::parse(" "), None);
        assert!(ModelPattern::Prefix("claude-".into()).matches("claude-sonnet-4"));
        assert!(!ModelPattern::Exact("gpt-4o".into()).matches("gpt-4o-mini"));
    }
}
