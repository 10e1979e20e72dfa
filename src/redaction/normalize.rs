//! A folded view of text for detection, with offsets back to the original.
//!
//! Values are disguised by characters that look like the usual ones:
//! full-width digits and `＠`, no-break and other Unicode spaces, zero-width
//! characters inside a number, Unicode dashes, and JSON escapes
//! (`alice\u0040example.com`) on the paths that see JSON source text. The
//! detectors only know ASCII shapes, so they run over a folded copy:
//! - full-width ASCII (U+FF01..U+FF5E) becomes ASCII (the NFKC mapping);
//! - Unicode spaces (NBSP, U+2000..U+200A, U+202F, U+205F, U+3000) become ` `;
//! - zero-width characters and the soft hyphen are dropped;
//! - Unicode hyphens and the minus sign become `-`; small `﹫` becomes `@`;
//! - with `escapes`, JSON escapes are decoded (`\uXXXX` with surrogate
//!   pairs, `\"`, `\\`, `\/`, `\n`, ...).
//!
//! Every folded byte remembers the original byte where its character began,
//! so a finding in the folded text masks the right original bytes (a finding
//! ending before a dropped character stops before it). ASCII text without a
//! backslash is its own folded view: nothing is copied.

use std::borrow::Cow;

/// The folded view of one text.
#[derive(Debug)]
pub(crate) struct Folded<'a> {
    /// The text the detectors see.
    pub text: Cow<'a, str>,
    /// `map[i]`: original byte offset of folded byte `i`; one extra entry
    /// for the end. `None` when the folded text is the original.
    map: Option<Vec<u32>>,
    orig_len: usize,
}

/// The folded form of one character: `None` drops it.
fn fold_char(c: char) -> Option<char> {
    Some(match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => return None,
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' => '-',
        '\u{FE6B}' => '@',
        _ => c,
    })
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &x in &b[..4] {
        v = v * 16 + char::from(x).to_digit(16)?;
    }
    Some(v)
}

/// Decodes the JSON escape at `s[i..]` (which starts with `\`): the
/// character and the escape's length, or `None` when it is not one.
fn escape_at(s: &[u8], i: usize) -> Option<(char, usize)> {
    let e = *s.get(i + 1)?;
    let c = match e {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(s.get(i + 2..)?)?;
            if (0xD800..0xDC00).contains(&hi) && s.get(i + 6..i + 8) == Some(b"\\u") {
                if let Some(lo) = s.get(i + 8..).and_then(hex4) {
                    if (0xDC00..0xE000).contains(&lo) {
                        let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
                        return Some((c, 12));
                    }
                }
            }
            return Some((char::from_u32(hi).unwrap_or('\u{FFFD}'), 6));
        }
        _ => return None,
    };
    Some((c, 2))
}

impl<'a> Folded<'a> {
    /// Folds `s`; `escapes` also decodes JSON escapes.
    pub(crate) fn new(s: &'a str, escapes: bool) -> Self {
        let b = s.as_bytes();
        let plain = b.is_ascii() && !(escapes && memchr::memchr(b'\\', b).is_some());
        if plain {
            return Self {
                text: Cow::Borrowed(s),
                map: None,
                orig_len: s.len(),
            };
        }
        let mut text = String::with_capacity(s.len());
        let mut map: Vec<u32> = Vec::with_capacity(s.len() + 1);
        let mut i = 0usize;
        while i < s.len() {
            let (c, len) = if escapes && b[i] == b'\\' {
                escape_at(b, i).unwrap_or(('\\', 1))
            } else {
                match s.get(i..).and_then(|r| r.chars().next()) {
                    Some(c) => (c, c.len_utf8()),
                    None => break,
                }
            };
            if let Some(f) = fold_char(c) {
                let at = u32::try_from(i).unwrap_or(u32::MAX);
                for _ in 0..f.len_utf8() {
                    map.push(at);
                }
                text.push(f);
            }
            i += len;
        }
        map.push(u32::try_from(s.len()).unwrap_or(u32::MAX));
        Self {
            text: Cow::Owned(text),
            map: Some(map),
            orig_len: s.len(),
        }
    }

    /// The original byte offset of folded byte offset `i`.
    pub(crate) fn orig(&self, i: usize) -> usize {
        match &self.map {
            None => i,
            Some(m) => m.get(i).map_or(self.orig_len, |&v| {
                usize::try_from(v).unwrap_or(self.orig_len)
            }),
        }
    }

    /// True when the folded text differs from the original.
    pub(crate) fn is_folded(&self) -> bool {
        self.map.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(s: &str, escapes: bool, needle: &str) -> String {
        let f = Folded::new(s, escapes);
        let at = f.text.find(needle).unwrap();
        s[f.orig(at)..f.orig(at + needle.len())].to_string()
    }

    #[test]
    fn ascii_is_borrowed_not_copied() {
        let f = Folded::new("plain text 123", true);
        assert!(!f.is_folded());
        assert_eq!(f.orig(5), 5);
    }

    #[test]
    fn full_width_digits_and_at_sign_fold_to_ascii() {
        let s = "mail ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com or ４１１１";
        let f = Folded::new(s, false);
        assert_eq!(f.text, "mail alice@example.com or 4111");
        assert_eq!(
            span(s, false, "alice@example.com"),
            "ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com"
        );
    }

    #[test]
    fn zero_width_is_dropped_and_nbsp_becomes_a_space() {
        let s = "4111\u{200B}1111\u{00A0}1111";
        let f = Folded::new(s, false);
        assert_eq!(f.text, "41111111 1111");
        assert_eq!(span(s, false, "41111111 1111"), s);
    }

    #[test]
    fn json_escapes_decode_and_map_to_the_escape() {
        let s = r#"x alice\u0040example.com \"q\" \ud83d\ude00 y"#;
        let f = Folded::new(s, true);
        assert_eq!(f.text, "x alice@example.com \"q\" 😀 y");
        assert_eq!(
            span(s, true, "alice@example.com"),
            r"alice\u0040example.com"
        );
    }

    #[test]
    fn a_lone_backslash_stays() {
        assert_eq!(Folded::new(r"a\qb\", true).text, r"a\qb\");
    }
}
