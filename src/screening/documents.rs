//! Documents pasted into a user message ("Summarize this email: <long
//! text>", "Translate the following article:\n\n...", "<text>\n\nSummarize
//! the above."). The pasted part is third-party text, like a tool result: the
//! model scores it as indirect (`model.indirect_action`), while the request
//! around it stays direct. Rules still read the whole message.
//!
//! The heuristic, deliberately narrow (a miss only means the document is
//! scored as direct text, as before):
//! - the message is long enough to hold a document ([`MIN_DOCUMENT`] bytes
//!   after the split) and the instruction is short ([`MAX_INSTRUCTION`]);
//! - the instruction names a task on a text (summarize, translate,
//!   proofread, ...) and points at it (this, the following, below, above,
//!   email, article, ...);
//! - it is separated from the document by a colon, a blank line, a fence
//!   (```` ``` ````, `"""`, `---`) or an opening tag such as `<email>`; or it
//!   follows the document as its last paragraph ("Summarize the above.").

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use std::ops::Range;

/// Shortest pasted document, in bytes.
pub const MIN_DOCUMENT: usize = 200;
/// Longest instruction around a pasted document, in bytes.
pub const MAX_INSTRUCTION: usize = 300;

/// Words that ask for work on a text.
const TASKS: &[&str] = &[
    "summarize",
    "summarise",
    "summary",
    "tl dr",
    "tldr",
    "translate",
    "translation",
    "proofread",
    "rewrite",
    "rephrase",
    "paraphrase",
    "reword",
    "shorten",
    "condense",
    "simplify",
    "edit",
    "correct",
    "fix",
    "improve",
    "polish",
    "review",
    "analyze",
    "analyse",
    "classify",
    "categorize",
    "extract",
    "explain",
    "critique",
    "grade",
    "check",
    "format",
    "outline",
    "answer",
    "reply to",
    "respond to",
    "key points",
    "main points",
    "sentiment",
];

/// Words that point at the pasted text.
const POINTERS: &[&str] = &[
    "this",
    "these",
    "following",
    "below",
    "above",
    "attached",
    "text",
    "email",
    "e mail",
    "mail",
    "message",
    "letter",
    "article",
    "document",
    "doc",
    "report",
    "passage",
    "paragraph",
    "paragraphs",
    "transcript",
    "essay",
    "post",
    "page",
    "story",
    "notes",
    "content",
    "thread",
    "chat",
    "conversation",
    "review",
    "abstract",
    "paper",
    "contract",
    "code",
    "log",
    "memo",
    "it",
];

/// Whether `instruction` asks for work on a text it points at.
fn is_instruction(instruction: &str) -> bool {
    let words = super::normalize::phrase(instruction, false);
    let has = |list: &[&str]| super::normalize::holds_any(&words, list);
    words.len() > 2 && has(TASKS) && has(POINTERS)
}

/// Byte offset just after the separator that ends a leading instruction, if
/// one sits within [`MAX_INSTRUCTION`] bytes: the earliest of a colon
/// followed by whitespace, a blank line, or a fence or opening tag at a line
/// start. One pass over the colons and line feeds of the head (every
/// candidate is at one, or just after one).
fn leading_split(text: &str) -> Option<(usize, usize)> {
    let head_end = (MAX_INSTRUCTION + 1..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let head = text.get(..head_end)?;
    let b = head.as_bytes();
    for i in memchr::memchr2_iter(b':', b'\n', b) {
        if b.get(i) == Some(&b':') {
            if text
                .get(i + 1..)
                .and_then(|r| r.chars().next())
                .is_some_and(char::is_whitespace)
            {
                return Some((i, i + 1));
            }
            continue;
        }
        // A blank line.
        if b.get(i + 1) == Some(&b'\n') {
            return Some((i, i + 2));
        }
        // A fence or an opening tag at the start of the next line.
        let next = head.get(i + 1..).unwrap_or_default();
        if FENCES.iter().any(|f| next.starts_with(f)) {
            return Some((i + 1, i + 1));
        }
    }
    None
}

/// What may separate an instruction from the document after it, at a line start.
const FENCES: [&str; 6] = ["```", "\"\"\"", "---", "===", "'''", "<"];

/// Where the last paragraph starts: the last `"\n\n"`, else the last `'\n'`
/// (`rfind("\n\n").or_else(|| rfind('\n'))` in one backward pass).
fn last_break(b: &[u8]) -> Option<usize> {
    let mut last = None;
    for i in memchr::memrchr_iter(b'\n', b) {
        if last.is_none() {
            last = Some(i);
        }
        if b.get(i + 1) == Some(&b'\n') {
            return Some(i);
        }
    }
    last
}

/// The byte range of a document pasted into `text`, when there is one.
pub fn pasted_document(text: &str) -> Option<Range<usize>> {
    if text.len() < MIN_DOCUMENT + 8 {
        return None;
    }
    if let Some((instr_end, doc_start)) = leading_split(text) {
        let instruction = text.get(..instr_end)?;
        let doc = text.get(doc_start..)?;
        if doc.trim().len() >= MIN_DOCUMENT && is_instruction(instruction) {
            return Some(doc_start..text.len());
        }
    }
    // A trailing instruction: the last paragraph (or line), short, after the document.
    let trimmed = text.trim_end();
    let cut = last_break(trimmed.as_bytes())?;
    let instruction = trimmed.get(cut..)?;
    let doc = text.get(..cut)?;
    if instruction.trim().len() <= MAX_INSTRUCTION
        && doc.trim().len() >= MIN_DOCUMENT
        && is_instruction(instruction)
    {
        return Some(0..cut);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(words: usize) -> String {
        "The committee met on Tuesday to review the budget for the coming year. "
            .repeat(words / 12 + 1)
    }

    fn split(text: &str) -> Option<(String, String)> {
        pasted_document(text).map(|r| {
            let d = text[r.clone()].to_string();
            let i = format!("{}{}", &text[..r.start], &text[r.end..]);
            (i, d)
        })
    }

    #[test]
    fn a_task_on_a_text_after_a_colon_splits_off_the_document() {
        let body = doc(60);
        let (i, d) = split(&format!("Summarize this email: {body}")).unwrap();
        assert_eq!(i, "Summarize this email:");
        assert_eq!(d.trim(), body.trim());
        let (i, _) = split(&format!(
            "Please translate the following article into German:\n{body}"
        ))
        .unwrap();
        assert!(i.starts_with("Please translate"));
    }

    #[test]
    fn blank_lines_fences_and_tags_separate_too() {
        let body = doc(60);
        for text in [
            format!("Proofread the text below.\n\n{body}"),
            format!("Give me the key points of this report\n```\n{body}\n```"),
            format!("Review this contract\n<document>\n{body}\n</document>"),
            format!("Rewrite this paragraph more simply\n---\n{body}"),
        ] {
            let (i, d) = split(&text).unwrap_or_else(|| panic!("{text}"));
            assert!(i.len() < 80, "{i}");
            assert!(d.contains("committee"));
        }
    }

    #[test]
    fn an_instruction_after_the_document_splits_too() {
        let body = doc(60);
        let (i, d) = split(&format!("{body}\n\nSummarize the above in two sentences.")).unwrap();
        assert_eq!(i.trim(), "Summarize the above in two sentences.");
        assert!(d.contains("committee"));
    }

    #[test]
    fn ordinary_messages_are_not_documents() {
        let body = doc(60);
        for text in [
            // Short.
            "Summarize this email: hi Bob, lunch at noon?".to_string(),
            // Long, but no task on a text.
            format!("Here is my story: {body}"),
            format!("I think: {body}"),
            // A task, but no separator before a long remainder.
            format!("Can you summarize why {body}"),
            // A long instruction is not an instruction line.
            format!("{body}: {body}"),
        ] {
            assert_eq!(split(&text), None, "{text}");
        }
    }

    /// The split as first written: each separator kind searched on its own,
    /// the earliest kept.
    fn leading_split_reference(text: &str) -> Option<(usize, usize)> {
        let head_end = text
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| i > MAX_INSTRUCTION)
            .unwrap_or(text.len());
        let head = text.get(..head_end)?;
        let mut best: Option<(usize, usize)> = None;
        let mut consider = |instr_end: usize, doc_start: usize| {
            if best.is_none_or(|(e, _)| instr_end < e) {
                best = Some((instr_end, doc_start));
            }
        };
        for (i, _) in head.match_indices(':') {
            if text
                .get(i + 1..)
                .and_then(|r| r.chars().next())
                .is_some_and(char::is_whitespace)
            {
                consider(i, i + 1);
            }
        }
        if let Some(i) = head.find("\n\n") {
            consider(i, i + 2);
        }
        for fence in ["```", "\"\"\"", "---", "===", "'''", "<"] {
            let mut from = 0;
            while let Some(p) = head.get(from..).and_then(|h| h.find(fence)) {
                let at = from + p;
                let line_start = at == 0 || head.get(..at).is_some_and(|b| b.ends_with('\n'));
                if line_start && at > 0 {
                    consider(at, at);
                }
                from = at + fence.len();
            }
        }
        best
    }

    #[test]
    fn the_one_pass_split_finds_what_each_separator_search_finds() {
        const PIECES: &[&str] = &[
            "word ",
            "Summarize this",
            ":",
            ": ",
            ":\n",
            "\n",
            "\n\n",
            "```",
            "\"\"\"",
            "---",
            "--",
            "===",
            "'''",
            "<",
            "<doc>",
            "é",
            "日本",
            "\u{3000}",
            " ",
            "x",
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for n in 0..3000 {
            let mut t = String::new();
            while t.len() < n % 420 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t.push_str(PIECES[(x % PIECES.len() as u64) as usize]);
            }
            assert_eq!(leading_split(&t), leading_split_reference(&t), "{t:?}");
        }
    }

    #[test]
    fn the_last_break_is_the_last_blank_line_else_the_last_line_feed() {
        for t in [
            "",
            "a",
            "\n",
            "\n\n",
            "\n\n\n",
            "a\nb",
            "a\n\nb\nc",
            "a\n\nb\n\nc\nd",
            "x\n\n\ny\n",
        ] {
            let want = t.rfind("\n\n").or_else(|| t.rfind('\n'));
            assert_eq!(last_break(t.as_bytes()), want, "{t:?}");
        }
    }

    #[test]
    fn multibyte_text_never_panics() {
        let body = "é".repeat(400);
        let _ = pasted_document(&format!("Traduis ce texte: {body}"));
        let _ = pasted_document(&"ü:\n".repeat(300));
        let _ = pasted_document(&format!("{body}\n\nрезюмируй это"));
    }
}
