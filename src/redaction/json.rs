//! Rewrites string values inside a JSON document without touching the rest.
//!
//! A small scanner walks the document once, decodes each string value
//! (`\"`, `\\`, `\uXXXX` with surrogate pairs), hands it to a callback with
//! its path, and splices the callback's replacement back in, re-encoded
//! minimally. Everything else (key order, number spelling, whitespace) is
//! copied byte for byte, which `serde_json::Value` would not do.

use std::borrow::Cow;

/// Deepest nesting accepted; deeper documents are refused rather than risk the stack.
const MAX_DEPTH: usize = 128;

/// Why a document could not be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not valid UTF-8 or not valid JSON.
    Invalid,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// One step of the path to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    Key(Cow<'a, str>),
    Index(usize),
    /// Last step of the path handed to the callback for an object key
    /// itself (the key's name, not its value).
    ObjectKey,
}

/// What the walker does besides handing strings to the callback.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Values of `logprobs` / `top_logprobs` keys become `null` (objects) or
    /// `[]` (arrays): their tokens and bytes spell the text out again.
    pub drop_logprobs: bool,
}

/// Walks `doc`; for each string value `f(path, decoded)` may return a
/// replacement. Returns `None` when nothing was replaced.
#[cfg(test)]
pub(crate) fn rewrite_strings<'a>(
    doc: &'a [u8],
    f: &mut dyn FnMut(&[Seg<'a>], &str) -> Option<String>,
) -> Result<Option<Vec<u8>>, JsonError> {
    rewrite(doc, Options::default(), f)
}

/// What replaces a string value (or key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replacement {
    /// The whole decoded string becomes this.
    Whole(String),
    /// Spans of the decoded string are replaced; the rest stays.
    Spans(Edits),
}

/// Replacements of spans of one decoded string: `spans[k] = (start, end,
/// to)` replaces `start..end` (byte offsets, sorted, not overlapping) with
/// `text[previous to..to]`. One buffer for every replacement of the string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Edits {
    pub spans: Vec<(usize, usize, usize)>,
    pub text: String,
}

impl Edits {
    /// Each span with its replacement text.
    fn iter(&self) -> impl Iterator<Item = (usize, usize, &str)> {
        let mut from = 0;
        self.spans.iter().map(move |&(s, e, to)| {
            let with = self.text.get(from..to).unwrap_or("");
            from = to;
            (s, e, with)
        })
    }

    /// The decoded string `s` with the edits applied.
    fn apply_to(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for (start, end, with) in self.iter() {
            out.push_str(s.get(last..start).unwrap_or(""));
            out.push_str(with);
            last = end;
        }
        out.push_str(s.get(last..).unwrap_or(""));
        out
    }
}

/// [`rewrite_strings`] with options. Object keys are handed to `f` too,
/// with a path ending in [`Seg::ObjectKey`].
pub(crate) fn rewrite<'a>(
    doc: &'a [u8],
    opts: Options,
    f: &mut dyn FnMut(&[Seg<'a>], &str) -> Option<String>,
) -> Result<Option<Vec<u8>>, JsonError> {
    rewrite_with(doc, opts, &mut |p, s| f(p, s).map(Replacement::Whole))
}

/// [`rewrite`] where `f` may replace spans only: a string without escapes
/// then keeps its raw bytes between the spans (nothing decoded, copied to
/// a new string or re-encoded), and only the replacements are encoded.
pub(crate) fn rewrite_with<'a>(
    doc: &'a [u8],
    opts: Options,
    f: &mut dyn FnMut(&[Seg<'a>], &str) -> Option<Replacement>,
) -> Result<Option<Vec<u8>>, JsonError> {
    let text = std::str::from_utf8(doc).map_err(|_| JsonError::Invalid)?;
    let mut w = Walker {
        t: text.as_bytes(),
        s: text,
        pos: 0,
        out: Vec::new(),
        copied: 0,
        changed: false,
        path: Vec::new(),
        opts,
        quiet: 0,
    };
    w.ws();
    w.value(f, 0)?;
    w.ws();
    if w.pos != w.t.len() {
        return Err(JsonError::Invalid);
    }
    if !w.changed {
        return Ok(None);
    }
    let rest = &doc[w.copied..];
    w.out.extend_from_slice(rest);
    Ok(Some(w.out))
}

struct Walker<'a> {
    t: &'a [u8],
    s: &'a str,
    pos: usize,
    out: Vec<u8>,
    copied: usize,
    changed: bool,
    path: Vec<Seg<'a>>,
    opts: Options,
    /// Inside a value being dropped: no callbacks.
    quiet: usize,
}

impl<'a> Walker<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.t.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.t.get(self.pos).copied()
    }

    fn value(
        &mut self,
        f: &mut dyn FnMut(&[Seg<'a>], &str) -> Option<Replacement>,
        depth: usize,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        match self.peek().ok_or(JsonError::Invalid)? {
            b'{' => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(JsonError::Invalid);
                    }
                    let (key, kstart, kend) = self.string()?;
                    if self.quiet == 0 {
                        self.path.push(Seg::ObjectKey);
                        let new = f(&self.path, &key);
                        self.path.pop();
                        if let Some(new) = new {
                            let raw = matches!(key, Cow::Borrowed(_));
                            self.replace(&key, raw, kstart, kend, &new);
                        }
                    }
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(JsonError::Invalid);
                    }
                    self.pos += 1;
                    self.ws();
                    let drop = self.opts.drop_logprobs
                        && self.quiet == 0
                        && (key == "logprobs" || key == "top_logprobs")
                        && matches!(self.peek(), Some(b'{' | b'['));
                    self.path.push(Seg::Key(key));
                    if drop {
                        let vstart = self.pos;
                        let array = self.peek() == Some(b'[');
                        self.quiet += 1;
                        let r = self.value(f, depth + 1);
                        self.quiet -= 1;
                        r?;
                        let empty: &[u8] = if array { b"[]" } else { b"null" };
                        if self.t.get(vstart..self.pos) != Some(empty) {
                            let before = self.t.get(self.copied..vstart).unwrap_or(&[]);
                            self.out.extend_from_slice(before);
                            self.out.extend_from_slice(empty);
                            self.copied = self.pos;
                            self.changed = true;
                        }
                    } else {
                        self.value(f, depth + 1)?;
                    }
                    self.path.pop();
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(JsonError::Invalid),
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                let mut i = 0;
                loop {
                    self.ws();
                    self.path.push(Seg::Index(i));
                    self.value(f, depth + 1)?;
                    self.path.pop();
                    i += 1;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(JsonError::Invalid),
                    }
                }
            }
            b'"' => {
                let (decoded, start, end) = self.string()?;
                if self.quiet > 0 {
                    return Ok(());
                }
                if let Some(new) = f(&self.path, &decoded) {
                    let raw = matches!(decoded, Cow::Borrowed(_));
                    self.replace(&decoded, raw, start, end, &new);
                }
                Ok(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(JsonError::Invalid);
                }
                Ok(())
            }
            _ => Err(JsonError::Invalid),
        }
    }

    /// Carries out `new` for the string literal at `start..end` whose
    /// decoded value is `decoded`; `raw`: the literal has no escapes, so
    /// its bytes between the quotes are `decoded`.
    fn replace(&mut self, decoded: &str, raw: bool, start: usize, end: usize, new: &Replacement) {
        match new {
            Replacement::Whole(w) => {
                if w != decoded {
                    self.splice(start, end, w);
                }
            }
            Replacement::Spans(edits) if edits.spans.is_empty() => {}
            // No escapes: the raw bytes between the quotes are the decoded
            // string, so its offsets are the document's, shifted by `start + 1`.
            Replacement::Spans(edits) if raw => {
                let body = start + 1;
                for (s, e, with) in edits.iter() {
                    let before = self.t.get(self.copied..body + s).unwrap_or(&[]);
                    self.out.extend_from_slice(before);
                    encode_into(with, &mut self.out);
                    self.copied = body + e;
                }
                self.changed = true;
            }
            Replacement::Spans(edits) => {
                let w = edits.apply_to(decoded);
                if w != decoded {
                    self.splice(start, end, &w);
                }
            }
        }
    }

    /// Replaces the string literal at `start..end` with `new`, encoded.
    fn splice(&mut self, start: usize, end: usize, new: &str) {
        let before = self.t.get(self.copied..start).unwrap_or(&[]);
        self.out.extend_from_slice(before);
        encode_string(new, &mut self.out);
        self.copied = end;
        self.changed = true;
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        if self.t.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(JsonError::Invalid)
        }
    }

    /// Parses the string at `pos` (which is `"`); returns the decoded value
    /// and the byte span including the quotes.
    fn string(&mut self) -> Result<(Cow<'a, str>, usize, usize), JsonError> {
        let start = self.pos;
        let body = start + 1;
        let mut i = body + plain_len(self.t.get(body..).unwrap_or(&[]));
        // fast path: no escapes
        while let Some(&b) = self.t.get(i) {
            match b {
                b'"' => {
                    self.pos = i + 1;
                    let s = self.s.get(body..i).ok_or(JsonError::Invalid)?;
                    return Ok((Cow::Borrowed(s), start, i + 1));
                }
                b'\\' => break,
                0..=0x1f => return Err(JsonError::Invalid),
                _ => i += 1,
            }
        }
        let mut out = String::from(self.s.get(body..i).ok_or(JsonError::Invalid)?);
        loop {
            let b = *self.t.get(i).ok_or(JsonError::Invalid)?;
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok((Cow::Owned(out), start, i + 1));
                }
                b'\\' => {
                    let e = *self.t.get(i + 1).ok_or(JsonError::Invalid)?;
                    i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4(i)?;
                            i += 4;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                // a high surrogate: combine with a following low one
                                if self.t.get(i..i + 2) == Some(b"\\u") {
                                    let lo = self.hex4(i + 2)?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        i += 6;
                                        char::from_u32(
                                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                        )
                                    } else {
                                        None
                                    }
                                } else {
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            // A lone surrogate cannot be UTF-8; it becomes U+FFFD if the string is rewritten.
                            out.push(c.unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(JsonError::Invalid),
                    }
                }
                0..=0x1f => return Err(JsonError::Invalid),
                _ => {
                    // copy one UTF-8 char
                    let rest = self.s.get(i..).ok_or(JsonError::Invalid)?;
                    let c = rest.chars().next().ok_or(JsonError::Invalid)?;
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
    }

    fn hex4(&self, i: usize) -> Result<u32, JsonError> {
        let h = self.t.get(i..i + 4).ok_or(JsonError::Invalid)?;
        let mut v = 0u32;
        for &b in h {
            let d = char::from(b).to_digit(16).ok_or(JsonError::Invalid)?;
            v = v * 16 + d;
        }
        Ok(v)
    }
}

/// How many leading bytes of `b` need no escaping in a JSON string: not
/// `"`, `\` or a control character. Eight bytes at a time (Wasm has no
/// SIMD here; one 64-bit word test replaces eight byte tests).
pub(crate) fn plain_len(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    for chunk in b.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let q = w ^ (LO * u64::from(b'"'));
        let bs = w ^ (LO * u64::from(b'\\'));
        // A zero byte in `q` or `bs`, or a byte below 0x20 in `w`.
        let hit = (q.wrapping_sub(LO) & !q)
            | (bs.wrapping_sub(LO) & !bs)
            | (w.wrapping_sub(LO * 0x20) & !w);
        if hit & HI != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if matches!(c, b'"' | b'\\' | 0..=0x1f) {
            break;
        }
        i += 1;
    }
    i
}

/// Writes `s` as a JSON string literal, escaping only what JSON requires.
pub(crate) fn encode_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    encode_into(s, out);
    out.push(b'"');
}

/// Writes the inside of a JSON string literal for `s` (no quotes).
fn encode_into(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    let mut last = 0;
    loop {
        let i = last + plain_len(b.get(last..).unwrap_or(&[]));
        let Some(&c) = b.get(i) else { break };
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            _ => None,
        };
        out.extend_from_slice(b.get(last..i).unwrap_or(&[]));
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
        }
        last = i + 1;
    }
    out.extend_from_slice(b.get(last..).unwrap_or(&[]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper_all(doc: &str) -> String {
        let out = rewrite_strings(doc.as_bytes(), &mut |p, s| {
            (p.last() != Some(&Seg::ObjectKey)).then(|| s.to_uppercase())
        })
        .unwrap();
        String::from_utf8(out.unwrap_or_else(|| doc.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn untouched_parts_are_copied_byte_for_byte() {
        let doc = r#"{ "z": 1.50e3, "a" : [true, null, "x"] }"#;
        assert_eq!(
            upper_all(doc),
            r#"{ "z": 1.50e3, "a" : [true, null, "X"] }"#
        );
    }

    #[test]
    fn escapes_are_decoded_and_reencoded_minimally() {
        let doc = r#"{"s":"say \"hi\" \u0040 \\ \ud83d\ude00 \/"}"#;
        let out = rewrite_strings(doc.as_bytes(), &mut |p, s| {
            (p.last() != Some(&Seg::ObjectKey)).then(|| format!("{s}!"))
        })
        .unwrap()
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["s"], "say \"hi\" @ \\ 😀 /!");
    }

    #[test]
    fn paths_name_keys_and_indices() {
        let doc = r#"{"choices":[{"delta":{"content":"hi"}}]}"#;
        let mut seen = Vec::new();
        rewrite_strings(doc.as_bytes(), &mut |p, _| {
            if p.last() != Some(&Seg::ObjectKey) {
                seen.push(p.to_vec());
            }
            None
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![vec![
                Seg::Key("choices".into()),
                Seg::Index(0),
                Seg::Key("delta".into()),
                Seg::Key("content".into())
            ]]
        );
    }

    #[test]
    fn object_keys_are_offered_with_an_object_key_path() {
        let doc = r#"{"a@b.co":{"k":"v"}}"#;
        let out = rewrite(doc.as_bytes(), Options::default(), &mut |p, s| {
            (p.last() == Some(&Seg::ObjectKey) && s.contains('@')).then(|| "[K]".to_string())
        })
        .unwrap()
        .unwrap();
        assert_eq!(out, br#"{"[K]":{"k":"v"}}"#);
    }

    #[test]
    fn logprobs_are_dropped_when_asked() {
        let doc = r#"{"choices":[{"text":"x","logprobs":{"tokens":["41","11"],"top_logprobs":[{"a":1}]}},{"logprobs":[{"token":"4","top_logprobs":[{"token":"4"}]}]},{"logprobs":null}]}"#;
        let mut seen = Vec::new();
        let out = rewrite(
            doc.as_bytes(),
            Options {
                drop_logprobs: true,
            },
            &mut |_, s| {
                seen.push(s.to_string());
                None
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            out,
            br#"{"choices":[{"text":"x","logprobs":null},{"logprobs":[]},{"logprobs":null}]}"#
        );
        assert!(!seen.iter().any(|s| s == "41"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        for doc in ["{", r#"{"a" 1}"#, r#"["x"] x"#, "\"a\nb\"", r#""\q""#, ""] {
            assert!(
                rewrite_strings(doc.as_bytes(), &mut |_, _| None).is_err(),
                "{doc:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let doc = "[".repeat(10_000);
        assert_eq!(
            rewrite_strings(doc.as_bytes(), &mut |_, _| None),
            Err(JsonError::TooDeep)
        );
    }

    #[test]
    fn plain_len_stops_at_the_first_byte_that_needs_escaping() {
        let slow = |b: &[u8]| {
            b.iter()
                .position(|&c| matches!(c, b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(b.len())
        };
        // Every special byte at every offset of a 20-byte run (both word
        // lanes and the tail), among ASCII and UTF-8 bytes.
        let base = "abcdé€fghijklmnopqr".as_bytes().to_vec();
        assert_eq!(plain_len(&base), slow(&base));
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..base.len() {
                let mut b = base.clone();
                b[at] = special;
                assert_eq!(plain_len(&b), slow(&b), "{special:#x} at {at}");
            }
        }
        for b in 0u8..=255 {
            let v = vec![b; 17];
            assert_eq!(plain_len(&v), slow(&v), "{b:#x}");
        }
    }

    /// Span edits: keeps raw bytes between spans when the string has no
    /// escapes, and re-encodes the whole string when it has.
    fn edit_spans(doc: &str, needle: &str, with: &str) -> String {
        let out = rewrite_with(doc.as_bytes(), Options::default(), &mut |p, s| {
            if p.last() == Some(&Seg::ObjectKey) {
                return None;
            }
            let mut edits = Edits::default();
            let mut from = 0;
            while let Some(at) = s.get(from..).and_then(|r| r.find(needle)) {
                edits.text.push_str(with);
                edits
                    .spans
                    .push((from + at, from + at + needle.len(), edits.text.len()));
                from += at + needle.len();
            }
            Some(Replacement::Spans(edits))
        })
        .unwrap();
        String::from_utf8(out.unwrap_or_else(|| doc.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn span_edits_keep_the_bytes_around_them() {
        assert_eq!(
            edit_spans(
                r#"{"a": "x SECRET y SECRET", "b": [1, "SECRET"]}"#,
                "SECRET",
                "[R]"
            ),
            r#"{"a": "x [R] y [R]", "b": [1, "[R]"]}"#
        );
        // A replacement that needs escaping is encoded.
        assert_eq!(
            edit_spans(r#"{"a":"x SECRET"}"#, "SECRET", "\"q\""),
            r#"{"a":"x \"q\""}"#
        );
        // Escapes: the decoded string is edited and encoded minimally.
        assert_eq!(
            edit_spans(r#"{"a":"\u0041 SECRET \"x\""}"#, "SECRET", "[R]"),
            r#"{"a":"A [R] \"x\""}"#
        );
        // No span: the document is not rewritten.
        let doc = r#"{"a":"\u0041 b"}"#;
        assert_eq!(edit_spans(doc, "SECRET", "[R]"), doc);
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = Vec::new();
        encode_string("a\u{1}\"\n", &mut out);
        assert_eq!(out, br#""a\u0001\"\n""#);
    }
}
