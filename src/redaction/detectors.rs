//! Detectors: find candidate spans by shape, then confirm them in code.
//!
//! Each built-in entity has a stable name (used in config, placeholders,
//! metrics and the audit line). Detection is hand-written scanning over bytes
//! rather than one big regex: regex-lite has no lookaround and no literal
//! prefilter, and this runs on every response byte. One pass over the text
//! ([`Sites`]) finds where anything may match: digit runs, `@`, `:` and `=`,
//! and words long enough to be a key or token. Each detector starts from
//! those sites only, and the word-shaped secrets are one table
//! ([`WORD_SECRETS`]) of literal prefixes checked inside long words.
//! Boundaries are checked in code so that digits inside longer digit runs
//! never match.

use memchr::memmem;
use regex_lite::Regex;

use super::validate;

/// Built-in entity names, in id order.
pub const BUILTIN_ENTITIES: &[&str] = &[
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN",
    "IP_ADDRESS",
    "AWS_ACCESS_KEY",
    "OPENAI_KEY",
    "ANTHROPIC_KEY",
    "GITHUB_TOKEN",
    "SLACK_TOKEN",
    "GOOGLE_API_KEY",
    "JWT",
    "PRIVATE_KEY",
    "SECRET_ASSIGNMENT",
];

pub(crate) const EMAIL: u8 = 0;
pub(crate) const PHONE: u8 = 1;
pub(crate) const CREDIT_CARD: u8 = 2;
pub(crate) const US_SSN: u8 = 3;
pub(crate) const IBAN: u8 = 4;
pub(crate) const IP_ADDRESS: u8 = 5;
pub(crate) const AWS_ACCESS_KEY: u8 = 6;
pub(crate) const OPENAI_KEY: u8 = 7;
pub(crate) const ANTHROPIC_KEY: u8 = 8;
pub(crate) const GITHUB_TOKEN: u8 = 9;
pub(crate) const SLACK_TOKEN: u8 = 10;
pub(crate) const GOOGLE_API_KEY: u8 = 11;
pub(crate) const JWT: u8 = 12;
pub(crate) const PRIVATE_KEY: u8 = 13;
pub(crate) const SECRET_ASSIGNMENT: u8 = 14;

/// Maximum number of entities (built-in plus custom): profiles are `u64` bit masks.
pub(crate) const MAX_ENTITIES: usize = 64;

/// One detected span, in byte offsets of the scanned text (always on char boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finding {
    pub start: usize,
    pub end: usize,
    pub entity: u8,
    /// A phone in a national format, taken because a context word is near.
    pub by_context: bool,
}

/// Tie-break when two findings start at the same place with the same length:
/// lower wins. Specific, validated detectors beat generic ones.
fn priority(entity: u8) -> u8 {
    match entity {
        PRIVATE_KEY => 0,
        AWS_ACCESS_KEY | OPENAI_KEY | ANTHROPIC_KEY | GITHUB_TOKEN | SLACK_TOKEN
        | GOOGLE_API_KEY | JWT => 1,
        CREDIT_CARD | IBAN | US_SSN => 2,
        EMAIL | IP_ADDRESS => 3,
        SECRET_ASSIGNMENT => 4,
        PHONE => 5,
        _ => 6,
    }
}

/// The compiled detector set: built-ins plus operator-defined patterns.
#[derive(Debug)]
pub(crate) struct Detectors {
    custom: Vec<(u8, Regex)>,
}

/// Lowercase keywords whose following `=` / `:` value is a secret. Any left
/// context is allowed (`DB_PASSWORD`, `client_secret`, `x-api-key`), but the
/// separator must follow directly, so `max_tokens` or `token_count` never match.
const SECRET_KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "secret_key",
    "private_key",
    "token",
];

// ---- candidate sites --------------------------------------------------------

/// Byte classes for the one pass that finds where detectors may match.
const C_DIGIT: u8 = 1;
/// Bytes of a key, token, JWT, PEM header or bearer value: `[A-Za-z0-9_.~+/=-]`.
const C_WORD: u8 = 2;
/// `:` and `=`: assignment separators, URL schemes, IPv6.
const C_SEP: u8 = 4;
const C_AT: u8 = 8;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut k = 0u8;
        if c.is_ascii_digit() {
            k |= C_DIGIT;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'~' | b'+' | b'/' | b'=' | b'-')
        {
            k |= C_WORD;
        }
        if c == b':' || c == b'=' {
            k |= C_SEP;
        }
        if c == b'@' {
            k |= C_AT;
        }
        t[b] = k;
        b += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

thread_local! {
    static SITES: std::cell::RefCell<Sites> = std::cell::RefCell::new(Sites::default());
}

static PEM_BEGIN: std::sync::LazyLock<memmem::FinderRev<'static>> =
    std::sync::LazyLock::new(|| memmem::FinderRev::new(b"-----BEGIN "));
static DASHES: std::sync::LazyLock<memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memmem::Finder::new(b"-----"));

/// Shortest run of word bytes a word-shaped secret needs: a JWT's first
/// segment and `-----BEGIN` are 10 bytes; every other one is longer.
pub(crate) const MIN_WORD_SECRET: usize = 10;

/// Whether `b` is a byte of the words [`Sites`] tracks (`[A-Za-z0-9_.~+/=-]`).
pub(crate) fn is_site_word_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & C_WORD != 0
}

/// Whether the long word `t[s..e]` may hold a word-shaped secret: a
/// [`WORD_SECRETS`] prefix at one of its offsets, or a bearer value (the
/// checks [`Detectors::find_builtin`] starts from, for any entity).
pub(crate) fn word_may_hold_secret(t: &[u8], s: usize, e: usize) -> bool {
    let bearer = e - s >= 16
        && s >= 7
        && t.get(s - 7..s)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"bearer "));
    bearer
        || (s..e).any(|i| {
            let mut candidates = t.get(i).map_or(0, |&b| PREFIX_BY_FIRST[usize::from(b)]);
            while candidates != 0 {
                let k = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if WORD_SECRETS
                    .get(k)
                    .is_some_and(|w| t.get(i..).is_some_and(|r| r.starts_with(w.prefix)))
                {
                    return true;
                }
            }
            false
        })
}

/// Where detectors may match, found in one pass over the text. Every
/// detector starts from these sites instead of searching the text for its
/// own prefix: prose has few digits, few separators and few long words, so
/// most text is looked at once, by this pass only.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sites {
    /// Offsets where a run of ASCII digits begins.
    digit_starts: Vec<usize>,
    /// Maximal runs of word bytes at least [`MIN_WORD_SECRET`] long: every
    /// key, token, JWT, PEM header and bearer value lies inside one.
    words: Vec<(usize, usize)>,
    /// Offsets of `:` and `=`.
    seps: Vec<usize>,
    at_sign: bool,
}

impl Sites {
    /// One pass over `t`, eight bytes per step where it can: a chunk whose
    /// bytes are neither digits, separators nor `@` (most of prose) only
    /// moves the word tracking, which its eight classes give as a bit mask
    /// without a branch per byte. Other chunks take the byte loop. Same
    /// result as [`Sites::of_bytewise`] (a test compares them).
    #[cfg(test)]
    fn of(t: &[u8]) -> Self {
        let mut s = Sites::default();
        s.fill(t);
        s
    }

    /// [`Sites::of`] into this value's buffers (kept across calls).
    fn fill(&mut self, t: &[u8]) {
        const LO: u64 = 0x0101_0101_0101_0101;
        let s = self;
        s.digit_starts.clear();
        s.words.clear();
        s.seps.clear();
        s.at_sign = false;
        let mut prev_digit = false;
        let mut word_start: Option<usize> = None;
        let mut chunks = t.chunks_exact(8);
        let mut i = 0;
        for chunk in &mut chunks {
            let mut c = 0u64;
            for (k, &b) in chunk.iter().enumerate() {
                c |= u64::from(CLASS[usize::from(b)]) << (8 * k);
            }
            if c & (LO * u64::from(C_DIGIT | C_SEP | C_AT)) == 0 {
                // Word bytes as bits 0..8 (lane k's C_WORD bit gathered to bit k).
                let lanes = (c >> 1) & LO;
                let words = (lanes.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
                prev_digit = false;
                if words == 0xFF {
                    word_start.get_or_insert(i);
                } else {
                    let gaps = !words;
                    // The word running into this chunk ends at its first gap.
                    if let Some(ws) = word_start.take() {
                        let end = i + gaps.trailing_zeros() as usize;
                        if end - ws >= MIN_WORD_SECRET {
                            s.words.push((ws, end));
                        }
                    }
                    // Words inside the chunk are under 8 bytes: too short.
                    // The one after its last gap runs on into the next chunk.
                    let last_gap = 7 - gaps.leading_zeros() as usize;
                    if last_gap < 7 {
                        word_start = Some(i + last_gap + 1);
                    }
                }
            } else {
                for (k, &b) in chunk.iter().enumerate() {
                    s.step(i + k, b, &mut prev_digit, &mut word_start);
                }
            }
            i += 8;
        }
        for (k, &b) in chunks.remainder().iter().enumerate() {
            s.step(i + k, b, &mut prev_digit, &mut word_start);
        }
        s.end_word(t.len(), word_start);
    }

    /// One byte of the pass, at offset `i`.
    #[inline(always)]
    fn step(&mut self, i: usize, b: u8, prev_digit: &mut bool, word_start: &mut Option<usize>) {
        let c = CLASS[usize::from(b)];
        let digit = c & C_DIGIT != 0;
        if digit && !*prev_digit {
            self.digit_starts.push(i);
        }
        *prev_digit = digit;
        if c & C_WORD != 0 {
            word_start.get_or_insert(i);
        } else if let Some(ws) = word_start.take() {
            if i - ws >= MIN_WORD_SECRET {
                self.words.push((ws, i));
            }
        }
        if c & C_SEP != 0 {
            self.seps.push(i);
        }
        if c & C_AT != 0 {
            self.at_sign = true;
        }
    }

    /// The word still open at the end of the text.
    fn end_word(&mut self, n: usize, word_start: Option<usize>) {
        if let Some(ws) = word_start {
            if n - ws >= MIN_WORD_SECRET {
                self.words.push((ws, n));
            }
        }
    }

    /// The byte-by-byte pass that [`Sites::of`] must equal.
    #[cfg(test)]
    fn of_bytewise(t: &[u8]) -> Self {
        let mut s = Sites::default();
        let mut prev_digit = false;
        let mut word_start: Option<usize> = None;
        for (i, &b) in t.iter().enumerate() {
            s.step(i, b, &mut prev_digit, &mut word_start);
        }
        s.end_word(t.len(), word_start);
        s
    }

    fn is_empty(&self) -> bool {
        self.digit_starts.is_empty()
            && self.words.is_empty()
            && self.seps.is_empty()
            && !self.at_sign
    }
}

/// A secret with a literal prefix, checked at each place inside a long
/// word where the prefix occurs: `end` confirms the value and gives its end
/// and entity (an `sk-` key is OpenAI's or Anthropic's).
struct WordSecret {
    prefix: &'static [u8],
    /// The entities `end` may report (any one on: the check runs).
    entities: &'static [u8],
    end: WordEnd,
}

/// Confirms a word-shaped secret at an offset: its end and entity.
type WordEnd = fn(&[u8], usize) -> Option<(usize, u8)>;
/// A numeric detector over the digit-run starts.
type NumberFinder = fn(&[u8], &[usize], &mut Vec<Finding>);

fn aws(t: &[u8], i: usize) -> Option<(usize, u8)> {
    aws_key_at(t, i).map(|e| (e, AWS_ACCESS_KEY))
}

const WORD_SECRETS: &[WordSecret] = &[
    WordSecret {
        prefix: b"AKIA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"ASIA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"AGPA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"AIDA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"AROA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"AIPA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"ANPA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"ANVA",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"A3T",
        entities: &[AWS_ACCESS_KEY],
        end: aws,
    },
    WordSecret {
        prefix: b"sk-",
        entities: &[OPENAI_KEY, ANTHROPIC_KEY],
        end: sk_key_at,
    },
    WordSecret {
        prefix: b"gh",
        entities: &[GITHUB_TOKEN],
        end: |t, i| github_token_at(t, i).map(|e| (e, GITHUB_TOKEN)),
    },
    WordSecret {
        prefix: b"github_pat_",
        entities: &[GITHUB_TOKEN],
        end: |t, i| github_pat_at(t, i).map(|e| (e, GITHUB_TOKEN)),
    },
    WordSecret {
        prefix: b"xox",
        entities: &[SLACK_TOKEN],
        end: |t, i| slack_token_at(t, i).map(|e| (e, SLACK_TOKEN)),
    },
    WordSecret {
        prefix: b"AIza",
        entities: &[GOOGLE_API_KEY],
        end: |t, i| google_key_at(t, i).map(|e| (e, GOOGLE_API_KEY)),
    },
    WordSecret {
        prefix: b"eyJ",
        entities: &[JWT],
        end: |t, i| jwt_at(t, i).map(|e| (e, JWT)),
    },
    WordSecret {
        prefix: b"-----BEGIN ",
        entities: &[PRIVATE_KEY],
        end: |t, i| pem_private_key_at(t, i).map(|e| (e, PRIVATE_KEY)),
    },
];

const _: () = assert!(WORD_SECRETS.len() <= 32, "PREFIX_BY_FIRST holds 32 entries");

/// For each byte, the entries of [`WORD_SECRETS`] whose prefix begins with
/// it (bit `k` for entry `k`): a position inside a long word is checked
/// against those entries only.
static PREFIX_BY_FIRST: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < WORD_SECRETS.len() && i < 32 {
        if let Some(&b) = WORD_SECRETS[i].prefix.first() {
            t[b as usize] |= 1 << i;
        }
        i += 1;
    }
    t
};

/// Calls `f(keyword_start, keyword_end)` for each secret keyword that the
/// separator at `sep` may follow: the keyword, an optional closing quote
/// (`"`, `'` or an escaped `\"`), at most 8 spaces or tabs, the separator.
/// The keyword's own checks (`assignment_value_after`) confirm it.
fn keywords_before(t: &[u8], sep: usize, mut f: impl FnMut(usize, usize)) {
    let mut q = sep;
    while q > 0 && sep - q <= 8 && matches!(t[q - 1], b' ' | b'\t') {
        q -= 1;
    }
    if sep - q > 8 {
        return;
    }
    let mut ends = [Some(q), None, None];
    if q >= 1 && matches!(t[q - 1], b'"' | b'\'') {
        ends[1] = Some(q - 1);
        if t[q - 1] == b'"' && q >= 2 && t[q - 2] == b'\\' {
            ends[2] = Some(q - 2);
        }
    }
    for k in ends.into_iter().flatten() {
        for kw in SECRET_KEYWORDS {
            let kw = kw.as_bytes();
            if let Some(s) = k.checked_sub(kw.len()) {
                if t[s..k].eq_ignore_ascii_case(kw) {
                    f(s, k);
                }
            }
        }
    }
}

impl Detectors {
    /// Builds the detector set; `custom` pairs an entity id with its pattern.
    pub(crate) fn new(custom: Vec<(u8, Regex)>) -> Self {
        Self { custom }
    }

    /// All findings for the entities in `mask`, sorted and non-overlapping.
    pub(crate) fn find(&self, mask: u64, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        if mask == 0 || text.is_empty() {
            return out;
        }
        let t = text.as_bytes();
        let on = |e: u8| mask & (1u64 << e) != 0;
        // The sites' buffers are kept per thread: a stream scans once per
        // piece, and three fresh vectors per scan were a large part of it.
        SITES.with(|cell| {
            let mut fresh = Sites::default();
            let mut kept = cell.try_borrow_mut().ok();
            let sites = kept.as_deref_mut().unwrap_or(&mut fresh);
            sites.fill(t);
            if !sites.is_empty() {
                self.find_builtin(t, sites, &on, &mut out);
            }
        });
        for (id, re) in &self.custom {
            if on(*id) {
                for m in re.find_iter(text) {
                    if m.end() > m.start() {
                        out.push(Finding {
                            start: m.start(),
                            end: m.end(),
                            entity: *id,
                            by_context: false,
                        });
                    }
                }
            }
        }
        if out.len() > 1 {
            out = resolve_overlaps(out);
        }
        out
    }

    fn find_builtin(
        &self,
        t: &[u8],
        sites: &Sites,
        on: &dyn Fn(u8) -> bool,
        out: &mut Vec<Finding>,
    ) {
        if on(EMAIL) && sites.at_sign {
            find_emails(t, out);
        }
        let starts = &sites.digit_starts;
        if !starts.is_empty() {
            let numeric: [(u8, NumberFinder); 5] = [
                (PHONE, find_phones),
                (CREDIT_CARD, find_cards),
                (US_SSN, find_ssns),
                (IBAN, find_ibans),
                (IP_ADDRESS, find_ipv4s),
            ];
            for (entity, find) in numeric {
                if on(entity) {
                    find(t, starts, out);
                }
            }
        }
        let colons = || sites.seps.iter().copied().filter(|&p| t[p] == b':');
        if on(IP_ADDRESS) {
            find_ipv6s(t, colons(), out);
        }
        let found = |start: usize, end: usize, entity: u8| Finding {
            start,
            end,
            entity,
            by_context: false,
        };
        for &(s, e) in &sites.words {
            for i in s..e {
                let mut candidates = PREFIX_BY_FIRST[usize::from(t[i])];
                while candidates != 0 {
                    let k = candidates.trailing_zeros() as usize;
                    candidates &= candidates - 1;
                    let Some(w) = WORD_SECRETS.get(k) else { break };
                    if t[i..].starts_with(w.prefix) && w.entities.iter().any(|&x| on(x)) {
                        if let Some((end, entity)) = (w.end)(t, i) {
                            if on(entity) {
                                out.push(found(i, end, entity));
                            }
                        }
                    }
                }
            }
        }
        if !on(SECRET_ASSIGNMENT) {
            return;
        }
        for p in colons() {
            if t.get(p + 1..p + 3) == Some(b"//") {
                if let Some((s, e)) = url_password_after(t, p + 3) {
                    out.push(found(s, e, SECRET_ASSIGNMENT));
                }
            }
        }
        for &p in &sites.seps {
            keywords_before(t, p, |_, k| {
                if let Some((s, e)) = assignment_value_after(t, k) {
                    out.push(found(s, e, SECRET_ASSIGNMENT));
                }
            });
        }
        // `Bearer <value>`: the value starts a long word right after `bearer `.
        for &(s, e) in &sites.words {
            if e - s < 16 || s < 7 || !t[s - 7..s].eq_ignore_ascii_case(b"bearer ") {
                continue;
            }
            if left_ok(t, s - 7, is_alnum) {
                if let Some(end) = bearer_value_at(t, s) {
                    out.push(found(s, end, SECRET_ASSIGNMENT));
                }
            }
        }
    }
}

/// Bytes a growing value may end with: what the email, key, token, URL and
/// assignment detectors accept, i.e. ASCII graphic characters except the
/// quotes, commas, semicolons and brackets that end every one of them.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"\",;<>{}`".contains(&b)
}

/// Longest chain of space-separated number groups held while it may still
/// grow (an IBAN with its spaces is 42 bytes, a grouped phone about 20).
const MAX_NUMBER_CHAIN: usize = 64;
/// How far back an unfinished PEM header or quoted assignment is looked for.
const OPEN_LOOKBACK: usize = 320;

impl Detectors {
    /// Where the suffix of `t` that could still grow into a match begins
    /// (`t.len()` when nothing could). Streams hold back exactly this suffix
    /// and release the rest now.
    ///
    /// Why a per-detector "can this suffix be extended" check rather than a
    /// prefix automaton: the detectors are hand-written scanners with
    /// checksums and context rules, not one regular language, and each
    /// entity's alphabet gives a simple, provable bound:
    /// - emails, keys, tokens, JWTs, URLs with passwords and unquoted secret
    ///   values are single words: the trailing run of word bytes is held;
    /// - numbers (cards, phones, IBANs, SSNs) may be groups joined by single
    ///   spaces: the trailing chain of digit-bearing words is held too while
    ///   the text ends in a space or a word that could continue it;
    /// - a quoted secret value or a PEM header may hold spaces: held from
    ///   its start while its closing quote or dashes have not arrived;
    /// - a complete finding touching the end (or the held part) may still
    ///   grow, so it is held whole.
    ///
    /// `None` when an operator-defined pattern is on: its alphabet is
    /// unknown, so the caller holds a fixed window instead.
    pub(crate) fn hold_start(&self, mask: u64, t: &[u8], findings: &[Finding]) -> Option<usize> {
        if self.custom.iter().any(|(id, _)| mask & (1u64 << id) != 0) {
            return None;
        }
        let n = t.len();
        let on = |e: u8| mask & (1u64 << e) != 0;
        let mut k = n;
        while k > 0 && is_word_byte(t[k - 1]) {
            k -= 1;
        }
        let mut h = k;
        let numeric = on(PHONE) || on(CREDIT_CARD) || on(US_SSN) || on(IBAN);
        let continues = k == n || matches!(t[k], b'0'..=b'9' | b'+' | b'(' | b'A'..=b'Z');
        if numeric && continues {
            let mut j = k;
            // Word starts in the chain, latest first; it must begin with digits.
            let mut starts: Vec<(usize, bool)> = Vec::new();
            while j >= 2 && t[j - 1] == b' ' && is_word_byte(t[j - 2]) {
                let mut s = j - 1;
                while s > 0 && is_word_byte(t[s - 1]) {
                    s -= 1;
                }
                let w = &t[s..j - 1];
                // Digit groups, and the four-letter bank codes of an IBAN (`NL91 ABNA 0417…`).
                let group = w.iter().any(u8::is_ascii_digit)
                    || (w.len() <= 4
                        && w.iter()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
                if !group || n - s > MAX_NUMBER_CHAIN {
                    break;
                }
                starts.push((s, w.iter().any(u8::is_ascii_digit)));
                j = s;
            }
            // The chain begins with digits: `the IBAN ` alone is no number.
            while starts.last().is_some_and(|&(_, digits)| !digits) {
                starts.pop();
            }
            j = starts.last().map_or(k, |&(s, _)| s);
            h = h.min(j);
        }
        let from = n.saturating_sub(OPEN_LOOKBACK);
        if on(PRIVATE_KEY) {
            // Finders built once: `memmem::rfind` builds one per call,
            // and this runs on every piece of every stream.
            if let Some(p) = PEM_BEGIN.rfind(&t[from..]) {
                let p = from + p;
                if DASHES.find(&t[p + 11..]).is_none() {
                    h = h.min(p);
                }
            }
        }
        if on(SECRET_ASSIGNMENT) && memchr::memchr2(b'"', b'\'', &t[from..]).is_some() {
            for sep in memchr::memchr2_iter(b'=', b':', &t[from..]) {
                keywords_before(t, from + sep, |s, k| {
                    if s >= from {
                        if let Some(v) = open_quoted_value_after(t, k) {
                            h = h.min(v);
                        }
                    }
                });
            }
        }
        for f in findings.iter().rev() {
            if f.end >= h || f.end == n {
                h = h.min(f.start);
            } else {
                break;
            }
        }
        Some(h)
    }
}

/// The start of a quoted secret value after a keyword ending at `k` whose
/// closing quote has not arrived (the text ends inside it).
fn open_quoted_value_after(t: &[u8], k: usize) -> Option<usize> {
    let mut p = k;
    if byte_at(t, p) == Some(b'\\') && byte_at(t, p + 1) == Some(b'"') {
        p += 2;
    } else if matches!(byte_at(t, p), Some(b'"' | b'\'')) {
        p += 1;
    }
    p = skip_spaces(t, p);
    match byte_at(t, p)? {
        b'=' | b':' => p += 1,
        _ => return None,
    }
    if matches!(byte_at(t, p), Some(b'>' | b'=')) {
        p += 1;
    }
    p = skip_spaces(t, p);
    if byte_at(t, p) == Some(b'\\') && byte_at(t, p + 1) == Some(b'"') {
        p += 2;
    } else if matches!(byte_at(t, p), Some(b'"' | b'\'')) {
        p += 1;
    } else {
        return None;
    }
    let rest = t.get(p..)?;
    let closed = rest
        .iter()
        .any(|&b| matches!(b, b'"' | b'\'' | b'\\' | b'\n' | b'\r'));
    (!closed && rest.len() <= 256).then_some(p)
}

/// Sorts by start (longer first, then priority) and drops findings that
/// overlap an earlier kept one.
fn resolve_overlaps(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(priority(a.entity).cmp(&priority(b.entity)))
    });
    let mut kept: Vec<Finding> = Vec::with_capacity(v.len());
    for f in v {
        match kept.last() {
            Some(last) if f.start < last.end => {
                // A more specific finding fully inside a generic one (a key inside
                // `api_key=...`) is already covered: the generic span is kept.
            }
            _ => kept.push(f),
        }
    }
    kept
}

// ---- byte helpers ---------------------------------------------------------

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn byte_at(t: &[u8], i: usize) -> Option<u8> {
    t.get(i).copied()
}

fn byte_before(t: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| t.get(j).copied())
}

/// True when the byte before `i` is absent or not in the class.
fn left_ok(t: &[u8], i: usize, class: fn(u8) -> bool) -> bool {
    byte_before(t, i).is_none_or(|b| !class(b))
}

/// End of the run of bytes in `class` starting at `i`.
fn run(t: &[u8], i: usize, class: impl Fn(u8) -> bool) -> usize {
    let mut j = i;
    while j < t.len() && class(t[j]) {
        j += 1;
    }
    j
}

fn digit_run(t: &[u8], i: usize) -> usize {
    run(t, i, |b| b.is_ascii_digit())
}

/// Left boundary for numbers: not preceded by a letter, digit or `_`, nor by a
/// `-`, `.`, `/` or `,` that itself follows one (`INV-415...`, `1.415...`).
fn number_left_ok(t: &[u8], i: usize) -> bool {
    match byte_before(t, i) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => false,
        Some(b'+') => false, // `+4915...` is an international phone number
        Some(b'-' | b'.' | b'/' | b',') => {
            i < 2 || !byte_before(t, i - 1).is_some_and(|c| c.is_ascii_alphanumeric())
        }
        Some(_) => true,
    }
}

/// Right boundary for numbers: not followed by a letter, digit or `_`, nor by
/// a `-` or `.` + digit (the number goes on).
fn number_right_ok(t: &[u8], e: usize) -> bool {
    match byte_at(t, e) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => false,
        Some(b'-' | b'.' | b'/') => !byte_at(t, e + 1).is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

// ---- EMAIL ----------------------------------------------------------------

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-'".contains(&b)
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn find_emails(t: &[u8], out: &mut Vec<Finding>) {
    let mut min_next = 0usize;
    for at in memchr::memchr_iter(b'@', t) {
        if at < min_next {
            continue;
        }
        let mut s = at;
        while s > 0 && at - s < 64 && is_local(t[s - 1]) {
            s -= 1;
        }
        while s < at && matches!(t[s], b'.' | b'\'') {
            s += 1;
        }
        if s == at
            || s.checked_sub(1)
                .and_then(|j| t.get(j))
                .is_some_and(|&b| is_local(b))
        {
            continue; // empty local part, or one longer than 64
        }
        if byte_before(t, s) == Some(b':') && is_url_userinfo(t, s - 1) {
            continue; // `scheme://user:pass@host`: the password is SECRET_ASSIGNMENT's
        }
        let mut e = run(t, at + 1, is_domain);
        while e > at + 1 && matches!(t[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let domain = &t[at + 1..e];
        if !domain_ok(domain) {
            continue;
        }
        let local = &t[s..at];
        if local.eq_ignore_ascii_case(b"git") {
            continue; // `git@github.com:org/repo.git` is an SSH remote, not a mailbox
        }
        out.push(Finding {
            start: s,
            end: e,
            entity: EMAIL,
            by_context: false,
        });
        min_next = e;
    }
}

fn domain_ok(d: &[u8]) -> bool {
    if d.len() < 4 || d.len() > 253 {
        return false;
    }
    let labels: Vec<&[u8]> = d.split(|&b| b == b'.').collect();
    if labels.len() < 2 {
        return false;
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 || l.first() == Some(&b'-') || l.last() == Some(&b'-') {
            return false;
        }
    }
    // `icon@2x.png`: retina asset names, not addresses.
    if let Some(first) = labels.first() {
        if first.len() >= 2
            && first.last() == Some(&b'x')
            && first[..first.len() - 1].iter().all(u8::is_ascii_digit)
        {
            return false;
        }
    }
    let tld = labels.last().copied().unwrap_or_default();
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
        || (tld.len() >= 5 && tld.starts_with(b"xn--"))
}

/// Whether the `:` at `colon` belongs to the userinfo of a `scheme://` URL.
fn is_url_userinfo(t: &[u8], colon: usize) -> bool {
    let mut j = colon;
    let limit = colon.saturating_sub(128);
    while j > limit && j >= 3 {
        if &t[j - 3..j] == b"://" {
            return true;
        }
        let b = t[j - 1];
        if b.is_ascii_whitespace() || b == b'/' || b == b'@' {
            return false;
        }
        j -= 1;
    }
    false
}

// ---- PHONE ----------------------------------------------------------------

/// A run of digit groups from `i`: separators are a single ` `, `.` or `-`
/// (or `(` `)` around one group). Returns (end, digit count, group lengths).
fn phone_groups(t: &[u8], i: usize, max_digits: usize) -> (usize, usize, Vec<usize>) {
    let mut pos = i;
    let mut digits = 0;
    let mut groups = Vec::new();
    let mut end = i;
    loop {
        let mut p = pos;
        let paren = byte_at(t, p) == Some(b'(');
        if paren {
            p += 1;
        }
        let e = digit_run(t, p);
        let n = e - p;
        if n == 0 || digits + n > max_digits {
            break;
        }
        let mut after = e;
        if paren {
            if byte_at(t, e) != Some(b')') {
                break;
            }
            after = e + 1;
        }
        digits += n;
        groups.push(n);
        end = after;
        // separator: one of ` .-`, or `) ` already consumed; allow `) ` + space
        let mut q = after;
        if matches!(byte_at(t, q), Some(b' ' | b'.' | b'-')) {
            q += 1;
        } else if !(paren || byte_at(t, q) == Some(b'(')) {
            break;
        }
        if !matches!(byte_at(t, q), Some(b'0'..=b'9' | b'(')) {
            break;
        }
        pos = q;
    }
    (end, digits, groups)
}

fn find_phones(t: &[u8], starts: &[usize], out: &mut Vec<Finding>) {
    let mut done = 0;
    for &d in starts {
        if d < done {
            continue;
        }
        // A phone may begin with `+` or `(` right before its first digit.
        let plus_ok = d >= 2 && !byte_before(t, d - 1).is_some_and(|c| c.is_ascii_alphanumeric());
        let i = match byte_before(t, d) {
            Some(b'+') if d == 1 || plus_ok => d - 1,
            Some(b'(') if number_left_ok(t, d - 1) => d - 1,
            _ if number_left_ok(t, d) => d,
            _ => continue,
        };
        if i < done {
            continue;
        }
        if let Some(end) = phone_at(t, i) {
            out.push(Finding {
                start: i,
                end,
                entity: PHONE,
                by_context: false,
            });
            done = end;
        } else if let Some(end) = national_phone_at(t, i).filter(|_| phone_context_before(t, i)) {
            out.push(Finding {
                start: i,
                end,
                entity: PHONE,
                by_context: true,
            });
            done = end;
        }
    }
}

/// Words that make a nearby national-format number a phone (Presidio's
/// approach: the format alone is too weak, the context confirms it). English,
/// French, German, Spanish, Italian and Portuguese; matched as whole words,
/// lowercase, accents as written and without.
const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "call",
    "calling",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "whatsapp",
    "contact",
    "number",
    "ph",
    "mob",
    "sms",
    "text",
    "dial",
    "reach",
    // French
    "téléphone",
    "telephone",
    "tél",
    "portable",
    "appeler",
    "appelez",
    "appelle",
    "numéro",
    "numero",
    "joindre",
    "joignable",
    // German
    "telefon",
    "telefonnummer",
    "handy",
    "rufnummer",
    "anrufen",
    "ruf",
    "nummer",
    "mobil",
    "kontakt",
    "erreichbar",
    // Spanish
    "teléfono",
    "telefono",
    "llamar",
    "llame",
    "llámame",
    "móvil",
    "movil",
    "celular",
    "número",
    "contacto",
    // Italian
    "cellulare",
    "chiamare",
    "chiama",
    "chiamami",
    "contatto",
    "recapito",
    // Portuguese
    "telefone",
    "ligar",
    "ligue",
    "telemóvel",
    "telemovel",
    "contato",
];

/// Bytes before a number searched for a context word (a few words).
const PHONE_CONTEXT_BYTES: usize = 48;
/// Words before a number searched for a context word.
const PHONE_CONTEXT_WORDS: usize = 4;

/// "Number" words confirm a phone unless another noun says what number it
/// is (`case number`, `order number`, `numéro de commande` is not handled).
const NUMBER_WORDS: &[&str] = &["number", "nummer", "numéro", "numero", "número"];
const NOT_PHONE_NUMBERS: &[&str] = &[
    "case",
    "order",
    "invoice",
    "part",
    "account",
    "reference",
    "ref",
    "ticket",
    "tracking",
    "serial",
    "model",
    "version",
    "id",
    "customer",
    "policy",
    "transaction",
    "confirmation",
    "booking",
    "item",
    "batch",
    "lot",
    "claim",
    "card",
    "license",
    "licence",
    "registration",
    "passport",
    "member",
    "membership",
    "employee",
    "student",
    "patient",
    "vat",
    "tax",
    "build",
    "page",
    "issue",
    "room",
    "flight",
    "seat",
    "table",
    "lucky",
    "magic",
    "random",
    "prime",
];

fn phone_context_before(t: &[u8], i: usize) -> bool {
    let from = i.saturating_sub(PHONE_CONTEXT_BYTES);
    let window = t[from..i].to_ascii_lowercase();
    let words: Vec<&[u8]> = window
        .split(|&b| b.is_ascii() && !b.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    let n = words.len();
    (n.saturating_sub(PHONE_CONTEXT_WORDS)..n).any(|k| {
        let w = words[k];
        if !PHONE_CONTEXT.iter().any(|c| c.as_bytes() == w) {
            return false;
        }
        if NUMBER_WORDS.iter().any(|c| c.as_bytes() == w) {
            let before = k.checked_sub(1).map(|j| words[j]);
            return !before.is_some_and(|b| NOT_PHONE_NUMBERS.iter().any(|c| c.as_bytes() == b));
        }
        true
    })
}

/// A national-format number: 7..=12 digits, contiguous or in groups of at
/// least two joined by ` `, `-`, `.` (one kind), or a `(area)` first; not a
/// date (`2024-01-15`, `15.01.2024`) and not part of a longer number.
fn national_phone_at(t: &[u8], i: usize) -> Option<usize> {
    let (end, digits, groups) = phone_groups(t, i, 12);
    if !(7..=12).contains(&digits) || !number_right_ok(t, end) || space_continues(t, i, end) {
        return None;
    }
    // No dialling plan starts with `000`: zero-padded ids do.
    if t.get(i..i + 3) == Some(b"000") {
        return None;
    }
    let g: &[usize] = &groups;
    if g.len() > 1 && g.iter().any(|&n| n < 2) {
        return None;
    }
    if matches!(g, [4, 2, 2] | [2, 2, 4] | [2, 2, 2]) {
        return None;
    }
    let seps_from = if t[i] == b'(' {
        memchr::memchr(b')', &t[i..end]).map_or(i, |p| i + p + 2)
    } else {
        i
    };
    if g.len() > 1 && !same_separators_any(t, seps_from.min(end), end) {
        return None;
    }
    Some(end)
}

/// Like `same_separators`, but dots are allowed (`699.956.915`).
fn same_separators_any(t: &[u8], s: usize, e: usize) -> bool {
    let mut seen = None;
    for &b in &t[s..e] {
        if matches!(b, b'-' | b'.' | b' ') {
            match seen {
                None => seen = Some(b),
                Some(x) if x != b => return false,
                _ => {}
            }
        }
    }
    true
}

/// A phone does not continue a space-separated digit sequence on either side
/// (`3704 0044 0532 0130 01` is one number, not a phone inside it).
fn space_continues(t: &[u8], i: usize, end: usize) -> bool {
    let before = t.get(i) != Some(&b'+')
        && byte_before(t, i) == Some(b' ')
        && i >= 2
        && byte_before(t, i - 1).is_some_and(|c| c.is_ascii_digit());
    let after =
        byte_at(t, end) == Some(b' ') && byte_at(t, end + 1).is_some_and(|c| c.is_ascii_digit());
    before || after
}

fn phone_at(t: &[u8], i: usize) -> Option<usize> {
    let end = phone_shape_at(t, i)?;
    (!space_continues(t, i, end)).then_some(end)
}

fn phone_shape_at(t: &[u8], i: usize) -> Option<usize> {
    if t[i] == b'+' {
        // International: +CC then groups, 8..=15 digits in total (E.164).
        let (end, digits, groups) = phone_groups(t, i + 1, 15);
        let cc = *groups.first()?;
        if digits < 8 || (groups.len() == 1 && cc < 8) || !number_right_ok(t, end) {
            return None;
        }
        if groups.len() > 1 && cc > 3 {
            return None;
        }
        return Some(end);
    }
    let (end, digits, groups) = phone_groups(t, i, 13);
    if groups.len() < 2 || !number_right_ok(t, end) {
        return None;
    }
    let first = t[i];
    let paren = first == b'(';
    let lead = if paren { byte_at(t, i + 1)? } else { first };
    // North American: (NXX) NXX-XXXX, NXX-NXX-XXXX, optionally 1 first.
    let g: &[usize] = &groups;
    // The area code's first digit is not checked: `(123) 456-7890` and
    // `555-123-4567` are what fake-but-realistic numbers in text look like.
    let nanp = match g {
        [3, 3, 4] => lead != b'0' || paren,
        [1, 3, 3, 4] => lead == b'1',
        _ => false,
    };
    if nanp && digits >= 10 {
        // all separators the same (or parenthesised area code)
        return Some(end);
    }
    // National with trunk prefix 0: 0X.. groups, 9..=12 digits (090-1234-5678, 020 7123 4567).
    // Two-digit groups only in the long French style (`01 42 68 53 00`), so
    // `078-00-1123` (an SSN-shaped code) is not taken for a phone.
    let min_group = if g.len() >= 4 { 2 } else { 3 };
    if lead == b'0'
        && !paren
        && (9..=12).contains(&digits)
        && g.first().is_some_and(|&n| (2..=5).contains(&n))
        && g.iter().skip(1).all(|&n| n >= min_group)
        && same_separators(t, i, end)
    {
        return Some(end);
    }
    None
}

/// All `-`, `.` and ` ` separators in `t[s..e]` are the same byte (mixing
/// dots and dashes is how dates and versions look, not phones).
fn same_separators(t: &[u8], s: usize, e: usize) -> bool {
    let mut seen = None;
    for &b in &t[s..e] {
        if matches!(b, b'-' | b'.' | b' ') {
            match seen {
                None => seen = Some(b),
                Some(x) if x != b => return false,
                _ => {}
            }
        }
    }
    // A dot-separated number with a trunk zero is a date or a version more often than a phone.
    seen != Some(b'.')
}

// ---- CREDIT_CARD ----------------------------------------------------------

/// Cards: 12..=19 digits, contiguous or in groups (2..=8 digits first, then
/// any length of two or more: `625081 1610210402699`) joined by one
/// consistent separator (space, dash or dot; NBSP and zero-width are folded
/// before), Luhn-valid, and inside an issuer's IIN range for that length
/// (`validate::card_iin_fits`). Punctuation may glue it to a word
/// (`No.4111…`, `card-4111…`), and a contiguous number may be followed by
/// `-1227` (an expiry); a letter or digit touching it makes it part of a
/// code (`4000…1234X`). The checksum and IIN ranges keep order numbers out.
fn find_cards(t: &[u8], starts: &[usize], out: &mut Vec<Finding>) {
    let mut done = 0;
    for &i in starts {
        if i < done {
            continue;
        }
        if let Some(end) = card_at(t, i) {
            out.push(Finding {
                start: i,
                end,
                entity: CREDIT_CARD,
                by_context: false,
            });
            done = end;
        }
    }
}

fn card_at(t: &[u8], i: usize) -> Option<usize> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if byte_before(t, i).is_some_and(word) {
        return None;
    }
    // `0.5813…`, `12-4111…`: the fraction or tail of another number.
    if matches!(byte_before(t, i), Some(b'.' | b',' | b'-' | b'/' | b':'))
        && i >= 2
        && byte_before(t, i - 1).is_some_and(|c| c.is_ascii_digit())
    {
        return None;
    }
    let end = card_span(t, i)?;
    (!byte_at(t, end).is_some_and(word)).then_some(end)
}

fn card_span(t: &[u8], i: usize) -> Option<usize> {
    let e0 = digit_run(t, i);
    let n0 = e0 - i;
    if (12..=19).contains(&n0) {
        return card_ok(&t[i..e0], n0).then_some(e0);
    }
    if !(2..=8).contains(&n0) {
        return None;
    }
    let sep = byte_at(t, e0).filter(|b| matches!(b, b' ' | b'-' | b'.'))?;
    let mut pos = e0;
    let mut total = n0;
    let mut groups = 1;
    while byte_at(t, pos) == Some(sep) && byte_at(t, pos + 1).is_some_and(|c| c.is_ascii_digit()) {
        let e = digit_run(t, pos + 1);
        let n = e - (pos + 1);
        total += n;
        if n < 2 || total > 19 {
            return None;
        }
        pos = e;
        groups += 1;
    }
    if total < 12 || groups < 2 {
        return None;
    }
    // A dotted run ending in `.5` is a decimal, a trailing letter a code.
    card_ok(&t[i..pos], total).then_some(pos)
}

fn card_ok(s: &[u8], digits: usize) -> bool {
    let mut d = [0u8; 19];
    let mut n = 0;
    for &b in s {
        if b.is_ascii_digit() {
            if n >= d.len() {
                return false;
            }
            d[n] = b;
            n += 1;
        }
    }
    n == digits && validate::card_iin_fits(&d[..n]) && validate::luhn(s)
}

// ---- US_SSN ---------------------------------------------------------------

fn find_ssns(t: &[u8], starts: &[usize], out: &mut Vec<Finding>) {
    let mut done = 0;
    for &i in starts {
        if i < done || !number_left_ok(t, i) {
            continue;
        }
        let e1 = digit_run(t, i);
        let mut digits = [0u8; 9];
        let mut found = None;
        if e1 - i == 3 {
            let sep = byte_at(t, e1);
            if matches!(sep, Some(b'-' | b' ' | b'.')) {
                let e2 = digit_run(t, e1 + 1);
                if e2 - (e1 + 1) == 2 && byte_at(t, e2) == sep {
                    let e3 = digit_run(t, e2 + 1);
                    if e3 - (e2 + 1) == 4 && number_right_ok(t, e3) {
                        digits[..3].copy_from_slice(&t[i..e1]);
                        digits[3..5].copy_from_slice(&t[e1 + 1..e2]);
                        digits[5..].copy_from_slice(&t[e2 + 1..e3]);
                        found = Some(e3);
                    }
                }
            }
        } else if e1 - i == 9 && number_right_ok(t, e1) && ssn_context_before(t, i) {
            digits.copy_from_slice(&t[i..e1]);
            found = Some(e1);
        }
        if let Some(end) = found.filter(|_| validate::ssn_valid(&digits)) {
            out.push(Finding {
                start: i,
                end,
                entity: US_SSN,
                by_context: false,
            });
            done = end;
        }
    }
}

/// A bare nine-digit run is an SSN only when the text just before says so.
fn ssn_context_before(t: &[u8], i: usize) -> bool {
    let from = i.saturating_sub(32);
    let window = t[from..i].to_ascii_lowercase();
    [&b"ssn"[..], b"social security", b"social sec"]
        .iter()
        .any(|k| memmem::find(&window, k).is_some())
}

// ---- IBAN -----------------------------------------------------------------

fn find_ibans(t: &[u8], starts: &[usize], out: &mut Vec<Finding>) {
    let mut done = 0;
    for &d in starts {
        // The two check digits follow the two-letter country code.
        let Some(i) = d.checked_sub(2) else { continue };
        if i < done || i + 4 > t.len() {
            continue;
        }
        let c = &t[i..i + 4];
        // Lowercase country codes too (`de89 3704 …`): the checksum decides.
        let shape = c[0].is_ascii_alphabetic()
            && c[1].is_ascii_alphabetic()
            && c[2].is_ascii_digit()
            && c[3].is_ascii_digit();
        if !shape || !left_ok(t, i, is_alnum) {
            continue;
        }
        if let Some(end) = iban_at(t, i) {
            out.push(Finding {
                start: i,
                end,
                entity: IBAN,
                by_context: false,
            });
            done = end;
        }
    }
}

fn iban_at(t: &[u8], i: usize) -> Option<usize> {
    let len = validate::iban_length(&t[i..i + 2].to_ascii_uppercase())?;
    let mut compact = Vec::with_capacity(len);
    let mut pos = i;
    let mut sep: Option<u8> = None;
    // One case throughout: `de89 3704 …` is an IBAN typed in lowercase,
    // `LV80 bANK …` is not one.
    let lower = t[i].is_ascii_lowercase();
    while compact.len() < len {
        let b = byte_at(t, pos)?;
        if b.is_ascii_digit() || (b.is_ascii_alphabetic() && b.is_ascii_lowercase() == lower) {
            compact.push(b.to_ascii_uppercase());
            pos += 1;
        } else if matches!(b, b' ' | b'-') && compact.len() >= 4 && sep.is_none_or(|s| s == b) {
            sep = Some(b);
            let next = byte_at(t, pos + 1)?;
            if !next.is_ascii_alphanumeric() {
                return None;
            }
            pos += 1;
        } else {
            return None;
        }
    }
    if byte_at(t, pos).is_some_and(is_alnum) {
        return None;
    }
    validate::iban_checksum_ok(&compact).then_some(pos)
}

// ---- IP_ADDRESS -----------------------------------------------------------

fn ip_left_ok(t: &[u8], i: usize) -> bool {
    byte_before(t, i).is_none_or(|p| !(p.is_ascii_alphanumeric() || p == b'_' || p == b'.'))
}

fn find_ipv4s(t: &[u8], starts: &[usize], out: &mut Vec<Finding>) {
    if memchr::memchr(b'.', t).is_none() {
        return;
    }
    let mut done = 0;
    for &i in starts {
        if i < done || !ip_left_ok(t, i) || preceded_by_version(t, i) {
            continue;
        }
        if let Some(e) = ipv4_at(t, i) {
            let dotted_on = byte_at(t, e) == Some(b'.')
                && byte_at(t, e + 1).is_some_and(|c| c.is_ascii_digit());
            let word = byte_at(t, e).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
            if !dotted_on && !word {
                let end = cidr_suffix(t, e, 32);
                out.push(Finding {
                    start: i,
                    end,
                    entity: IP_ADDRESS,
                    by_context: false,
                });
                done = end;
            }
        }
    }
}

/// IPv6 candidates start where the run of hex digits and colons around a `:` begins.
fn find_ipv6s(t: &[u8], colons: impl Iterator<Item = usize>, out: &mut Vec<Finding>) {
    let mut done = 0;
    let mut tried = usize::MAX;
    for colon in colons {
        if colon < done {
            continue;
        }
        let mut s = colon;
        while s > 0 && colon - s < 48 && (t[s - 1].is_ascii_hexdigit() || t[s - 1] == b':') {
            s -= 1;
        }
        if s == tried || !ip_left_ok(t, s) {
            continue;
        }
        tried = s;
        if let Some(end) = ipv6_at(t, s) {
            out.push(Finding {
                start: s,
                end,
                entity: IP_ADDRESS,
                by_context: false,
            });
            done = end;
        }
    }
}

/// `version 1.2.3.4` is a version, not an address.
fn preceded_by_version(t: &[u8], i: usize) -> bool {
    let from = i.saturating_sub(9);
    t[from..i].to_ascii_lowercase().ends_with(b"version ")
}

/// Four dotted octets (each 0..=255, 1..=3 digits) at `i`; returns the end.
fn ipv4_at(t: &[u8], i: usize) -> Option<usize> {
    let mut pos = i;
    for k in 0..4 {
        if k > 0 {
            if byte_at(t, pos) != Some(b'.') {
                return None;
            }
            pos += 1;
        }
        let e = digit_run(t, pos);
        let n = e - pos;
        if n == 0 || n > 3 {
            return None;
        }
        let v: u32 = t[pos..e]
            .iter()
            .fold(0, |a, &d| a * 10 + u32::from(d - b'0'));
        if v > 255 {
            return None;
        }
        pos = e;
    }
    Some(pos)
}

fn cidr_suffix(t: &[u8], e: usize, max: u32) -> usize {
    if byte_at(t, e) != Some(b'/') {
        return e;
    }
    let de = digit_run(t, e + 1);
    let n = de - (e + 1);
    if n == 0 || n > 3 || byte_at(t, de).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return e;
    }
    let v: u32 = t[e + 1..de]
        .iter()
        .fold(0, |a, &d| a * 10 + u32::from(d - b'0'));
    if v > max {
        return e;
    }
    de
}

/// An IPv6 address at `i` (full, `::`-compressed, with an embedded IPv4
/// tail, a `%zone` and a `/prefix`). A bare `::` is not reported.
fn ipv6_at(t: &[u8], i: usize) -> Option<usize> {
    let mut pos = i;
    let mut groups = 0usize;
    let mut double = false;
    if t.get(i..i + 2) == Some(b"::") {
        double = true;
        pos += 2;
        if byte_at(t, pos) == Some(b':') {
            return None;
        }
    }
    loop {
        let e = run(t, pos, |b| b.is_ascii_hexdigit());
        let n = e - pos;
        if n == 0 {
            break;
        }
        if byte_at(t, e) == Some(b'.') && t[pos..e].iter().all(u8::is_ascii_digit) {
            // embedded IPv4 tail
            if let Some(v4) = ipv4_at(t, pos) {
                groups += 2;
                pos = v4;
                break;
            }
        }
        if n > 4 {
            return None;
        }
        groups += 1;
        pos = e;
        if byte_at(t, pos) != Some(b':') {
            break;
        }
        if byte_at(t, pos + 1) == Some(b':') {
            if double || byte_at(t, pos + 2) == Some(b':') {
                return None;
            }
            double = true;
            pos += 2;
        } else if byte_at(t, pos + 1).is_some_and(|b| b.is_ascii_hexdigit()) {
            pos += 1;
        } else {
            break;
        }
        if groups > 8 {
            return None;
        }
    }
    let valid = if double {
        (1..=7).contains(&groups)
    } else {
        groups == 8
    };
    if !valid {
        return None;
    }
    if byte_at(t, pos) == Some(b'%') {
        let z = run(t, pos + 1, is_alnum);
        if z > pos + 1 {
            pos = z;
        }
    }
    if byte_at(t, pos).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        || (byte_at(t, pos) == Some(b'.')
            && byte_at(t, pos + 1).is_some_and(|c| c.is_ascii_digit()))
    {
        return None;
    }
    Some(cidr_suffix(t, pos, 128))
}

// ---- secrets --------------------------------------------------------------

fn aws_key_at(t: &[u8], i: usize) -> Option<usize> {
    if !left_ok(t, i, is_alnum) {
        return None;
    }
    let e = run(t, i, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
    (e - i == 20 && !byte_at(t, e).is_some_and(is_alnum)).then_some(e)
}

fn sk_key_at(t: &[u8], i: usize) -> Option<(usize, u8)> {
    if !left_ok(t, i, is_b64url) {
        return None;
    }
    let body_start = i + 3;
    let end = run(t, body_start, is_b64url);
    let body = &t[body_start..end];
    if body.starts_with(b"ant-") {
        return (body.len() >= 4 + 20).then_some((end, ANTHROPIC_KEY));
    }
    let ok = body.len() >= 20
        && body.iter().any(u8::is_ascii_digit)
        && body.iter().any(u8::is_ascii_alphabetic)
        && body.iter().filter(|&&b| b == b'-').count() <= 3;
    ok.then_some((end, OPENAI_KEY))
}

fn github_token_at(t: &[u8], i: usize) -> Option<usize> {
    let kind = byte_at(t, i + 2)?;
    if !matches!(kind, b'p' | b'o' | b'u' | b's' | b'r')
        || byte_at(t, i + 3) != Some(b'_')
        || !left_ok(t, i, is_alnum)
    {
        return None;
    }
    let e = run(t, i + 4, is_alnum);
    (e - (i + 4) >= 30 && byte_at(t, e).is_none_or(|b| b != b'_')).then_some(e)
}

fn github_pat_at(t: &[u8], i: usize) -> Option<usize> {
    if !left_ok(t, i, is_alnum) {
        return None;
    }
    let end = run(t, i + 11, |b| b.is_ascii_alphanumeric() || b == b'_');
    (end - (i + 11) >= 22).then_some(end)
}

fn google_key_at(t: &[u8], i: usize) -> Option<usize> {
    if !left_ok(t, i, is_b64url) {
        return None;
    }
    let end = run(t, i + 4, is_b64url);
    (end - (i + 4) == 35).then_some(end)
}

/// The value of `Bearer <value>` starting at `s`: at least 16 bytes with a digit.
fn bearer_value_at(t: &[u8], s: usize) -> Option<usize> {
    let e = run(t, s, |b| {
        b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
    });
    let e = run(t, e, |b| b == b'=');
    (e - s >= 16 && t[s..e].iter().any(u8::is_ascii_digit)).then_some(e)
}

fn slack_token_at(t: &[u8], i: usize) -> Option<usize> {
    let kind = byte_at(t, i + 3)?;
    if !matches!(kind, b'a' | b'b' | b'p' | b'r' | b's' | b'o')
        || byte_at(t, i + 4) != Some(b'-')
        || !left_ok(t, i, is_alnum)
    {
        return None;
    }
    let e = run(t, i + 5, |b| b.is_ascii_alphanumeric() || b == b'-');
    (e - (i + 5) >= 10).then_some(e)
}

fn jwt_at(t: &[u8], i: usize) -> Option<usize> {
    if !left_ok(t, i, is_b64url) {
        return None;
    }
    let e1 = run(t, i, is_b64url);
    if e1 - i < 10 || byte_at(t, e1) != Some(b'.') {
        return None;
    }
    let e2 = run(t, e1 + 1, is_b64url);
    if e2 - (e1 + 1) < 10 {
        return None;
    }
    if byte_at(t, e2) == Some(b'.') {
        return Some(run(t, e2 + 1, is_b64url));
    }
    Some(e2)
}

/// A PEM private-key block from `-----BEGIN ... PRIVATE KEY-----` to its END
/// line; without an END line the rest of the text is taken (fail closed).
fn pem_private_key_at(t: &[u8], i: usize) -> Option<usize> {
    let head_end = (i + 11 + 64).min(t.len());
    let head = &t[i + 11..head_end];
    let close = memmem::find(head, b"-----")?;
    let label = &head[..close];
    if memmem::find(label, b"PRIVATE KEY").is_none() || label.contains(&b'\n') {
        return None;
    }
    let body_start = i + 11 + close + 5;
    let rest = &t[body_start..];
    match memmem::find(rest, b"-----END ") {
        Some(k) => {
            let after = body_start + k + 9;
            match memmem::find(&t[after..t.len().min(after + 64)], b"-----") {
                Some(c) => Some(after + c + 5),
                None => Some(t.len()),
            }
        }
        None => Some(t.len()),
    }
}

fn url_password_after(t: &[u8], s: usize) -> Option<(usize, usize)> {
    let user_end = run(t, s, |b| {
        b.is_ascii_alphanumeric() || b"._~%!$&'*+,;=-".contains(&b)
    });
    if user_end == s || user_end - s > 128 || byte_at(t, user_end) != Some(b':') {
        return None;
    }
    let ps = user_end + 1;
    let pe = run(t, ps, |b| {
        b.is_ascii_graphic() && !b"@/?#[]\"<>\\".contains(&b)
    });
    if pe == ps || pe - ps > 128 || byte_at(t, pe) != Some(b'@') {
        return None;
    }
    Some((ps, pe))
}

/// The value after a secret keyword that ends at `k`: optional closing quote,
/// spaces, `=` `:` `=>` or `:=`, spaces, optional quote, value. Returns the
/// value's span (never the keyword).
fn assignment_value_after(t: &[u8], k: usize) -> Option<(usize, usize)> {
    let mut p = k;
    if byte_at(t, p) == Some(b'\\') && matches!(byte_at(t, p + 1), Some(b'"')) {
        p += 2;
    } else if matches!(byte_at(t, p), Some(b'"' | b'\'')) {
        p += 1;
    }
    p = skip_spaces(t, p);
    match byte_at(t, p)? {
        b'=' if byte_at(t, p + 1) == Some(b'>') => p += 2,
        b'=' if byte_at(t, p + 1) == Some(b'=') => return None,
        b'=' => p += 1,
        b':' if byte_at(t, p + 1) == Some(b'=') => p += 2,
        b':' if byte_at(t, p + 1) == Some(b':') => return None,
        b':' => p += 1,
        _ => return None,
    }
    p = skip_spaces(t, p);
    let mut escaped_quote = false;
    if byte_at(t, p) == Some(b'\\') && byte_at(t, p + 1) == Some(b'"') {
        escaped_quote = true;
        p += 2;
    }
    let quote = if escaped_quote {
        Some(b'"')
    } else {
        match byte_at(t, p) {
            Some(q @ (b'"' | b'\'')) => {
                p += 1;
                Some(q)
            }
            _ => None,
        }
    };
    let s = p;
    let e = match quote {
        Some(q) => {
            let e = run(t, s, |b| b != q && b != b'\\' && b != b'\n' && b != b'\r');
            if e - s > 256 || byte_at(t, e).is_none() {
                return None;
            }
            e
        }
        None => run(t, s, |b| {
            b.is_ascii_graphic() && !b"\"'`,;<>()[]{}\\".contains(&b)
        }),
    };
    let v = &t[s..e];
    if v.len() < 4 || v.len() > 256 || !looks_secret(v, quote.is_some()) {
        return None;
    }
    Some((s, e))
}

fn skip_spaces(t: &[u8], mut p: usize) -> usize {
    let start = p;
    while p < t.len() && p - start < 8 && matches!(t[p], b' ' | b'\t') {
        p += 1;
    }
    p
}

/// Rejects placeholders and prose; unquoted values must contain a digit or a
/// symbol (`hunter2`, `p@ss`), so `password: required` stays.
fn looks_secret(v: &[u8], quoted: bool) -> bool {
    if matches!(v.first(), Some(b'<' | b'$' | b'{' | b'*' | b'[' | b'%')) {
        return false;
    }
    if v.iter()
        .all(|&b| matches!(b, b'*' | b'x' | b'X' | b'.' | b'#' | b'-' | b'_'))
    {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    const PLACEHOLDERS: &[&[u8]] = &[
        b"string",
        b"null",
        b"none",
        b"true",
        b"false",
        b"undefined",
        b"required",
        b"optional",
        b"redacted",
        b"example",
        b"password",
        b"secret",
        b"changeme",
        b"your_password",
        b"your-api-key",
        b"your_api_key",
    ];
    if PLACEHOLDERS.contains(&lower.as_slice())
        || lower.starts_with(b"your")
        || lower.starts_with(b"process.env")
    {
        return false;
    }
    if quoted {
        return true;
    }
    if v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // `os.environ`, `self.password`, `config.api_key`: a code reference, not a value.
    if v.iter()
        .all(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'.')
    {
        return false;
    }
    v.iter()
        .any(|&b| b.is_ascii_digit() || !b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked pass finds exactly the sites of the byte loop: random
    /// texts over an alphabet of word bytes, spaces, punctuation, digits,
    /// separators, `@` and non-ASCII bytes, at every length and alignment.
    #[test]
    fn chunked_sites_equal_the_byte_loop() {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCXYZ_.~+/-  ,;!?'\"()0123456789:=@\xc3\xa9\xe2\x80\x8b\t\n";
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000 {
            let len = (next() % 90) as usize;
            // Some texts are long words only, some prose, some dense.
            let letters_only = round % 3 == 0;
            let t: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next() as usize;
                    if letters_only && !r.is_multiple_of(11) {
                        b'a' + (r % 26) as u8
                    } else {
                        ALPHABET[r % ALPHABET.len()]
                    }
                })
                .collect();
            for from in 0..t.len().min(8) {
                let t = &t[from..];
                assert_eq!(
                    Sites::of(t),
                    Sites::of_bytewise(t),
                    "{:?}",
                    String::from_utf8_lossy(t)
                );
            }
        }
    }

    fn names(text: &str) -> Vec<(&'static str, String)> {
        let d = Detectors::new(Vec::new());
        d.find(u64::MAX, text)
            .into_iter()
            .map(|f| {
                (
                    BUILTIN_ENTITIES[f.entity as usize],
                    text[f.start..f.end].to_string(),
                )
            })
            .collect()
    }

    fn assert_finds(entity: &str, text: &str, value: &str) {
        let found = names(text);
        assert!(
            found.iter().any(|(e, v)| *e == entity && v == value),
            "expected {entity} `{value}` in {text:?}, got {found:?}"
        );
    }

    fn assert_none(entity: &str, text: &str) {
        let found = names(text);
        assert!(
            !found.iter().any(|(e, _)| *e == entity),
            "unexpected {entity} in {text:?}: {found:?}"
        );
    }

    #[test]
    fn email_true_cases() {
        for (text, v) in [
            (
                "write to john.doe@example.com today",
                "john.doe@example.com",
            ),
            ("a@xn--d1acufc.xn--p1ai", "a@xn--d1acufc.xn--p1ai"),
            (
                "<first+tag@sub.example.co.uk>.",
                "first+tag@sub.example.co.uk",
            ),
        ] {
            assert_finds("EMAIL", text, v);
        }
    }

    #[test]
    fn email_false_cases() {
        for text in [
            "info@presidio.",
            "icon@2x.png",
            "react@18.2.0",
            "git@github.com:org/repo.git",
            "@mention",
            "a@b",
        ] {
            assert_none("EMAIL", text);
        }
    }

    #[test]
    fn phone_true_cases() {
        for (text, v) in [
            ("call (415) 555-0132 now", "(415) 555-0132"),
            ("US: 415-555-0132", "415-555-0132"),
            ("+1 415 555 0132", "+1 415 555 0132"),
            ("+44 (20) 7123 4567", "+44 (20) 7123 4567"),
            ("+33 1 42 68 53 00", "+33 1 42 68 53 00"),
            ("090-1234-5678", "090-1234-5678"),
            ("1-800-555-0199", "1-800-555-0199"),
        ] {
            assert_finds("PHONE", text, v);
        }
    }

    #[test]
    fn phone_false_cases() {
        for text in [
            "order 4155550132",
            "2024-01-15 10:30:00",
            "version 10.2.3",
            "ISBN 978-0-306-40615-7",
            "INV-415-555-0132",
            "550e8400-e29b-41d4-a716-446655440000",
            "01.02.2023",
            "price $1,234.56",
            "12415-555-01329",
        ] {
            assert_none("PHONE", text);
        }
    }

    #[test]
    fn card_true_cases() {
        for (text, v) in [
            ("card 4111111111111111.", "4111111111111111"),
            ("4012-8888-8888-1881", "4012-8888-8888-1881"),
            ("amex 3714 496353 98431", "3714 496353 98431"),
            ("5555 5555 5555 4444 exp 12/29", "5555 5555 5555 4444"),
        ] {
            assert_finds("CREDIT_CARD", text, v);
        }
    }

    #[test]
    fn national_phones_need_a_context_word_nearby() {
        for (text, v) in [
            ("phone: 699 956 915", "699 956 915"),
            ("Tel. (37) 788-063", "(37) 788-063"),
            ("call me at 467 3395 tonight", "467 3395"),
            ("WhatsApp 78 651 450", "78 651 450"),
            ("mon numéro: 06 12 34 56 78", "06 12 34 56 78"),
            ("Telefon 030 1234567", "030 1234567"),
            ("llame al 912 345 678", "912 345 678"),
            ("contact 4155550132", "4155550132"),
        ] {
            assert_finds("PHONE", text, v);
        }
        for text in [
            "699 956 915 units shipped",
            "in 467 3395 cases",
            "call it on 2024-01-15",
            "order 4155550132",
        ] {
            assert_none("PHONE", text);
        }
        let d = Detectors::new(Vec::new());
        let f = d.find(1 << PHONE, "phone: 699 956 915");
        assert!(f[0].by_context);
        let f = d.find(1 << PHONE, "+34 699 956 915");
        assert!(!f[0].by_context);
    }

    #[test]
    fn every_card_brand_and_length_is_found() {
        for v in [
            "630400000000",        // Maestro, 12
            "501800000009",        // Maestro, 12
            "213100000000001",     // JCB legacy, 15
            "180000000000002",     // JCB legacy, 15
            "378282246310005",     // Amex
            "30569309025904",      // Diners, 14
            "6011111111111117",    // Discover
            "3530111333300000",    // JCB
            "6200000000000005",    // UnionPay
            "2221000000000009",    // Mastercard 2-series
            "4000000000000000006", // Visa, 19
            "6759 6498 2643 8453", // Maestro grouped
            "3782 822463 10005",   // Amex grouped
            "4111-1111-1111-1111",
        ] {
            assert_finds("CREDIT_CARD", &format!("card {v}."), v);
        }
        // A Luhn-valid 12-digit number outside Maestro's ranges is not a card.
        assert_none("CREDIT_CARD", "ref 412345678905");
    }

    #[test]
    fn card_false_cases() {
        for text in [
            "plain question 0.5813629012345676", // a decimal fraction, Luhn-valid
            "ratio 3.4111111111111111",
            "4012-8888-8888-1882",  // Luhn failure
            "ts 1700000000003",     // 13 digits starting with 1
            "id 94111111111111111", // card inside a longer digit run
            "id 41111111111111110000",
            "4111-1111 1111-1111", // mixed separators
        ] {
            assert_none("CREDIT_CARD", text);
        }
    }

    #[test]
    fn ssn_true_and_false_cases() {
        assert_finds("US_SSN", "ssn 078-05-1123.", "078-05-1123");
        assert_finds("US_SSN", "078 05 1123", "078 05 1123");
        assert_finds("US_SSN", "SSN: 078051123", "078051123");
        for text in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "078-00-1123",
            "078-05-0000",
            "078051123",
            "1078-05-1123",
            "078-05.1123",
        ] {
            assert_none("US_SSN", text);
        }
    }

    #[test]
    fn iban_true_and_false_cases() {
        assert_finds(
            "IBAN",
            "pay DE89 3704 0044 0532 0130 00 now",
            "DE89 3704 0044 0532 0130 00",
        );
        assert_finds("IBAN", "GB82WEST12345698765432", "GB82WEST12345698765432");
        assert_finds(
            "IBAN",
            "AL47-2121-1009-0000-0002-3569-8741",
            "AL47-2121-1009-0000-0002-3569-8741",
        );
        for text in [
            "DE89 3704 0044 0532 0130 01",
            "DE89370400440532013000X",
            "ZZ89370400440532013000",
        ] {
            assert_none("IBAN", text);
        }
    }

    #[test]
    fn ip_true_cases() {
        for (text, v) in [
            ("from 192.168.0.1.", "192.168.0.1"),
            ("net 10.0.0.0/8,", "10.0.0.0/8"),
            ("[2001:db8::1]:8080", "2001:db8::1"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            (
                "684D:1111:222:3333:4444:5555:6:77",
                "684D:1111:222:3333:4444:5555:6:77",
            ),
            ("loopback ::1", "::1"),
        ] {
            assert_finds("IP_ADDRESS", text, v);
        }
    }

    #[test]
    fn ip_false_cases() {
        for text in [
            "256.1.1.1",
            "192.168.1",
            "Time 12:34:56",
            "MAC aa:bb:cc:dd:ee:ff",
            "std::cout",
            "2001::db8::1",
            "fe80::1text",
            "version 1.2.3.4",
            "oid 1.3.6.1.4.1",
            "foo :: Int",
        ] {
            assert_none("IP_ADDRESS", text);
        }
    }

    #[test]
    fn secret_token_shapes() {
        let cases = [
            ("AWS_ACCESS_KEY", "key AKIAIOSFODNN7EXAMPLE here"),
            ("OPENAI_KEY", "sk-proj-abcDEF1234567890abcdefGHIJ"),
            ("ANTHROPIC_KEY", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"),
            ("GITHUB_TOKEN", "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"),
            ("GITHUB_TOKEN", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
            ("SLACK_TOKEN", "xoxb-1234567890-abcdefghij"),
            ("GOOGLE_API_KEY", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
            (
                "JWT",
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            ),
        ];
        for (entity, text) in cases {
            let found = names(text);
            assert!(
                found.iter().any(|(e, _)| *e == entity),
                "{entity} in {text}: {found:?}"
            );
        }
    }

    #[test]
    fn secret_token_lookalikes_are_left() {
        for text in [
            "task-management-system-design",
            "sk-learn",
            "AKIAIOSFODNN7EXAMPLEX",
            "ghp_short",
            "eyJhbGciOi",
        ] {
            let found = names(text);
            assert!(found.is_empty(), "{text}: {found:?}");
        }
    }

    #[test]
    fn private_key_block_is_taken_whole() {
        let text = "k:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\nafter";
        assert_finds(
            "PRIVATE_KEY",
            text,
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----",
        );
        assert_none(
            "PRIVATE_KEY",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        );
    }

    #[test]
    fn secret_assignment_takes_the_value_only() {
        for (text, v) in [
            ("password=hunter2", "hunter2"),
            ("DB_PASSWORD: \"correct horse\"", "correct horse"),
            ("{\"api_key\": \"abc123def456\"}", "abc123def456"),
            (
                "aws_secret_access_key=\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            ("https://username:pa55word@example.com", "pa55word"),
            (
                "Authorization: Bearer abcdef0123456789abcdef",
                "abcdef0123456789abcdef",
            ),
        ] {
            assert_finds("SECRET_ASSIGNMENT", text, v);
        }
    }

    #[test]
    fn secret_assignment_ignores_prose_and_counters() {
        for text in [
            "\"max_tokens\": 1024",
            "prompt_tokens: 12",
            "The password: required",
            "Your secret: is safe",
            "password == other",
            "\"password\": \"<your password>\"",
            "token: 500",
        ] {
            assert_none("SECRET_ASSIGNMENT", text);
        }
    }

    #[test]
    fn overlapping_findings_keep_the_specific_entity_on_ties() {
        let found = names("api_key=sk-proj-abcDEF1234567890abcdefGHIJ");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "OPENAI_KEY");
    }
}
