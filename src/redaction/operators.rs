//! What replaces a detected value: a placeholder, a mask, or a keyed hash.
//!
//! Every output is free of `"`, `\` and control characters, so a replacement
//! written into JSON source text (the streaming paths) keeps it valid JSON.

/// A compiled operator for one entity.
#[derive(Debug, Clone)]
pub(crate) enum Operator {
    /// Replace with a fixed placeholder, e.g. `[REDACTED:EMAIL]`.
    Replace(String),
    /// `*` for every character except the last `keep_last`.
    Mask { keep_last: usize },
    /// `[EMAIL:3f9a12c4b7e0]`: HMAC-SHA256 of the value under the deployment's key.
    Hash,
}

/// Number of hex characters of the HMAC kept in a hash token (48 bits).
const HASH_HEX_CHARS: usize = 12;

impl Operator {
    /// Writes the replacement for `value` of entity `name` to `out`.
    pub(crate) fn apply(&self, name: &str, value: &str, hash_key: &[u8], out: &mut String) {
        match self {
            Operator::Replace(p) => out.push_str(p),
            Operator::Mask { keep_last } => {
                let n = value.chars().count();
                // Never reveal more than half of a value, however short it is.
                let keep = (*keep_last).min(n / 2);
                out.extend(std::iter::repeat_n('*', n - keep));
                for c in value.chars().skip(n - keep) {
                    // A masked tail is shown as-is only when it is printable and JSON-safe.
                    if c == '"' || c == '\\' || c.is_control() {
                        out.push('*');
                    } else {
                        out.push(c);
                    }
                }
            }
            Operator::Hash => {
                // The entity name is mixed in so equal strings of different kinds stay unlinkable.
                let mut mac = hmac_sha256::HMAC::new(hash_key);
                mac.update(name.as_bytes());
                mac.update([0u8]);
                mac.update(value.as_bytes());
                let digest = mac.finalize();
                out.push('[');
                out.push_str(name);
                out.push(':');
                push_hex(out, digest.get(..HASH_HEX_CHARS / 2).unwrap_or_default());
                out.push(']');
            }
        }
    }
}

/// Appends `bytes` as lowercase hex (also the audit line's subject hash).
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    let digit = |n: u8| char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 });
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: &Operator, name: &str, value: &str, key: &[u8]) -> String {
        let mut s = String::new();
        op.apply(name, value, key, &mut s);
        s
    }

    #[test]
    fn replace_writes_the_placeholder() {
        assert_eq!(
            run(
                &Operator::Replace("[REDACTED:EMAIL]".into()),
                "EMAIL",
                "a@b.co",
                b""
            ),
            "[REDACTED:EMAIL]"
        );
    }

    #[test]
    fn mask_keeps_the_last_n_characters() {
        let op = Operator::Mask { keep_last: 4 };
        assert_eq!(
            run(&op, "CREDIT_CARD", "4111111111111111", b""),
            "************1111"
        );
    }

    #[test]
    fn mask_never_reveals_more_than_half() {
        let op = Operator::Mask { keep_last: 4 };
        assert_eq!(run(&op, "SECRET_ASSIGNMENT", "abcdef", b""), "***def");
    }

    #[test]
    fn hash_is_stable_per_key_and_differs_across_keys() {
        let a = run(
            &Operator::Hash,
            "EMAIL",
            "john@example.com",
            b"key-one-0123456789",
        );
        let b = run(
            &Operator::Hash,
            "EMAIL",
            "john@example.com",
            b"key-one-0123456789",
        );
        let c = run(
            &Operator::Hash,
            "EMAIL",
            "john@example.com",
            b"key-two-0123456789",
        );
        let d = run(
            &Operator::Hash,
            "EMAIL",
            "jane@example.com",
            b"key-one-0123456789",
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(
            a.starts_with("[EMAIL:") && a.ends_with(']') && a.len() == "[EMAIL:]".len() + 12,
            "{a}"
        );
        assert!(!a.contains("john"));
    }
}
