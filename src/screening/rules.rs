//! Rule categories. The built-in rules themselves are data:
//! `pack/rules.v1.json`, read by [`super::pack`] (syntax in docs/screening.md).
//!
//! Most rules are word templates matched over the normalised words: a
//! sequence of slots, each a set of alternatives (one or more words; a
//! trailing `*` matches a prefix; a leading `=` needs the word written in
//! capitals in mixed-case text, so the persona `DAN` is not the name `Dan`),
//! optional slots and bounded gaps. One template stands for the hundreds of
//! paraphrases a literal list would need ("disregard any prior directives",
//! "forget all of your previous rules", ...), and `not_before` /
//! `not_after` keep the common benign readings out ("do not ignore the
//! previous instructions", "ignore any instructions in the document").
//!
//! Precision comes first: each template names the *target* of the attack
//! (the model's instructions, its system prompt, its restrictions), not just
//! a trigger word such as "ignore" or "pretend". Rule ids are stable and
//! appear in 403 messages, logs and the monitor header.

/// A built-in category (or the operator's own rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// "Ignore previous instructions" and paraphrases.
    InstructionOverride,
    /// Attempts to read the system prompt.
    SystemPromptExtraction,
    /// Fake chat-template tokens and fake system headers.
    RoleImpersonation,
    /// Jailbreak personas and "no restrictions" set-ups.
    JailbreakPersona,
    /// Hidden or encoded text.
    Smuggling,
    /// Operator deny rules.
    Operator,
}

impl Category {
    /// The five built-in categories.
    pub const BUILT_IN: [Category; 5] = [
        Category::InstructionOverride,
        Category::SystemPromptExtraction,
        Category::RoleImpersonation,
        Category::JailbreakPersona,
        Category::Smuggling,
    ];

    /// Name as written in `categories` and reported in hits.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::InstructionOverride => "instruction_override",
            Category::SystemPromptExtraction => "system_prompt_extraction",
            Category::RoleImpersonation => "role_impersonation",
            Category::JailbreakPersona => "jailbreak_persona",
            Category::Smuggling => "smuggling",
            Category::Operator => "operator",
        }
    }
}
