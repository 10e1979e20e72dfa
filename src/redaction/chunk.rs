//! The common chat chunk, recognised in one pass without a parse.
//!
//! Nearly every event of an OpenAI-style chat stream is the same shape:
//! an envelope (`id`, `object`, `created`, `model`, `system_fingerprint`,
//! other scalars), `choices` of objects with `index`, a `delta` holding a
//! role and string text fields, `logprobs: null`, `finish_reason: null`.
//! [`scan`] checks that shape byte by byte and returns where the text
//! strings are, so the SSE redactor can window them and copy everything
//! else through, instead of parsing the event and then walking it again.
//!
//! It accepts strictly less than the general path: any doubt (a nested
//! value it does not know, a duplicate key, a finish reason, usage, tool
//! calls, content parts, an escaped envelope string, a `\u` surrogate
//! escape, a number that is not a plain non-negative integer where one is
//! read, invalid UTF-8 or JSON) returns `None` and the event takes the
//! general path. A test holds both paths to the same output, byte for byte.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use super::json::plain_len;

/// The envelope fields the flush events repeat, in [`Plain::envelope`]'s order.
pub(crate) const ENVELOPE: [&str; 5] = ["id", "object", "created", "model", "system_fingerprint"];

/// Choice-level keys, as bits of [`Plain::choice_keys`].
pub(crate) const CHOICE_KEYS: [&str; 4] = ["index", "delta", "logprobs", "finish_reason"];

/// The delta text fields that are windowed.
const TEXT_FIELDS: [&str; 4] = ["content", "refusal", "reasoning_content", "reasoning"];

/// An envelope value as written (strings without escapes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lit<'a> {
    Str(&'a str),
    U64(u64),
    Bool(bool),
    Null,
}

/// One text string of the chunk: the literal at `start..end` (quotes
/// included), for choice `choice` and delta field `field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Text {
    pub start: usize,
    pub end: usize,
    /// The literal has escapes: decode it with [`decode`].
    pub escaped: bool,
    pub choice: u64,
    pub field: &'static str,
}

/// What the redactor reads from a plain chunk besides its texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plain<'a> {
    /// Present envelope fields, in [`ENVELOPE`]'s order.
    pub envelope: [Option<Lit<'a>>; 5],
    /// Each present envelope field's value as written (byte span).
    pub envelope_raw: [(usize, usize); 5],
    /// Pure streamed text: no role, no finish reason, no usage.
    pub droppable: bool,
    /// Which [`CHOICE_KEYS`] appear (the general path redacts choice-level
    /// keys as strings; the caller checks these are clean).
    pub choice_keys: u8,
}

struct P<'a> {
    t: &'a [u8],
    s: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.t.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.t.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// A string literal at `i`: `(start, end, escaped)`, `end` past the
    /// closing quote. Escapes are checked; surrogate escapes are refused.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            i += plain_len(self.t.get(i..)?);
            match *self.t.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((start, i + 1, escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *self.t.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let h = self.t.get(i + 2..i + 6)?;
                            let mut v = 0u32;
                            for &b in h {
                                v = v * 16 + char::from(b).to_digit(16)?;
                            }
                            if (0xD800..0xE000).contains(&v) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
    }

    /// An object key without escapes.
    fn key(&mut self) -> Option<&'a str> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let body = self.i + 1;
        let n = plain_len(self.t.get(body..)?);
        // Ends at an escape or a control character: not a plain key.
        if *self.t.get(body + n)? != b'"' {
            return None;
        }
        let k = self.s.get(body..body + n)?;
        self.i = body + n + 1;
        self.eat(b':')?;
        Some(k)
    }

    /// A non-negative integer that fits `u64`, in JSON's spelling.
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 || (n > 1 && self.t.get(start) == Some(&b'0')) {
            return None;
        }
        // A fraction or exponent makes it another number.
        if matches!(self.peek(), Some(b'.' | b'e' | b'E' | b'-' | b'+')) {
            return None;
        }
        Some(v)
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        self.ws();
        let end = self.i + lit.len();
        (self.t.get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// `null`, `true`, `false`, a string without escapes, or a plain integer.
    fn lit(&mut self) -> Option<Lit<'a>> {
        self.ws();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|_| Lit::Null),
            b't' => self.literal(b"true").map(|_| Lit::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Lit::Bool(false)),
            b'"' => {
                let (s, e, escaped) = self.string()?;
                if escaped {
                    return None;
                }
                self.s.get(s + 1..e - 1).map(Lit::Str)
            }
            b'0'..=b'9' => self.u64().map(Lit::U64),
            _ => None,
        }
    }

    /// Any JSON scalar (a value nobody reads), checked strictly.
    fn scalar(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.lit().map(|_| ()),
        }
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            p.i - s
        };
        let first = self.peek();
        let n = digits(self);
        if n == 0 || (n > 1 && first == Some(b'0')) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }

    /// `{` ... `}` with `f` reading each member's value after its key.
    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(());
        }
        loop {
            let k = self.key()?;
            f(self, k)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Sets bit `bit` of `seen`; `None` if it was set (a duplicate key).
fn once(seen: &mut u8, bit: usize) -> Option<()> {
    let m = 1u8 << bit;
    if *seen & m != 0 {
        return None;
    }
    *seen |= m;
    Some(())
}

/// Recognises a plain chat chunk; its text strings are appended to `texts`
/// in document order. `None` (with `texts` in any state) for anything else.
pub(crate) fn scan<'a>(payload: &'a [u8], texts: &mut Vec<Text>) -> Option<Plain<'a>> {
    let s = std::str::from_utf8(payload).ok()?;
    let mut p = P {
        t: payload,
        s,
        i: 0,
    };
    let mut plain = Plain {
        envelope: [None; 5],
        envelope_raw: [(0, 0); 5],
        droppable: true,
        choice_keys: 0,
    };
    let mut top = 0u8;
    let mut choices = false;
    p.object(|p, k| {
        if let Some(n) = ENVELOPE.iter().position(|e| *e == k) {
            once(&mut top, n)?;
            p.ws();
            let start = p.i;
            let lit = p.lit()?;
            *plain.envelope.get_mut(n)? = Some(lit);
            *plain.envelope_raw.get_mut(n)? = (start, p.i);
            return Some(());
        }
        match k {
            "choices" => {
                once(&mut top, 5)?;
                choices = true;
                read_choices(p, &mut plain, texts)
            }
            "usage" => {
                once(&mut top, 6)?;
                p.literal(b"null")
            }
            // Other scalars (`service_tier`, `obfuscation`, ...) are kept as
            // they are by both paths; anything nested takes the general one.
            _ => p.scalar(),
        }
    })?;
    p.ws();
    (choices && p.i == payload.len()).then_some(plain)
}

fn read_choices<'a>(p: &mut P<'a>, plain: &mut Plain<'a>, texts: &mut Vec<Text>) -> Option<()> {
    p.eat(b'[')?;
    let mut k: u64 = 0;
    loop {
        let first_text = texts.len();
        let mut seen = 0u8;
        let mut index = None;
        p.object(|p, key| {
            let bit = CHOICE_KEYS.iter().position(|c| *c == key)?;
            once(&mut seen, bit)?;
            match bit {
                0 => index = Some(p.u64()?),
                1 => read_delta(p, plain, texts)?,
                // `logprobs` and `finish_reason`: only `null` (a finish
                // flushes windows, logprobs may be dropped: general path).
                _ => p.literal(b"null")?,
            }
            Some(())
        })?;
        plain.choice_keys |= seen;
        let choice = index.unwrap_or(k);
        for t in texts.get_mut(first_text..)? {
            t.choice = choice;
        }
        k += 1;
        p.ws();
        match p.peek()? {
            b',' => p.i += 1,
            b']' => {
                p.i += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

fn read_delta<'a>(p: &mut P<'a>, plain: &mut Plain<'a>, texts: &mut Vec<Text>) -> Option<()> {
    let mut seen = 0u8;
    p.object(|p, key| {
        if key == "role" {
            once(&mut seen, 4)?;
            plain.droppable = false;
            p.ws();
            return if p.peek()? == b'"' {
                p.string().map(|_| ())
            } else {
                p.literal(b"null")
            };
        }
        let bit = TEXT_FIELDS.iter().position(|f| *f == key)?;
        once(&mut seen, bit)?;
        p.ws();
        if p.peek()? == b'n' {
            return p.literal(b"null");
        }
        let (start, end, escaped) = p.string()?;
        texts.push(Text {
            start,
            end,
            escaped,
            choice: 0,
            field: TEXT_FIELDS.get(bit)?,
        });
        Some(())
    })
}

/// The decoded value of a checked string literal (quotes included).
pub(crate) fn decode(lit: &str) -> String {
    let body = lit.get(1..lit.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                out.push(c);
            }
            Some(c) => out.push(c), // `"`, `\`, `/`
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Found = Vec<(String, u64, &'static str)>;

    fn texts_of(doc: &str) -> Option<(Plain<'_>, Found)> {
        let mut t = Vec::new();
        let plain = scan(doc.as_bytes(), &mut t)?;
        let v = t
            .iter()
            .map(|x| (decode(&doc[x.start..x.end]), x.choice, x.field))
            .collect();
        Some((plain, v))
    }

    #[test]
    fn plain_chunks_give_their_texts_and_envelope() {
        let doc = r#"{"id":"c","object":"chat.completion.chunk","created":17,"model":"m","system_fingerprint":null,"service_tier":"default","choices":[{"index":0,"delta":{"role":"assistant","content":"a \"b\"\n\u00e9"},"logprobs":null,"finish_reason":null}]}"#;
        let (plain, v) = texts_of(doc).unwrap();
        assert_eq!(v, vec![("a \"b\"\n\u{e9}".to_string(), 0, "content")]);
        assert!(!plain.droppable, "a role is not pure text");
        assert_eq!(
            plain.envelope,
            [
                Some(Lit::Str("c")),
                Some(Lit::Str("chat.completion.chunk")),
                Some(Lit::U64(17)),
                Some(Lit::Str("m")),
                Some(Lit::Null)
            ]
        );
        assert_eq!(plain.choice_keys, 0b1111);
        let doc = r#" { "choices" : [ {"index":3,"delta":{"reasoning":"x","content":null}} , {"delta":{"content":"y"}} ] , "usage" : null } "#;
        let (plain, v) = texts_of(doc).unwrap();
        assert!(plain.droppable);
        assert_eq!(
            v,
            vec![("x".into(), 3, "reasoning"), ("y".into(), 1, "content")]
        );
    }

    #[test]
    fn anything_unusual_is_left_to_the_general_path() {
        for doc in [
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"a"}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":null}]}"#,
            r#"{"choices":[{"index":"0","delta":{}}]}"#,
            r#"{"choices":[{"index":1.0,"delta":{}}]}"#,
            r#"{"choices":[{"index":01,"delta":{}}]}"#,
            r#"{"choices":[{"index":0,"other":1}]}"#,
            r#"{"choices":[{"index":0,"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"logprobs":{"content":[]}}]}"#,
            r#"{"choices":[{"index":0,"text":"a"}]}"#,
            r#"{"choices":[{"index":0,"index":0}]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\ud800"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\x"}}]}"#,
            "{\"choices\":[{\"delta\":{\"content\":\"a\u{1}\"}}]}",
            r#"{"choices":[],"choices":[]}"#,
            r#"{"choices":[]}"#,
            r#"{"choices":[{}],"usage":{"total_tokens":1}}"#,
            r#"{"choices":[{}],"x":{"y":"4111 1111 1111 1111"}}"#,
            r#"{"choices":[{}],"x":[1]}"#,
            r#"{"choices":[{}],"id":"a\"b"}"#,
            r#"{"choices":[{}],"created":-1}"#,
            r#"{"choices":[{}],"created":1e3}"#,
            r#"{"choices":[{}],"x":01}"#,
            r#"{"choices":[{}]} x"#,
            r#"{"choices":[{}],}"#,
            r#"{"choices":[{"delta":{"role":{"a":"b"}}}]}"#,
            r#"{"type":"content_block_delta","delta":{"text":"a"}}"#,
            r#"{"id":"a"}"#,
            "[1]",
            "",
        ] {
            assert!(
                scan(doc.as_bytes(), &mut Vec::new()).is_none(),
                "accepted {doc}"
            );
        }
        let invalid_utf8 = b"{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}";
        assert!(scan(invalid_utf8, &mut Vec::new()).is_none());
    }
}
