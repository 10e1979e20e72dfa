//! The hold-back window over streamed text.
//!
//! Text arrives in pieces; a value may be split anywhere (`jo` | `hn@exam` |
//! `ple.com`). The window keeps the not-yet-emitted tail and releases text
//! as soon as it can no longer be part of a match:
//! - on every piece, the detectors say where the suffix that could still
//!   grow into a match begins (`Detectors::hold_start`: the trailing word,
//!   a trailing chain of number groups, an open quoted secret or PEM
//!   header); everything before it is redacted and released at once, so
//!   prose leaves in the piece it arrived in;
//! - `window_bytes` caps what is held: past it, everything but the last
//!   `window_bytes / 2` is released (also the rule when a custom pattern is
//!   on, whose alphabet is unknown);
//! - the cut never splits a match: a match straddling it moves the cut back
//!   to its start, so it is held until it is complete;
//! - a match still growing past `max_match_bytes` (an endless PEM block, a
//!   runaway token) is redacted as far as it goes and its continuation is
//!   suppressed, so memory stays bounded and nothing leaks;
//! - the last 64 emitted bytes stay as left context, so boundaries and
//!   `password=` keywords before the cut are still seen.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;

use super::Counts;
use super::Inner;
use memchr::memmem;

/// Emitted text kept as left context for the next scan: more than any
/// detector looks left of a value (phone context words: 48 bytes).
const CONTEXT_BYTES: usize = 96;
/// Bytes of a suppressed PEM block kept while looking for its END line.
const PEM_TAIL_BYTES: usize = 96;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Carry {
    #[default]
    None,
    /// Drop token characters continuing a forced-out match.
    Token,
    /// Drop everything up to the end of a private-key block.
    Pem { tail: String },
}

/// Per-stream (or per-choice) window state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TextWindow {
    pending: String,
    ctx: String,
    partial: Vec<u8>,
    carry: Carry,
    /// Decode JSON escapes before detection (raw text that may be JSON source).
    escapes: bool,
    /// The last release was forced (the `window_bytes` cap, an over-long
    /// match, a custom pattern's fixed hold): the left context may end
    /// inside something that could still grow into a match, so the next
    /// piece is scanned in full.
    forced: bool,
    /// The left context is ASCII without `:`, `=` or backslashes (the last
    /// release was a quiet one, whose whole text was checked).
    ctx_plain: bool,
}

/// Whether no finding of `text` can start at or after `base`, nor cross it,
/// so that a piece needs no detection, only its hold point. True when:
/// - the text is ASCII without backslashes (its own folded view);
/// - it has no `:` or `=` (no keyword assignment, URL password or IPv6
///   whose value could start in the new bytes);
/// - the new bytes (`text[base..]`) have no digit (every number entity
///   holds one) and no `@` (an e-mail's start lies before its `@`);
/// - no word of the new bytes as long as the shortest word-shaped secret
///   holds a secret's prefix or follows `bearer ` (keys, tokens, JWTs, PEM
///   headers and bearer values lie inside one such word).
///
/// Nothing crosses `base` when the last release was not forced: the text
/// before `base` was released because nothing in it could grow into a
/// match (`Detectors::hold_start`; it never ends inside a word). Findings
/// entirely before `base` only lower the hold point below `base`, where
/// the cut is clamped anyway.
///
/// `ctx_plain`: the text before `base` is known to be ASCII without `:`,
/// `=` or backslashes (it was checked with the last quiet piece).
fn quiet(text: &[u8], base: usize, ctx_plain: bool) -> bool {
    use super::detectors::{is_site_word_byte, word_may_hold_secret, MIN_WORD_SECRET};
    let check = if ctx_plain {
        text.get(base..).unwrap_or(&[])
    } else {
        text
    };
    if !check.is_ascii() || memchr::memchr3(b':', b'=', b'\\', check).is_some() {
        return false;
    }
    let mut start = base;
    for (i, &b) in text.iter().enumerate().skip(base) {
        if b.is_ascii_digit() || b == b'@' {
            return false;
        }
        if !is_site_word_byte(b) {
            if i - start >= MIN_WORD_SECRET && word_may_hold_secret(text, start, i) {
                return false;
            }
            start = i + 1;
        }
    }
    let end = text.len();
    !(end.saturating_sub(start) >= MIN_WORD_SECRET && word_may_hold_secret(text, start, end))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.+/=".contains(&b)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl TextWindow {
    /// A window over raw text that may be JSON source (fallbacks, plain
    /// text, non-JSON SSE data): JSON escapes are decoded before detection.
    pub(crate) fn raw() -> Self {
        Self {
            escapes: true,
            ..Self::default()
        }
    }

    /// A window whose buffers are sized for the usual pieces and left
    /// context up front, instead of growing over the first pieces.
    pub(crate) fn sized() -> Self {
        Self {
            pending: String::with_capacity(64),
            ctx: String::with_capacity(CONTEXT_BYTES + 64),
            ..Self::default()
        }
    }

    /// Bytes held back (not yet emitted); left context is not counted.
    pub(crate) fn held_bytes(&self) -> usize {
        self.pending.len() + self.partial.len()
    }

    /// Bytes held.
    pub(crate) fn buffered_bytes(&self) -> usize {
        let carry = match &self.carry {
            Carry::Pem { tail } => tail.len(),
            _ => 0,
        };
        self.pending.len() + self.ctx.len() + self.partial.len() + carry
    }

    /// Feeds raw bytes; an incomplete UTF-8 sequence at the end waits for
    /// the next chunk, invalid bytes become U+FFFD.
    pub(crate) fn push_bytes(
        &mut self,
        r: &Inner,
        mask: u64,
        bytes: &[u8],
        counts: &mut Counts,
        out: &mut String,
    ) {
        let mut buf;
        let data: &[u8] = if self.partial.is_empty() {
            bytes
        } else {
            buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(bytes);
            &buf
        };
        let mut rest = data;
        let mut text = String::new();
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(good).unwrap_or(""));
                    match e.error_len() {
                        Some(n) => {
                            text.push('\u{FFFD}');
                            rest = bad.get(n..).unwrap_or(&[]);
                        }
                        None => {
                            self.partial = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        self.push_str(r, mask, &text, counts, out);
    }

    /// Feeds text.
    pub(crate) fn push_str(
        &mut self,
        r: &Inner,
        mask: u64,
        s: &str,
        counts: &mut Counts,
        out: &mut String,
    ) {
        let s = match self.apply_carry(s) {
            Some(rest) => rest,
            None => return,
        };
        if s.is_empty() {
            return;
        }
        self.pending.push_str(&s);
        self.release(r, mask, false, counts, out);
    }

    /// Flushes everything held.
    pub(crate) fn finish(&mut self, r: &Inner, mask: u64, counts: &mut Counts, out: &mut String) {
        if !self.partial.is_empty() {
            let p = std::mem::take(&mut self.partial);
            self.pending.push_str(&String::from_utf8_lossy(&p));
        }
        if let Carry::Pem { .. } = self.carry {
            // The block never ended: nothing after its start may leave.
            self.pending.clear();
            self.carry = Carry::None;
            return;
        }
        self.release(r, mask, true, counts, out);
    }

    /// Applies a suppression carried over from a forced-out match; returns
    /// the text that survives, or `None` if all of it was suppressed.
    fn apply_carry<'s>(&mut self, s: &'s str) -> Option<Cow<'s, str>> {
        match &mut self.carry {
            Carry::None => Some(Cow::Borrowed(s)),
            Carry::Token => {
                let skip = s.bytes().take_while(|&b| is_token_byte(b)).count();
                if skip == s.len() {
                    return None;
                }
                self.carry = Carry::None;
                Some(Cow::Borrowed(s.get(skip..).unwrap_or("")))
            }
            Carry::Pem { tail } => {
                tail.push_str(s);
                if let Some(k) = memmem::find(tail.as_bytes(), b"-----END ") {
                    let after = k + 9;
                    if let Some(c) =
                        memmem::find(tail.as_bytes().get(after..).unwrap_or(&[]), b"-----")
                    {
                        let rest = tail.get(after + c + 5..).unwrap_or("").to_string();
                        self.carry = Carry::None;
                        return Some(Cow::Owned(rest));
                    }
                    if tail.len() - k > PEM_TAIL_BYTES * 2 {
                        // An END line this long is malformed: keep suppressing from its start.
                        let cut = floor_boundary(tail, k + 1);
                        tail.drain(..cut);
                    }
                    return None;
                }
                if tail.len() > PEM_TAIL_BYTES {
                    let cut = floor_boundary(tail, tail.len() - PEM_TAIL_BYTES);
                    tail.drain(..cut);
                }
                None
            }
        }
    }

    fn release(&mut self, r: &Inner, mask: u64, last: bool, counts: &mut Counts, out: &mut String) {
        // The left context and the pending text, scanned together; the
        // buffer is kept and reused for the next piece.
        let mut text = std::mem::take(&mut self.ctx);
        text.push_str(&self.pending);
        let base = text.len() - self.pending.len();
        if !last && !self.forced && quiet(text.as_bytes(), base, self.ctx_plain) {
            if let Some(h) = r.hold_without_findings(mask, text.as_bytes()) {
                #[cfg(test)]
                let twin = {
                    // Tests hold this path to the full scan, piece by piece.
                    let mut w = self.clone();
                    w.ctx = text.clone();
                    w.ctx.truncate(base);
                    w.forced = true; // takes the full scan
                    let mut o = String::new();
                    w.release(r, mask, false, &mut Counts::default(), &mut o);
                    (w, o)
                };
                #[cfg(test)]
                let from = out.len();
                self.release_quiet(r, text, base, h, out);
                #[cfg(test)]
                {
                    let (mut w, o) = twin;
                    // A cache flag of the quiet path: checked, then set alike.
                    assert!(
                        !self.ctx_plain
                            || (self.ctx.is_ascii() && !self.ctx.contains([':', '=', '\\'])),
                        "ctx_plain"
                    );
                    w.ctx_plain = self.ctx_plain;
                    assert_eq!(out.get(from..), Some(o.as_str()), "quiet release");
                    assert_eq!(*self, w, "quiet release state");
                }
                return;
            }
        }
        self.release_scanned(r, mask, last, text, base, counts, out);
    }

    /// [`release`](Self::release) of a piece that [`quiet`] cleared: no
    /// detection, the hold point `h` cuts it.
    fn release_quiet(
        &mut self,
        r: &Inner,
        mut text: String,
        base: usize,
        h: usize,
        out: &mut String,
    ) {
        let mut cut = floor_boundary(&text, h).max(base);
        self.forced = false;
        self.ctx_plain = true;
        if text.len() - cut > r.window {
            cut = floor_boundary(&text, text.len() - r.window / 2).max(cut);
            self.forced = true;
        }
        out.push_str(text.get(base..cut).unwrap_or(""));
        let ctx_from = floor_boundary(&text, cut.saturating_sub(CONTEXT_BYTES));
        self.pending.clear();
        self.pending.push_str(text.get(cut..).unwrap_or(""));
        text.truncate(cut);
        text.drain(..ctx_from);
        self.ctx = text;
        self.carry = Carry::None;
    }

    #[allow(clippy::too_many_arguments)]
    fn release_scanned(
        &mut self,
        r: &Inner,
        mask: u64,
        last: bool,
        mut text: String,
        base: usize,
        counts: &mut Counts,
        out: &mut String,
    ) {
        let (all, hold) = r.scan(mask, &text, self.escapes, !last);
        let findings: Vec<_> = all.into_iter().filter(|f| f.start >= base).collect();
        let mut forced = hold.is_none();
        let mut cut = if last {
            text.len()
        } else {
            let h = hold.unwrap_or_else(|| text.len().saturating_sub(r.window / 2));
            let mut c = floor_boundary(&text, h).max(base);
            if text.len() - c > r.window {
                c = floor_boundary(&text, text.len() - r.window / 2).max(c);
                forced = true;
            }
            c
        };
        let mut carry = Carry::None;
        if let Some(f) = findings.iter().find(|f| f.start < cut && f.end > cut) {
            forced = true;
            if text.len() - f.start <= r.max_match {
                cut = f.start;
            } else if f.end < text.len() {
                cut = f.end;
            } else {
                // Still growing and too long to hold: redact what we have, suppress the rest.
                cut = text.len();
                carry = if f.entity == super::detectors::PRIVATE_KEY {
                    Carry::Pem {
                        tail: String::new(),
                    }
                } else {
                    Carry::Token
                };
            }
        }
        r.apply(&findings, &text, base, cut, counts, out);
        let ctx_from = floor_boundary(&text, cut.saturating_sub(CONTEXT_BYTES));
        self.pending.clear();
        self.pending.push_str(text.get(cut..).unwrap_or(""));
        if text.get(ctx_from..cut).is_some() {
            text.truncate(cut);
            text.drain(..ctx_from);
        } else {
            text.clear();
        }
        self.ctx = text;
        self.carry = carry;
        self.forced = forced;
        self.ctx_plain = false;
        if last {
            self.pending.clear();
        }
    }
}
