//! Normalisation before matching, because attackers obfuscate.
//!
//! [`fold`] maps each character through a small compatibility table
//! (fullwidth ASCII, mathematical alphanumerics, circled / squared / small-cap
//! letters, ligatures, Latin accents, Cyrillic and Greek look-alikes) and
//! removes invisible characters (zero-width, bidi controls, variation
//! selectors, Unicode tags, combining marks), noting what it removed so the
//! smuggling rules can see it. No Unicode crate: the table covers the ranges
//! attackers use, and everything else passes through unchanged.
//!
//! [`tokenize`] then lowercases and splits on anything that is not a letter
//! or digit, so whitespace and punctuation runs become single spaces. The
//! leetspeak view maps `0 1 3 4 5 7 @ $` to letters and `l` to `i` (a `1`
//! may stand for either); rule phrases go through the same mapping, so both
//! sides meet in one canonical spelling.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

/// What folding removed, for the smuggling rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// Unicode tag characters (U+E0000–E007F) outside emoji flag sequences.
    pub tag_chars: usize,
    /// The text the tag characters spell (ASCII), bounded.
    pub tag_text: String,
    /// Longest run of consecutive invisible characters.
    pub max_invisible_run: usize,
}

/// Text after compatibility folding, with case and line breaks kept.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    /// Folded text; other whitespace becomes a space, line breaks stay `\n`.
    pub text: String,
    /// What was removed.
    pub signals: Signals,
}

/// Bound on the hidden tag text kept for screening.
const MAX_TAG_TEXT: usize = 16 * 1024;

enum Class {
    /// Emit this text.
    Text(char),
    Str(&'static str),
    /// Removed, and suspicious in a long run.
    Invisible,
    /// Removed silently (emoji joiners and variation selectors, combining marks).
    Silent,
    /// A Unicode tag character.
    Tag(u32),
}

/// Folds `input` (see the module doc).
pub fn fold(input: &str) -> Folded {
    let mut out = Folded {
        text: String::with_capacity(input.len()),
        signals: Signals::default(),
    };
    out.signals = fold_into(input, &mut out.text);
    out
}

/// [`fold`] into a reused buffer (cleared first); returns what was removed.
pub fn fold_into(input: &str, text: &mut String) -> Signals {
    text.clear();
    text.reserve(input.len());
    let mut out = FoldOut {
        text,
        signals: Signals::default(),
    };
    let mut run = 0usize;
    let mut in_flag = false;
    for c in input.chars() {
        let class = classify(c);
        match class {
            Class::Tag(cp) => {
                if in_flag {
                    if cp == 0xE007F {
                        in_flag = false;
                    }
                    continue;
                }
                out.signals.tag_chars = out.signals.tag_chars.saturating_add(1);
                if (0xE0020..0xE007F).contains(&cp) && out.signals.tag_text.len() < MAX_TAG_TEXT {
                    if let Some(ch) = char::from_u32(cp - 0xE0000) {
                        out.signals.tag_text.push(ch);
                    }
                }
                run = run.saturating_add(1);
                out.signals.max_invisible_run = out.signals.max_invisible_run.max(run);
            }
            Class::Invisible => {
                run = run.saturating_add(1);
                out.signals.max_invisible_run = out.signals.max_invisible_run.max(run);
            }
            Class::Silent => {}
            Class::Text(ch) => {
                run = 0;
                in_flag = c == '\u{1F3F4}';
                out.text.push(ch);
            }
            Class::Str(s) => {
                run = 0;
                in_flag = false;
                out.text.push_str(s);
            }
        }
    }
    out.signals
}

struct FoldOut<'a> {
    text: &'a mut String,
    signals: Signals,
}

fn offset(c: char, base: u32, to: char) -> Class {
    let v = (c as u32).saturating_sub(base).saturating_add(to as u32);
    Class::Text(char::from_u32(v).unwrap_or(c))
}

/// Latin Extended-A (U+0100–U+017F) to base letters, lowercase.
const LATIN_EXT_A: &[u8; 128] =
    b"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

fn classify(c: char) -> Class {
    let cp = c as u32;
    match cp {
        0x0A => Class::Text('\n'),
        0x0D => Class::Text('\n'),
        0x09 | 0x0B | 0x0C => Class::Text(' '),
        0x00..=0x1F | 0x7F => Class::Invisible,
        0x20..=0x7E => Class::Text(c),
        0x85 | 0x2028 | 0x2029 => Class::Text('\n'),
        0xAD
        | 0x34F
        | 0x61C
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180B..=0x180F
        | 0x3164
        | 0xFFA0 => Class::Invisible,
        0x200B
        | 0x200C
        | 0x200E
        | 0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0xFEFF => Class::Invisible,
        0x1D173..=0x1D17A | 0xE0100..=0xE01EF => Class::Invisible,
        0x200D | 0xFE00..=0xFE0F => Class::Silent,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F => {
            Class::Silent
        }
        0xE0000..=0xE007F => Class::Tag(cp),
        // Fullwidth ASCII and the ideographic space.
        0xFF01..=0xFF5E => offset(c, 0xFF01, '!'),
        0x3000 => Class::Text(' '),
        // Mathematical alphanumerics: 13 alphabets of 52 letters, then 5 digit styles.
        0x1D400..=0x1D6A3 => {
            let k = (cp - 0x1D400) % 52;
            if k < 26 {
                offset_char('A', k)
            } else {
                offset_char('a', k - 26)
            }
        }
        0x1D7CE..=0x1D7FF => offset_char('0', (cp - 0x1D7CE) % 10),
        // Enclosed alphanumerics.
        0x24B6..=0x24CF => offset(c, 0x24B6, 'A'),
        0x24D0..=0x24E9 => offset(c, 0x24D0, 'a'),
        0x249C..=0x24B5 => offset(c, 0x249C, 'a'),
        0x2460..=0x2468 => offset(c, 0x2460, '1'),
        0x24EA => Class::Text('0'),
        0x1F130..=0x1F149 => offset(c, 0x1F130, 'A'),
        0x1F150..=0x1F169 => offset(c, 0x1F150, 'A'),
        0x1F170..=0x1F189 => offset(c, 0x1F170, 'A'),
        0x1F1E6..=0x1F1FF => offset(c, 0x1F1E6, 'A'),
        // Superscript and subscript digits.
        0xB9 => Class::Text('1'),
        0xB2 => Class::Text('2'),
        0xB3 => Class::Text('3'),
        0x2070 => Class::Text('0'),
        0x2071 => Class::Text('i'),
        0x2074..=0x2079 => offset(c, 0x2074, '4'),
        0x207F => Class::Text('n'),
        0x2080..=0x2089 => offset(c, 0x2080, '0'),
        // Ligatures.
        0xFB00 => Class::Str("ff"),
        0xFB01 => Class::Str("fi"),
        0xFB02 => Class::Str("fl"),
        0xFB03 => Class::Str("ffi"),
        0xFB04 => Class::Str("ffl"),
        0xFB05 | 0xFB06 => Class::Str("st"),
        0x132 | 0x133 => Class::Str("ij"),
        0x152 | 0x153 => Class::Str("oe"),
        0xC6 | 0xE6 => Class::Str("ae"),
        0xDF => Class::Str("ss"),
        // Latin-1 accents.
        0xC0..=0xC5 => Class::Text('A'),
        0xC7 => Class::Text('C'),
        0xC8..=0xCB => Class::Text('E'),
        0xCC..=0xCF => Class::Text('I'),
        0xD1 => Class::Text('N'),
        0xD2..=0xD6 | 0xD8 => Class::Text('O'),
        0xD9..=0xDC => Class::Text('U'),
        0xDD => Class::Text('Y'),
        0xE0..=0xE5 => Class::Text('a'),
        0xE7 => Class::Text('c'),
        0xE8..=0xEB => Class::Text('e'),
        0xEC..=0xEF => Class::Text('i'),
        0xF1 => Class::Text('n'),
        0xF2..=0xF6 | 0xF8 => Class::Text('o'),
        0xF9..=0xFC => Class::Text('u'),
        0xFD | 0xFF => Class::Text('y'),
        0x100..=0x17F => {
            let idx = (cp - 0x100) as usize;
            Class::Text(LATIN_EXT_A.get(idx).map_or(c, |b| char::from(*b)))
        }
        _ => homoglyph(c).map_or(Class::Text(c), Class::Text),
    }
}

fn offset_char(base: char, k: u32) -> Class {
    Class::Text(char::from_u32(base as u32 + k).unwrap_or(base))
}

/// Cyrillic, Greek, IPA and small-capital look-alikes of ASCII letters.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic lowercase
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'ӏ' => 'l',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ɡ' => 'g',
        'һ' => 'h',
        'ո' => 'n',
        'ս' => 'u',
        // Cyrillic uppercase
        'А' => 'A',
        'В' => 'B',
        'Е' | 'Ё' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'У' => 'Y',
        'Х' => 'X',
        'Ѕ' => 'S',
        'І' | 'Ї' => 'I',
        'Ј' => 'J',
        'Ԁ' => 'D',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'γ' => 'y',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // IPA and small capitals
        'ɑ' => 'a',
        'ɩ' => 'i',
        'ı' => 'i',
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ǫ' => 'q',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        // Letterlike symbols
        'ℎ' => 'h',
        'ℯ' => 'e',
        'ℊ' => 'g',
        'ℴ' => 'o',
        'ℓ' => 'l',
        'ℬ' => 'B',
        'ℰ' => 'E',
        'ℱ' => 'F',
        'ℋ' | 'ℌ' | 'ℍ' => 'H',
        'ℐ' | 'ℑ' => 'I',
        'ℒ' => 'L',
        'ℳ' => 'M',
        'ℛ' | 'ℜ' | 'ℝ' => 'R',
        'ℂ' | 'ℭ' => 'C',
        'ℕ' => 'N',
        'ℙ' => 'P',
        'ℚ' => 'Q',
        'ℤ' | 'ℨ' => 'Z',
        _ => return None,
    })
}

/// Lowercase words separated by single spaces, with a space at each end so
/// a phrase `" a b "` matches on word boundaries only.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// `" w1 w2 ... "`.
    pub text: String,
    /// Byte ranges of the words in `text`.
    pub spans: Vec<(usize, usize)>,
    /// Whether the word was written in capitals in mixed-case text (`DAN`, not `Dan`).
    pub caps: Vec<bool>,
}

impl Tokens {
    /// Number of words.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Word `i`, or `""` past the end.
    pub fn word(&self, i: usize) -> &str {
        self.spans
            .get(i)
            .and_then(|&(a, b)| self.text.get(a..b))
            .unwrap_or_default()
    }

    /// Whether word `i` is emphasised in capitals.
    pub fn is_caps(&self, i: usize) -> bool {
        self.caps.get(i).copied().unwrap_or(false)
    }

    /// Empties the tokens, keeping the buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
        self.caps.clear();
    }
}

fn leet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        'l' => 'i',
        other => other,
    }
}

/// True when the text has a leetspeak character next to a letter.
pub fn has_leet(folded: &str) -> bool {
    let b = folded.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        matches!(c, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'@' | b'$')
            && ((i > 0 && b.get(i - 1).is_some_and(u8::is_ascii_alphabetic))
                || b.get(i + 1).is_some_and(u8::is_ascii_alphabetic))
    })
}

/// Splits folded text into lowercase words (see [`Tokens`]).
pub fn tokenize(folded: &str, leetspeak: bool) -> Tokens {
    let mut out = Tokens::default();
    if leetspeak {
        tokenize_general(folded, true, &mut out, |_| {});
    } else {
        tokenize_into(folded, &mut out, |_| {});
    }
    out
}

/// What the plain tokenisation pass saw in the folded text, so the other
/// detectors can skip texts that cannot hold their patterns without another
/// pass over the bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// A leetspeak character next to a letter ([`has_leet`]).
    pub leet: bool,
    /// Longest stretch of base64 bytes (`decode::is_b64`); exact from 8 up,
    /// possibly less than the true length below 8.
    pub base64_run: usize,
    /// Longest stretch of hex-ish bytes (`decode::hexish`); exact from 8 up.
    pub hex_run: usize,
    /// A `<` or `[` (where every chat-template marker starts).
    pub marker_start: bool,
    /// A `:` (fake system headers).
    pub colon: bool,
    /// A `%` (URL escapes).
    pub percent: bool,
}

impl Facts {
    /// The facts of `folded`, measured byte by byte (the reference for the
    /// tokenisation pass, and its path for text that is not ASCII).
    pub fn of(folded: &str) -> Facts {
        let b = folded.as_bytes();
        let (base64_run, hex_run) = super::decode::longest_stretches(b);
        Facts {
            leet: has_leet(folded),
            base64_run,
            hex_run,
            marker_start: memchr::memchr2(b'<', b'[', b).is_some(),
            colon: memchr::memchr(b':', b).is_some(),
            percent: memchr::memchr(b'%', b).is_some(),
        }
    }
}

// Byte classes of the tokenisation pass (bytes >= 0x80 have none).
const ALNUM: u8 = 1;
const UPPER: u8 = 1 << 1;
const LOWER: u8 = 1 << 2;
const B64: u8 = 1 << 3;
const HEXISH: u8 = 1 << 4;
/// A leetspeak character: `0 1 3 4 5 7 @ $`.
const LEET: u8 = 1 << 5;
/// A separator that sets a fact: `< [ : % @ $`.
const SPECIAL: u8 = 1 << 6;

const fn class_of(b: u8) -> u8 {
    let mut c = 0;
    if b.is_ascii_alphanumeric() {
        c |= ALNUM;
    }
    if b.is_ascii_uppercase() {
        c |= UPPER;
    }
    if b.is_ascii_lowercase() {
        c |= LOWER;
    }
    if super::decode::is_b64(b) {
        c |= B64;
    }
    if super::decode::hexish(b) {
        c |= HEXISH;
    }
    if matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'@' | b'$') {
        c |= LEET;
    }
    if matches!(b, b'<' | b'[' | b':' | b'%' | b'@' | b'$') {
        c |= SPECIAL;
    }
    c
}

// A loop over 0..256 filling a 256-entry table: every index is in bounds.
#[allow(clippy::indexing_slicing)]
static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        t[i] = class_of(i as u8);
        i += 1;
    }
    t
};

#[inline(always)]
fn class(b: u8) -> u8 {
    // A u8 index into 256 entries: the bound check folds away.
    CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// Extends the stretch `cur` of `bit` bytes over `seg` (`all`: every byte of
/// `seg` has `bit`), recording finished stretches in `max`. A stretch inside
/// `seg` that touches neither end is measured only when `seg` is long enough
/// to hold one of 8 bytes (so `max` is exact from 8 up).
#[inline(always)]
fn stretch(seg: &[u8], all: bool, bit: u8, cur: &mut usize, max: &mut usize) {
    if all {
        *cur += seg.len();
        return;
    }
    let has = |x: &u8| class(*x) & bit != 0;
    let pre = seg.iter().take_while(|x| has(x)).count();
    *max = (*max).max(*cur + pre);
    if seg.len() >= 10 {
        let mut run = 0usize;
        for x in seg {
            run = if has(x) { run + 1 } else { 0 };
            *max = (*max).max(run);
        }
    }
    *cur = seg.iter().rev().take_while(|x| has(x)).count();
}

/// Splits folded text into the plain view's words (see [`Tokens`]) in one
/// pass, into `out` (reused: cleared first), calling `on_word` with each
/// word as written to `out.text`; returns the [`Facts`] seen on the way.
/// Output is byte for byte that of the general path (tested): ASCII text
/// (the common case) goes word by word through a byte-class table; other
/// text takes the general path and one more pass for the facts.
pub fn tokenize_into(folded: &str, out: &mut Tokens, on_word: impl FnMut(&[u8])) -> Facts {
    if folded.is_ascii() {
        tokenize_ascii(folded, out, on_word)
    } else {
        tokenize_general(folded, false, out, on_word);
        Facts::of(folded)
    }
}

/// The plain view of ASCII text (a byte >= 0x80 would be read as a
/// separator: [`tokenize_into`] sends only ASCII here).
fn tokenize_ascii(text: &str, out: &mut Tokens, mut on_word: impl FnMut(&[u8])) -> Facts {
    let b = text.as_bytes();
    out.clear();
    out.text.reserve(b.len() + 2);
    out.text.push(' ');
    let mut f = Facts::default();
    let (mut b64, mut hex) = (0usize, 0usize);
    let mut any_caps = false;
    let mut i = 0usize;
    loop {
        // Separators up to the next word.
        let sep_start = i;
        let (mut sep_and, mut sep_or) = (B64 | HEXISH, 0u8);
        while let Some(&x) = b.get(i) {
            let c = class(x);
            if c & ALNUM != 0 {
                break;
            }
            sep_and &= c;
            sep_or |= c;
            i += 1;
        }
        if i > sep_start {
            let sep = b.get(sep_start..i).unwrap_or_default();
            if sep_or & SPECIAL != 0 {
                separator_facts(b, sep_start, sep, &mut f);
            }
            stretch(sep, sep_and & B64 != 0, B64, &mut b64, &mut f.base64_run);
            stretch(sep, sep_and & HEXISH != 0, HEXISH, &mut hex, &mut f.hex_run);
        }
        if i >= b.len() {
            break;
        }
        // One word.
        let word_start = i;
        let (mut or, mut and) = (0u8, 0xFFu8);
        while let Some(&x) = b.get(i) {
            let c = class(x);
            if c & ALNUM == 0 {
                break;
            }
            or |= c;
            and &= c;
            i += 1;
        }
        let word = b.get(word_start..i).unwrap_or_default();
        let start = out.text.len();
        out.text
            .push_str(text.get(word_start..i).unwrap_or_default());
        if or & UPPER != 0 {
            if let Some(w) = out.text.get_mut(start..) {
                w.make_ascii_lowercase();
            }
        }
        let end = out.text.len();
        out.spans.push((start, end));
        let shouting = or & LOWER == 0
            && or & UPPER != 0
            && word.iter().filter(|x| x.is_ascii_uppercase()).count() >= 2;
        any_caps |= shouting;
        out.caps.push(shouting);
        on_word(out.text.as_bytes().get(start..end).unwrap_or_default());
        out.text.push(' ');
        // Every ASCII letter and digit is a base64 byte.
        b64 += word.len();
        stretch(word, and & HEXISH != 0, HEXISH, &mut hex, &mut f.hex_run);
        if !f.leet && or & LEET != 0 && or & (UPPER | LOWER) != 0 {
            f.leet = word.windows(2).any(|w| match w {
                [x, y] => {
                    (class(*x) & LEET != 0 && y.is_ascii_alphabetic())
                        || (x.is_ascii_alphabetic() && class(*y) & LEET != 0)
                }
                _ => false,
            });
        }
    }
    f.base64_run = f.base64_run.max(b64);
    f.hex_run = f.hex_run.max(hex);
    if out.text.len() == 1 {
        out.text.push(' ');
    }
    if any_caps {
        settle_caps(&mut out.caps);
    }
    f
}

/// The facts a separator run with a `< [ : % @ $` sets (`at`: its offset in `b`).
#[cold]
fn separator_facts(b: &[u8], at: usize, sep: &[u8], f: &mut Facts) {
    for (k, &x) in sep.iter().enumerate() {
        match x {
            b'<' | b'[' => f.marker_start = true,
            b':' => f.colon = true,
            b'%' => f.percent = true,
            b'@' | b'$' => {
                let i = at + k;
                let alpha = |j: Option<usize>| {
                    j.and_then(|j| b.get(j))
                        .is_some_and(|c| c.is_ascii_alphabetic())
                };
                f.leet |= alpha(i.checked_sub(1)) || alpha(Some(i + 1));
            }
            _ => {}
        }
    }
}

/// Turns per-word "written in capitals" flags into [`Tokens::caps`]: a
/// capitalised word counts only where its neighbours are not shouting too.
fn settle_caps(caps: &mut [bool]) {
    let mut prev = false;
    for i in 0..caps.len() {
        let next = caps.get(i + 1).copied().unwrap_or(false);
        if let Some(c) = caps.get_mut(i) {
            let cur = *c;
            *c = cur && !(prev && next);
            prev = cur;
        }
    }
}

/// Splits folded text into lowercase words, either view, one character at a
/// time (the leetspeak view, and text that is not ASCII).
pub fn tokenize_general(
    folded: &str,
    leetspeak: bool,
    out: &mut Tokens,
    mut on_word: impl FnMut(&[u8]),
) {
    let mut text: Vec<u8> = std::mem::take(&mut out.text).into_bytes();
    out.clear();
    text.clear();
    text.reserve(folded.len() + 2);
    let spans = &mut out.spans;
    let upper_words = &mut out.caps;
    text.push(b' ');
    let mut start: Option<usize> = None;
    let (mut upper, mut lower) = (0usize, 0usize);
    let bytes = folded.as_bytes();
    let mut i = 0;
    let mut utf8 = [0u8; 4];
    let mut end_word = |text: &mut Vec<u8>, s: usize, upper: usize, lower: usize| {
        spans.push((s, text.len()));
        upper_words.push(upper >= 2 && lower == 0);
        on_word(text.get(s..).unwrap_or_default());
        text.push(b' ');
    };
    while let Some(&b) = bytes.get(i) {
        if b < 0x80 {
            i += 1;
            let c = if leetspeak && (b.is_ascii_digit() || b == b'@' || b == b'$') {
                leet(char::from(b)) as u8
            } else {
                b
            };
            if c.is_ascii_alphanumeric() {
                if start.is_none() {
                    start = Some(text.len());
                    upper = 0;
                    lower = 0;
                }
                if c.is_ascii_uppercase() {
                    upper += 1;
                } else if c.is_ascii_lowercase() {
                    lower += 1;
                }
                let l = c.to_ascii_lowercase();
                text.push(if leetspeak && l == b'l' { b'i' } else { l });
            } else if let Some(s) = start.take() {
                end_word(&mut text, s, upper, lower);
            }
            continue;
        }
        let raw = folded
            .get(i..)
            .and_then(|s| s.chars().next())
            .unwrap_or(' ');
        i += raw.len_utf8();
        if raw.is_alphanumeric() {
            if start.is_none() {
                start = Some(text.len());
                upper = 0;
                lower = 0;
            }
            if raw.is_uppercase() {
                upper += 1;
            } else if raw.is_lowercase() {
                lower += 1;
            }
            for l in raw.to_lowercase() {
                let l = if leetspeak { leet(l) } else { l };
                text.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
            }
        } else if let Some(s) = start.take() {
            end_word(&mut text, s, upper, lower);
        }
    }
    if let Some(s) = start.take() {
        end_word(&mut text, s, upper, lower);
    }
    if text.len() == 1 {
        text.push(b' ');
    }
    settle_caps(&mut out.caps);
    // Only whole characters were written, so this never fails.
    out.text = String::from_utf8(text)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Whether one of `markers` (lowercase, without whitespace, each starting
/// with `<` or `[`) appears in `folded` once whitespace is removed and case
/// folded: [`squash`] then a substring search, but only at the `<` / `[`
/// bytes, where every marker starts.
pub fn has_marker(folded: &str, markers: &[String], max_chars: usize) -> bool {
    let mut window = String::with_capacity(max_chars.saturating_mul(4));
    for pos in memchr::memchr2_iter(b'<', b'[', folded.as_bytes()) {
        window.clear();
        let mut n = 0usize;
        for c in folded.get(pos..).unwrap_or_default().chars() {
            if c.is_whitespace() {
                continue;
            }
            for l in c.to_lowercase() {
                window.push(l);
                n += 1;
            }
            if n >= max_chars {
                break;
            }
        }
        if markers.iter().any(|m| window.starts_with(m.as_str())) {
            return true;
        }
    }
    false
}

/// True when folding would not change `input`: printable ASCII and line
/// feeds only (the common case). Eight bytes at a time: a chunk is looked at
/// byte by byte only when it may hold a byte outside the printable range
/// (in practice: a line feed).
pub fn is_plain(input: &str) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let plain = |b: &u8| (0x20..0x7F).contains(b) || *b == b'\n';
    let mut chunks = input.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let x = u64::from_le_bytes(a);
        // A byte >= 0x80, < 0x20, or 0x7F (the classic "has less than" and
        // "has zero" tests; no false negatives).
        let high = x & HIGH;
        let below = x.wrapping_sub(LOW * 0x20) & !x & HIGH;
        let del = x ^ (LOW * 0x7F);
        let is_del = del.wrapping_sub(LOW) & !del & HIGH;
        if (high | below | is_del) != 0 && !c.iter().all(plain) {
            return false;
        }
    }
    chunks.remainder().iter().all(plain)
}

/// [`fold`], borrowing the input when folding would not change it
/// ([`is_plain`]).
pub fn fold_cow(input: &str) -> (std::borrow::Cow<'_, str>, Signals) {
    if is_plain(input) {
        (std::borrow::Cow::Borrowed(input), Signals::default())
    } else {
        let f = fold(input);
        (std::borrow::Cow::Owned(f.text), f.signals)
    }
}

/// Lowercase folded text without whitespace, for chat-template tokens like `< |im_start| >`.
pub fn squash(folded: &str) -> String {
    folded
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A rule phrase in the matching form of one view: `" w1 w2 "`.
pub fn phrase(p: &str, leetspeak: bool) -> String {
    tokenize(&fold(p).text, leetspeak).text
}

/// Whether [`phrase`] output (` a b c `, a space at both ends) holds one of
/// `list`'s word sequences (each given as lowercase words, `"is this"`) on
/// word boundaries.
pub fn holds_any(phrased: &str, list: &[&str]) -> bool {
    list.iter().any(|w| {
        let mut p = String::with_capacity(w.len() + 2);
        p.push(' ');
        p.push_str(w);
        p.push(' ');
        phrased.contains(&p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> String {
        tokenize(&fold(s).text, false).text.trim().to_string()
    }

    #[test]
    fn zero_width_characters_inside_words_are_removed() {
        assert_eq!(
            words("ig\u{200B}no\u{200C}re pre\u{2060}vious"),
            "ignore previous"
        );
        assert_eq!(words("in\u{FEFF}struc\u{200D}tions"), "instructions");
    }

    #[test]
    fn bidi_controls_are_removed() {
        assert_eq!(words("\u{202E}ignore\u{202C} all"), "ignore all");
    }

    #[test]
    fn fullwidth_letters_fold_to_ascii() {
        assert_eq!(words("ＩＧＮＯＲＥ ｐｒｅｖｉｏｕｓ"), "ignore previous");
    }

    #[test]
    fn mathematical_alphanumerics_fold_to_ascii() {
        assert_eq!(
            words("𝐢𝐠𝐧𝐨𝐫𝐞 𝓅𝓇𝑒𝓋𝒾𝑜𝓊𝓈 𝚛𝚞𝚕𝚎𝚜 𝟙𝟚"),
            "ignore previous rules 12"
        );
    }

    #[test]
    fn circled_and_squared_letters_fold_to_ascii() {
        assert_eq!(words("ⓘⓖⓝⓞⓡⓔ 🅰🅻🅻"), "ignore all");
    }

    #[test]
    fn ligatures_and_accents_fold_to_ascii() {
        assert_eq!(
            words("ﬁnal ïgnörè ĩnstructiōns"),
            "final ignore instructions"
        );
    }

    #[test]
    fn combining_marks_are_removed() {
        assert_eq!(
            words("i\u{0336}g\u{0336}n\u{0336}o\u{0336}r\u{0336}e"),
            "ignore"
        );
    }

    #[test]
    fn cyrillic_and_greek_homoglyphs_map_to_ascii() {
        // і, о, е, р are Cyrillic; ο is Greek.
        assert_eq!(
            words("\u{0456}gn\u{043E}r\u{0435} \u{0440}revi\u{03BF}us"),
            "ignore previous"
        );
    }

    #[test]
    fn small_capitals_map_to_ascii() {
        assert_eq!(words("ɪɢɴᴏʀᴇ"), "ignore");
    }

    #[test]
    fn punctuation_and_whitespace_runs_collapse_to_one_space() {
        assert_eq!(
            words("ignore...   all\n\n--- previous!!!"),
            "ignore all previous"
        );
        assert_eq!(tokenize("a  b", false).text, " a b ");
    }

    #[test]
    fn case_is_folded() {
        assert_eq!(words("IgNoRe"), "ignore");
    }

    #[test]
    fn leetspeak_view_maps_digits_and_symbols_and_l_to_i() {
        assert_eq!(
            tokenize("1gn0r3 4ll pr3v10u5 ru1es", true).text.trim(),
            "ignore aii previous ruies"
        );
        assert_eq!(tokenize("@ll $y$tem", true).text.trim(), "aii system");
        assert_eq!(phrase("all rules", true), " aii ruies ");
    }

    #[test]
    fn leetspeak_is_only_detected_next_to_letters() {
        assert!(has_leet("pr3vious"));
        assert!(has_leet("h@ck"));
        assert!(!has_leet("costs $100 in 2024"));
    }

    #[test]
    fn unicode_tags_are_removed_counted_and_decoded() {
        let hidden: String = "hi"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let f = fold(&format!("What is this?{hidden}"));
        assert_eq!(f.text, "What is this?");
        assert_eq!(f.signals.tag_chars, 2);
        assert_eq!(f.signals.tag_text, "hi");
    }

    #[test]
    fn flag_tag_sequences_are_not_smuggling() {
        // England: black flag + tags "gbeng" + cancel tag.
        let f = fold("\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} football");
        assert_eq!(f.signals.tag_chars, 0);
    }

    #[test]
    fn invisible_runs_are_measured() {
        let f = fold(&format!("a{}b", "\u{200B}\u{200C}".repeat(10)));
        assert_eq!(f.signals.max_invisible_run, 20);
        assert_eq!(fold("👨\u{200D}👩\u{200D}👧").signals.max_invisible_run, 0);
    }

    #[test]
    fn capitals_count_only_in_mixed_case_text() {
        let t = tokenize("act like DAN now", false);
        assert!(t.is_caps(2));
        let t = tokenize("AS AN AIM OF THIS", false);
        assert!(!t.is_caps(2));
        assert!(!tokenize("my friend Dan", false).is_caps(2));
    }

    #[test]
    fn squash_removes_whitespace_and_lowercases() {
        assert_eq!(squash("< |IM_START| >system"), "<|im_start|>system");
    }

    #[test]
    fn markers_are_found_at_their_opening_bytes_like_squash() {
        let markers = vec!["<|im_start|>".to_string(), "[inst]".to_string()];
        for (text, want) in [
            ("< |IM_START| >system", true),
            ("a [ INST ] b", true),
            ("<b>bold</b> [link](x)", false),
            ("no markers here", false),
            ("<", false),
        ] {
            assert_eq!(has_marker(text, &markers, 12), want, "{text}");
            assert_eq!(
                markers.iter().any(|m| squash(text).contains(m.as_str())),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn fold_cow_borrows_plain_ascii_and_folds_the_rest() {
        let (c, s) = fold_cow("plain text\nline two");
        assert!(matches!(c, std::borrow::Cow::Borrowed(_)));
        assert_eq!(s, Signals::default());
        for input in ["tab\there", "ＩＧＮＯＲＥ", "a\u{200B}b", "cr\r\n"] {
            let (c, s) = fold_cow(input);
            let f = fold(input);
            assert_eq!(c, f.text);
            assert_eq!(s, f.signals);
        }
    }

    #[test]
    fn ascii_and_unicode_paths_tokenize_alike() {
        assert_eq!(tokenize("Héllo WORLD, x", false).text, " héllo world x ");
        assert_eq!(tokenize("1gn0r3 ALL", true).text, " ignore aii ");
        let t = tokenize("act like DAN now", false);
        assert_eq!(t.spans.len(), 4);
        assert_eq!(t.word(2), "dan");
    }

    /// Deterministic strings rich in what the fast path treats specially.
    fn samples() -> Vec<String> {
        const PIECES: &[&str] = &[
            "a",
            "B",
            "z",
            "Q",
            "x",
            "X",
            "0",
            "1",
            "2",
            "7",
            "9",
            "f",
            "F",
            "e",
            " ",
            "  ",
            ".",
            ",",
            ":",
            "\\",
            "+",
            "/",
            "-",
            "_",
            "=",
            "<",
            "[",
            "%",
            "@",
            "$",
            "\n",
            "\t",
            "!",
            "IGNORE",
            "Ignore",
            "dan",
            "DAN",
            "h3llo",
            "pr3v",
            "c0de",
            "deadbeef",
            "CAFE",
            "0x41",
            "\\x41",
            "%20",
            "aGVsbG8gd29ybGQ=",
            "é",
            "Ünïcode",
            "日本",
            "\u{200B}",
            "\u{7F}",
            "\u{1}",
            "\r\n",
            "ſ",
            "İ",
        ];
        let mut out: Vec<String> = ["", " ", "a", "A", "AB", "a1", "1a", "@a", "a$", "@", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..4000 {
            let mut s = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 40) as usize;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(PIECES[(x % PIECES.len() as u64) as usize]);
            }
            out.push(s);
        }
        // Long stretches around the 8-byte threshold, inside and across words.
        for n in [6, 7, 8, 9, 10, 11, 12, 20, 40] {
            out.push(format!("zz{}zz", "a".repeat(n)));
            out.push(format!("qq {} qq", "ab ".repeat(n)));
            out.push(format!("q.{}.q", " ".repeat(n)));
            out.push(format!("k{}k", "+".repeat(n)));
            out.push(format!("word {}", "Ab1+".repeat(n)));
        }
        out
    }

    #[test]
    fn the_ascii_path_tokenizes_byte_for_byte_like_the_general_path() {
        for s in samples() {
            let folded = fold(&s).text;
            let mut general = Tokens::default();
            let mut general_words = Vec::new();
            tokenize_general(&folded, false, &mut general, |w| {
                general_words.push(w.to_vec())
            });
            let mut fast = Tokens::default();
            let mut fast_words = Vec::new();
            let facts = tokenize_into(&folded, &mut fast, |w| fast_words.push(w.to_vec()));
            assert_eq!(fast.text, general.text, "{s:?}");
            assert_eq!(fast.spans, general.spans, "{s:?}");
            assert_eq!(fast.caps, general.caps, "{s:?}");
            assert_eq!(fast_words, general_words, "{s:?}");
            assert_eq!(tokenize(&folded, false).text, general.text);
            let want = Facts::of(&folded);
            assert_eq!(facts.leet, want.leet, "{s:?}");
            assert_eq!(
                (facts.marker_start, facts.colon, facts.percent),
                (want.marker_start, want.colon, want.percent),
                "{s:?}"
            );
            for (got, want) in [
                (facts.base64_run, want.base64_run),
                (facts.hex_run, want.hex_run),
            ] {
                assert!(got <= want, "{s:?}: {got} > {want}");
                if want >= 8 {
                    assert_eq!(got, want, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn buffers_are_reused_without_leftovers() {
        let mut t = Tokens::default();
        tokenize_into("A long first text WITH words", &mut t, |_| {});
        tokenize_into("x", &mut t, |_| {});
        assert_eq!((t.text.as_str(), t.len()), (" x ", 1));
        tokenize_general("Ünï", false, &mut t, |_| {});
        assert_eq!((t.text.as_str(), t.len(), t.caps.len()), (" ünï ", 1, 1));
        let mut f = String::from("stale");
        let sig = fold_into("a\tb", &mut f);
        assert_eq!((f.as_str(), sig), ("a b", Signals::default()));
    }

    #[test]
    fn is_plain_agrees_with_a_byte_by_byte_check() {
        let slow = |s: &str| s.bytes().all(|b| (0x20..0x7F).contains(&b) || b == b'\n');
        for s in samples() {
            assert_eq!(is_plain(&s), slow(&s), "{s:?}");
        }
        for b in 0u8..0x80 {
            for at in 0..17 {
                let mut v = vec![b'a'; 17];
                v[at] = b;
                let s = String::from_utf8(v).unwrap();
                assert_eq!(is_plain(&s), slow(&s), "{b} at {at}");
            }
        }
    }

    #[test]
    fn other_scripts_pass_through() {
        assert_eq!(words("请描述一个房间"), "请描述一个房间");
    }
}
