//! Finding the token in a request: a header (with an optional prefix such as
//! `Bearer `) or a query parameter, in configured order.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use super::error::AuthError;

/// A compiled token source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A header, lowercase, and the prefix its value must start with
    /// (case-insensitive; empty means the whole value is the token).
    Header {
        /// Lowercase header name.
        name: String,
        /// Prefix, compared case-insensitively.
        prefix: String,
    },
    /// A query parameter (its name as it appears, before decoding).
    Query(String),
}

/// The token from the first source that carries one.
///
/// A source carrying several tokens (two `authorization` headers with the
/// prefix, a repeated query parameter) is refused: which one the upstream
/// would read is unknowable.
pub fn extract(
    sources: &[TokenSource],
    headers: &[(String, String)],
    path: &str,
    max_bytes: usize,
) -> Result<Option<String>, AuthError> {
    for source in sources {
        let found = match source {
            TokenSource::Header { name, prefix } => from_headers(headers, name, prefix)?,
            TokenSource::Query(name) => from_query(path, name, max_bytes)?,
        };
        if let Some(token) = found {
            if token.len() > max_bytes {
                return Err(AuthError::TooLarge);
            }
            return Ok(Some(token));
        }
    }
    Ok(None)
}

fn from_headers(
    headers: &[(String, String)],
    name: &str,
    prefix: &str,
) -> Result<Option<String>, AuthError> {
    let mut found: Option<&str> = None;
    for (n, v) in headers {
        if !n.eq_ignore_ascii_case(name) {
            continue;
        }
        let Some(rest) = strip_prefix_ignore_case(v.trim(), prefix) else {
            continue;
        };
        let token = rest.trim();
        if token.is_empty() {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::Malformed(
                "the request carries more than one token",
            ));
        }
        found = Some(token);
    }
    Ok(found.map(str::to_string))
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        value.get(prefix.len()..)
    } else {
        None
    }
}

fn from_query(path: &str, name: &str, max_bytes: usize) -> Result<Option<String>, AuthError> {
    let Some((_, query)) = path.split_once('?') else {
        return Ok(None);
    };
    let query = query.split('#').next().unwrap_or("");
    let mut found: Option<String> = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != name && percent_decode(k).as_deref() != Some(name) {
            continue;
        }
        // Percent-encoding at most triples the length: refuse before decoding a huge value.
        if v.len() > max_bytes.saturating_mul(3) {
            return Err(AuthError::TooLarge);
        }
        let token = percent_decode(v).ok_or(AuthError::Malformed(
            "the query parameter is not valid utf-8",
        ))?;
        if token.is_empty() {
            continue;
        }
        if found.is_some() {
            return Err(AuthError::Malformed(
                "the request carries more than one token",
            ));
        }
        found = Some(token);
    }
    Ok(found)
}

/// Decodes `%XX` escapes and `+` (form encoding for a space). A `%` not
/// followed by two hex digits is kept as is. `None` if the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1)
                    .and_then(|h| hex_value(*h))
                    .zip(bytes.get(i + 2).and_then(|l| hex_value(*l)));
                if let Some((h, l)) = hex {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> TokenSource {
        TokenSource::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bearer_prefix_is_case_insensitive() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER   abc.def.ghi  ",
        ] {
            let got = extract(&[bearer()], &h(&[("authorization", value)]), "/", 8192).unwrap();
            assert_eq!(got.as_deref(), Some("abc.def.ghi"), "{value}");
        }
    }

    #[test]
    fn header_name_is_case_insensitive() {
        let got = extract(&[bearer()], &h(&[("Authorization", "Bearer t")]), "/", 8192).unwrap();
        assert_eq!(got.as_deref(), Some("t"));
    }

    #[test]
    fn other_schemes_carry_no_token() {
        let got = extract(
            &[bearer()],
            &h(&[("authorization", "Basic dXNlcjpwdw==")]),
            "/",
            8192,
        )
        .unwrap();
        assert_eq!(got, None);
        let got = extract(&[bearer()], &h(&[("authorization", "Bearer ")]), "/", 8192).unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn named_header_without_prefix() {
        let src = TokenSource::Header {
            name: "x-api-token".into(),
            prefix: String::new(),
        };
        let got = extract(&[src], &h(&[("x-api-token", "a.b.c")]), "/", 8192).unwrap();
        assert_eq!(got.as_deref(), Some("a.b.c"));
    }

    #[test]
    fn query_parameter_is_url_decoded() {
        let src = TokenSource::Query("access_token".into());
        let got = extract(
            &[src],
            &[],
            "/v1/x?a=1&access_token=a%2Eb.c%5F&z=2#frag",
            8192,
        )
        .unwrap();
        assert_eq!(got.as_deref(), Some("a.b.c_"));
    }

    #[test]
    fn first_source_carrying_a_token_wins() {
        let sources = [bearer(), TokenSource::Query("access_token".into())];
        let got = extract(&sources, &[], "/?access_token=q", 8192).unwrap();
        assert_eq!(got.as_deref(), Some("q"));
        let got = extract(
            &sources,
            &h(&[("authorization", "Bearer hdr")]),
            "/?access_token=q",
            8192,
        )
        .unwrap();
        assert_eq!(got.as_deref(), Some("hdr"));
    }

    #[test]
    fn no_source_gives_none() {
        assert_eq!(
            extract(&[bearer()], &h(&[("x", "y")]), "/", 8192).unwrap(),
            None
        );
    }

    #[test]
    fn two_tokens_are_refused() {
        let err = extract(
            &[bearer()],
            &h(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
            "/",
            8192,
        )
        .unwrap_err();
        assert_eq!(err.code(), "jwt_malformed");
        let err = extract(&[TokenSource::Query("t".into())], &[], "/?t=a&t=b", 8192).unwrap_err();
        assert_eq!(err.code(), "jwt_malformed");
    }

    #[test]
    fn oversized_tokens_are_refused() {
        let big = format!("Bearer {}", "a".repeat(101));
        assert_eq!(
            extract(&[bearer()], &h(&[("authorization", &big)]), "/", 100),
            Err(AuthError::TooLarge)
        );
        let path = format!("/?t={}", "%41".repeat(101));
        assert_eq!(
            extract(&[TokenSource::Query("t".into())], &[], &path, 100),
            Err(AuthError::TooLarge)
        );
    }

    #[test]
    fn percent_decoding_keeps_stray_percent_signs() {
        assert_eq!(percent_decode("a%zz%4").as_deref(), Some("a%zz%4"));
        assert_eq!(percent_decode("%E2%82%AC+x").as_deref(), Some("€ x"));
        assert_eq!(percent_decode("%FF"), None);
    }
}
