//! Request body shapes → the texts a model will read, each with its role
//! (used by screening; budgets read `model` and the output limit from the
//! same parse).
//!
//! One parser understands the OpenAI (chat completions, Responses, legacy
//! completions, embeddings) and Anthropic Messages vocabularies, because the
//! shapes overlap and gateways see both on look-alike paths. The path only
//! says which top-level field is required. Unknown content-part types are
//! skipped (new modalities appear often), but a `text` string inside one is
//! still taken: text must never slip past screening by being mislabelled.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use serde::Deserialize;

/// The role a piece of text has in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Operator instructions: chat `system`, Anthropic `system`, Responses `instructions`.
    System,
    /// OpenAI `developer` messages.
    Developer,
    /// End-user content (also legacy `prompt` and embeddings `input`).
    User,
    /// Earlier model turns, including tool-call arguments.
    Assistant,
    /// Tool results: chat `tool` / `function` messages, Anthropic `tool_result`,
    /// Responses `function_call_output`. The usual carrier of indirect injection.
    Tool,
}

impl Role {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// Why a request body was refused before screening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// The body is not JSON (or nests deeper than the parser allows).
    InvalidJson,
    /// A field has the wrong type or an unusable value.
    InvalidBody {
        /// Path of the field, e.g. `messages[2].content`.
        field: String,
        /// What was expected, e.g. `a string or an array of content parts`.
        expected: &'static str,
    },
    /// A chat or Anthropic request without `messages`, or a body with none of
    /// the fields a model reads.
    MissingMessages,
    /// More messages or input items than `max_messages`.
    TooManyMessages {
        /// The configured limit.
        max: usize,
    },
    /// One message has more characters than `max_message_chars`.
    MessageTooLong {
        /// Index of the message or item.
        index: usize,
        /// The configured limit.
        max: usize,
    },
    /// The request has more characters than `max_total_chars`.
    PromptTooLong {
        /// The configured limit.
        max: usize,
    },
    /// `max_tokens` (or its newer names) is above `max_tokens_cap`.
    MaxTokensTooHigh {
        /// The configured cap.
        max: u64,
    },
    /// The model is missing or not in `allowed_models`.
    ModelNotAllowed,
    /// An object in the body has the same key twice: which value the upstream
    /// would read is unknowable, so screening cannot vouch for the body.
    DuplicateJsonKey,
    /// The body is larger than `max_body_bytes` (the host answers 413 before buffering).
    BodyTooLarge {
        /// The configured limit, in bytes.
        max: usize,
    },
}

/// Which API a request targets, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `.../chat/completions`
    Chat,
    /// `.../responses`
    Responses,
    /// `.../completions` (legacy)
    Completions,
    /// `.../embeddings`
    Embeddings,
    /// `.../messages` (Anthropic)
    Anthropic,
    /// Anything else: the body's fields decide.
    Unknown,
}

impl Api {
    /// Detects the API from the request path (a query string is ignored).
    pub fn from_path(path: &str) -> Self {
        let path = path
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Api::Chat
        } else if path.ends_with("/completions") {
            Api::Completions
        } else if path.ends_with("/responses") {
            Api::Responses
        } else if path.ends_with("/embeddings") {
            Api::Embeddings
        } else if path.ends_with("/messages") {
            Api::Anthropic
        } else {
            Api::Unknown
        }
    }
}

/// One piece of text the model will read, borrowed from the parsed body
/// (owned only where several JSON strings are joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Its role in the conversation.
    pub role: Role,
    /// The text.
    pub text: Cow<'a, str>,
    /// Index of the message or input item it came from; `None` for top-level
    /// fields (`system`, `instructions`, `prompt`, string `input`).
    pub unit: Option<usize>,
}

/// Everything screening needs from a body.
#[derive(Debug, Clone, Default)]
pub struct Extracted<'a> {
    /// Texts in document order.
    pub segments: Vec<Segment<'a>>,
    /// The `model` field.
    pub model: Option<String>,
    /// The largest of `max_tokens`, `max_completion_tokens`, `max_output_tokens`.
    pub max_tokens: Option<u64>,
    /// Messages or input items (what `max_messages` limits).
    pub units: usize,
    /// First unit of the new turn: the one after the last assistant message.
    pub new_turn_start: usize,
}

/// Where a value sits in the body (`messages[2].content`), written out only
/// when an error names it: a valid body builds no path strings.
#[derive(Clone, Copy)]
enum At<'p> {
    /// A top-level member.
    Root(&'static str),
    /// An element of an array: `{parent}[{index}]`.
    Index(&'p At<'p>, usize),
    /// A member of an object: `{parent}.{name}`.
    Field(&'p At<'p>, &'static str),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root(name) => f.write_str(name),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

struct Ctx<'a> {
    out: Vec<Segment<'a>>,
    allow_token_input: bool,
}

impl<'a> Ctx<'a> {
    fn push(&mut self, role: Role, text: &'a str, unit: Option<usize>) {
        if !text.is_empty() {
            self.out.push(Segment {
                role,
                text: Cow::Borrowed(text),
                unit,
            });
        }
    }

    fn push_owned(&mut self, role: Role, text: String, unit: Option<usize>) {
        if !text.is_empty() {
            self.out.push(Segment {
                role,
                text: Cow::Owned(text),
                unit,
            });
        }
    }
}

/// Parses a body into its texts (strictly, as the pipeline does: see
/// [`crate::llm_api::parse_body`]), then [`extract_value`]. For callers that
/// hold only bytes (MCP, evaluation); the pipeline parses once and passes the
/// value.
pub fn extract(
    api: Api,
    body: &[u8],
    allow_token_input: bool,
) -> Result<Extracted<'static>, ValidationError> {
    let value = parse(body)?;
    let ex = extract_value(api, &value, allow_token_input)?;
    Ok(Extracted {
        segments: ex
            .segments
            .into_iter()
            .map(|s| Segment {
                role: s.role,
                text: Cow::Owned(s.text.into_owned()),
                unit: s.unit,
            })
            .collect(),
        model: ex.model,
        max_tokens: ex.max_tokens,
        units: ex.units,
        new_turn_start: ex.new_turn_start,
    })
}

/// The strict parse, with its errors as validation errors: a repeated member
/// name is refused, since the upstream's reading of it is unknowable.
pub fn parse(body: &[u8]) -> Result<Value, ValidationError> {
    crate::llm_api::parse_body(body).map_err(|e| match e {
        crate::llm_api::ParseError::InvalidJson => ValidationError::InvalidJson,
        crate::llm_api::ParseError::DuplicateKey => ValidationError::DuplicateJsonKey,
    })
}

/// The texts of an already parsed body, borrowed from it. `api` only decides
/// which field is required.
pub fn extract_value(
    api: Api,
    value: &Value,
    allow_token_input: bool,
) -> Result<Extracted<'_>, ValidationError> {
    let Value::Object(obj) = value else {
        return Err(ValidationError::invalid("", "a json object"));
    };
    let mut ctx = Ctx {
        out: Vec::new(),
        allow_token_input,
    };
    let mut ex = Extracted {
        model: model(obj)?,
        max_tokens: max_tokens(obj)?,
        ..Extracted::default()
    };

    let has = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    let required = match api {
        Api::Chat | Api::Anthropic => Some("messages"),
        Api::Responses | Api::Embeddings => Some("input"),
        Api::Completions => Some("prompt"),
        Api::Unknown => None,
    };
    match required {
        Some(field) if !has(field) => return Err(ValidationError::MissingMessages),
        None if !has("messages") && !has("input") && !has("prompt") => {
            return Err(ValidationError::MissingMessages)
        }
        _ => {}
    }

    if let Some(system) = obj.get("system") {
        system_field(&mut ctx, system, &At::Root("system"))?;
    }
    if let Some(instructions) = obj.get("instructions") {
        match instructions {
            Value::Null => {}
            Value::String(s) => ctx.push(Role::System, s, None),
            _ => return Err(ValidationError::invalid("instructions", "a string")),
        }
    }
    if let Some(messages) = obj.get("messages") {
        let Value::Array(items) = messages else {
            return Err(ValidationError::invalid("messages", "an array of messages"));
        };
        if items.is_empty() && matches!(api, Api::Chat | Api::Anthropic) {
            return Err(ValidationError::MissingMessages);
        }
        ex.units = items.len();
        for (i, m) in items.iter().enumerate() {
            if message(&mut ctx, m, i, &At::Index(&At::Root("messages"), i))?
                == Some(Role::Assistant)
            {
                ex.new_turn_start = i.saturating_add(1);
            }
        }
    }
    if let Some(input) = obj.get("input") {
        match input {
            Value::Null => {}
            Value::String(s) => ctx.push(Role::User, s, None),
            Value::Array(items) => {
                let mut objects = 0usize;
                for (i, item) in items.iter().enumerate() {
                    let at = At::Index(&At::Root("input"), i);
                    match item {
                        Value::String(s) => ctx.push(Role::User, s, Some(i)),
                        Value::Object(_) => {
                            objects = objects.saturating_add(1);
                            if input_item(&mut ctx, item, i, &at)? == Some(Role::Assistant) {
                                ex.new_turn_start = i.saturating_add(1);
                            }
                        }
                        Value::Number(_) | Value::Array(_) => token_input(&ctx, item, &at)?,
                        _ => {
                            return Err(ValidationError::invalid(
                                at.to_string(),
                                "a string or an input item",
                            ))
                        }
                    }
                }
                // Embedding batches of strings are bounded by the text limits, not max_messages.
                ex.units = ex.units.max(objects);
            }
            _ => return Err(ValidationError::invalid("input", "a string or an array")),
        }
    }
    if let Some(prompt) = obj.get("prompt") {
        match prompt {
            Value::Null => {}
            Value::String(s) => ctx.push(Role::User, s, None),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => ctx.push(Role::User, s, Some(i)),
                        Value::Number(_) | Value::Array(_) => {
                            token_input(&ctx, item, &At::Index(&At::Root("prompt"), i))?
                        }
                        _ => {
                            return Err(ValidationError::invalid(
                                format!("prompt[{i}]"),
                                "a string",
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err(ValidationError::invalid(
                    "prompt",
                    "a string or an array of strings",
                ))
            }
        }
    }
    // Other text the model reads (issue 11 F8): tool definitions and
    // structured-output schemas (developer-authored), a predicted output,
    // and the legacy completion suffix.
    if let Some(Value::Array(tools)) = obj.get("tools") {
        for t in tools {
            let def = t.get("function").unwrap_or(t);
            for key in ["description", "parameters", "input_schema", "name"] {
                if let Some(v) = def.get(key) {
                    json_strings(&mut ctx, v, Role::Developer, None);
                }
            }
        }
    }
    if let Some(Value::Array(fns)) = obj.get("functions") {
        for f in fns {
            for key in ["description", "parameters"] {
                if let Some(v) = f.get(key) {
                    json_strings(&mut ctx, v, Role::Developer, None);
                }
            }
        }
    }
    if let Some(rf) = obj.get("response_format") {
        if let Some(schema) = rf.get("json_schema") {
            json_strings(&mut ctx, schema, Role::Developer, None);
        }
    }
    if let Some(Value::Object(text)) = obj.get("text") {
        if let Some(format) = text.get("format") {
            json_strings(&mut ctx, format, Role::Developer, None);
        }
    }
    if let Some(p) = obj.get("prediction") {
        if let Some(c) = p.get("content") {
            content(
                &mut ctx,
                c,
                Role::Assistant,
                None,
                &At::Field(&At::Root("prediction"), "content"),
            )?;
        }
    }
    match obj.get("suffix") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => ctx.push(Role::User, s, None),
        Some(_) => return Err(ValidationError::invalid("suffix", "a string")),
    }
    ex.segments = ctx.out;
    Ok(ex)
}

fn model(obj: &Map<String, Value>) -> Result<Option<String>, ValidationError> {
    match obj.get("model") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ValidationError::invalid("model", "a string")),
    }
}

fn max_tokens(obj: &Map<String, Value>) -> Result<Option<u64>, ValidationError> {
    let mut max: Option<u64> = None;
    for field in ["max_tokens", "max_completion_tokens", "max_output_tokens"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => max = Some(max.map_or(v, |m| m.max(v))),
                None => return Err(ValidationError::invalid(field, "a non-negative integer")),
            },
            Some(_) => return Err(ValidationError::invalid(field, "a non-negative integer")),
        }
    }
    Ok(max)
}

fn token_input(ctx: &Ctx<'_>, item: &Value, at: &At<'_>) -> Result<(), ValidationError> {
    let is_tokens = match item {
        Value::Number(_) => true,
        Value::Array(a) => a.iter().all(Value::is_number),
        _ => false,
    };
    if !is_tokens {
        return Err(ValidationError::invalid(
            at.to_string(),
            "a string or an array of token ids",
        ));
    }
    if ctx.allow_token_input {
        Ok(())
    } else {
        Err(ValidationError::invalid(
            at.to_string(),
            "text (token-id arrays cannot be screened)",
        ))
    }
}

fn system_field<'a>(ctx: &mut Ctx<'a>, v: &'a Value, at: &At<'_>) -> Result<(), ValidationError> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) => {
            ctx.push(Role::System, s, None);
            Ok(())
        }
        Value::Array(_) => content(ctx, v, Role::System, None, at),
        _ => Err(ValidationError::invalid(
            at.to_string(),
            "a string or an array of text blocks",
        )),
    }
}

fn role_of(v: Option<&Value>, at: &At<'_>) -> Result<Role, ValidationError> {
    const EXPECTED: &str = "one of system, developer, user, assistant, tool";
    let Some(Value::String(r)) = v else {
        return Err(ValidationError::invalid(format!("{at}.role"), EXPECTED));
    };
    match r.as_str() {
        "system" => Ok(Role::System),
        "developer" => Ok(Role::Developer),
        "user" => Ok(Role::User),
        "assistant" | "model" => Ok(Role::Assistant),
        "tool" | "function" | "ipython" => Ok(Role::Tool),
        _ => Err(ValidationError::invalid(format!("{at}.role"), EXPECTED)),
    }
}

/// A chat / Anthropic message. Returns its role.
fn message<'a>(
    ctx: &mut Ctx<'a>,
    m: &'a Value,
    i: usize,
    at: &At<'_>,
) -> Result<Option<Role>, ValidationError> {
    let Value::Object(obj) = m else {
        return Err(ValidationError::invalid(at.to_string(), "an object"));
    };
    let role = role_of(obj.get("role"), at)?;
    let unit = Some(i);
    if let Some(c) = obj.get("content") {
        content(ctx, c, role, unit, &At::Field(at, "content"))?;
    }
    match obj.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => ctx.push(role, s, unit),
        Some(_) => return Err(ValidationError::invalid(format!("{at}.name"), "a string")),
    }
    match obj.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (j, call) in calls.iter().enumerate() {
                let f = call.get("function");
                arguments(
                    ctx,
                    f.and_then(|f| f.get("arguments")),
                    unit,
                    &At::Index(&At::Field(at, "tool_calls"), j),
                )?;
            }
        }
        Some(_) => {
            return Err(ValidationError::invalid(
                format!("{at}.tool_calls"),
                "an array",
            ))
        }
    }
    if let Some(f) = obj.get("function_call") {
        arguments(
            ctx,
            f.get("arguments"),
            unit,
            &At::Field(at, "function_call"),
        )?;
    }
    Ok(Some(role))
}

fn arguments<'a>(
    ctx: &mut Ctx<'a>,
    args: Option<&'a Value>,
    unit: Option<usize>,
    at: &At<'_>,
) -> Result<(), ValidationError> {
    match args {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => {
            ctx.push(Role::Assistant, s, unit);
            Ok(())
        }
        Some(other @ Value::Object(_)) => {
            json_strings(ctx, other, Role::Assistant, unit);
            Ok(())
        }
        Some(_) => Err(ValidationError::invalid(
            format!("{at}.arguments"),
            "a string",
        )),
    }
}

/// `content`: a string, or an array of parts / blocks.
fn content<'a>(
    ctx: &mut Ctx<'a>,
    c: &'a Value,
    role: Role,
    unit: Option<usize>,
    at: &At<'_>,
) -> Result<(), ValidationError> {
    match c {
        Value::Null => Ok(()),
        Value::String(s) => {
            ctx.push(role, s, unit);
            Ok(())
        }
        Value::Array(parts) => {
            for (j, p) in parts.iter().enumerate() {
                part(ctx, p, role, unit, &At::Index(at, j))?;
            }
            Ok(())
        }
        _ => Err(ValidationError::invalid(
            at.to_string(),
            "a string or an array of content parts",
        )),
    }
}

fn text_field<'a>(
    ctx: &mut Ctx<'a>,
    obj: &'a Map<String, Value>,
    key: &str,
    role: Role,
    unit: Option<usize>,
    at: &At<'_>,
) -> Result<(), ValidationError> {
    match obj.get(key) {
        Some(Value::String(s)) => {
            ctx.push(role, s, unit);
            Ok(())
        }
        _ => Err(ValidationError::invalid(format!("{at}.{key}"), "a string")),
    }
}

fn part<'a>(
    ctx: &mut Ctx<'a>,
    p: &'a Value,
    role: Role,
    unit: Option<usize>,
    at: &At<'_>,
) -> Result<(), ValidationError> {
    let obj = match p {
        Value::String(s) => {
            ctx.push(role, s, unit);
            return Ok(());
        }
        Value::Object(obj) => obj,
        _ => {
            return Err(ValidationError::invalid(
                at.to_string(),
                "a content part object",
            ))
        }
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None => "",
        Some(_) => return Err(ValidationError::invalid(format!("{at}.type"), "a string")),
    };
    match kind {
        "text" | "input_text" | "output_text" => text_field(ctx, obj, "text", role, unit, at),
        "refusal" => text_field(ctx, obj, "refusal", role, unit, at),
        "thinking" => text_field(ctx, obj, "thinking", Role::Assistant, unit, at),
        "tool_result" => match obj.get("content") {
            Some(c) => content(ctx, c, Role::Tool, unit, &At::Field(at, "content")),
            None => Ok(()),
        },
        "tool_use" | "server_tool_use" => {
            if let Some(input) = obj.get("input") {
                json_strings(ctx, input, Role::Assistant, unit);
            }
            Ok(())
        }
        "document" => {
            if let Some(Value::Object(src)) = obj.get("source") {
                match (src.get("type"), src.get("data")) {
                    (Some(Value::String(t)), Some(Value::String(d))) if t == "text" => {
                        ctx.push(Role::Tool, d, unit)
                    }
                    _ => {}
                }
                if let Some(c) = src.get("content") {
                    content(ctx, c, Role::Tool, unit, &At::Field(at, "source.content"))?;
                }
            }
            for key in ["title", "context"] {
                if let Some(Value::String(s)) = obj.get(key) {
                    ctx.push(role, s, unit);
                }
            }
            Ok(())
        }
        _ => {
            // Images, audio, files and future types: only a `text` string is taken.
            if let Some(Value::String(s)) = obj.get("text") {
                ctx.push(role, s, unit);
            }
            Ok(())
        }
    }
}

/// A Responses API input item. Returns its role when it has one.
fn input_item<'a>(
    ctx: &mut Ctx<'a>,
    item: &'a Value,
    i: usize,
    at: &At<'_>,
) -> Result<Option<Role>, ValidationError> {
    let Value::Object(obj) = item else {
        return Err(ValidationError::invalid(at.to_string(), "an object"));
    };
    let unit = Some(i);
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None => "message",
        Some(_) => return Err(ValidationError::invalid(format!("{at}.type"), "a string")),
    };
    match kind {
        "message" => {
            let role = role_of(obj.get("role"), at)?;
            if let Some(c) = obj.get("content") {
                content(ctx, c, role, unit, &At::Field(at, "content"))?;
            }
            Ok(Some(role))
        }
        "function_call_output"
        | "custom_tool_call_output"
        | "computer_call_output"
        | "mcp_call_output" => {
            match obj.get("output") {
                None | Some(Value::Null) => {}
                Some(o @ (Value::String(_) | Value::Array(_))) => {
                    content(ctx, o, Role::Tool, unit, &At::Field(at, "output"))?
                }
                Some(o @ Value::Object(_)) => json_strings(ctx, o, Role::Tool, unit),
                Some(_) => {
                    return Err(ValidationError::invalid(
                        format!("{at}.output"),
                        "a string or an array",
                    ))
                }
            }
            Ok(Some(Role::Tool))
        }
        "function_call" | "custom_tool_call" => {
            for key in ["arguments", "input"] {
                if let Some(v) = obj.get(key) {
                    match v {
                        Value::String(s) => ctx.push(Role::Assistant, s, unit),
                        other => json_strings(ctx, other, Role::Assistant, unit),
                    }
                }
            }
            Ok(Some(Role::Assistant))
        }
        "reasoning" => {
            for key in ["summary", "content"] {
                if let Some(v) = obj.get(key) {
                    json_strings(ctx, v, Role::Assistant, unit);
                }
            }
            Ok(None)
        }
        _ => {
            if let Some(Value::String(s)) = obj.get("text") {
                ctx.push(Role::User, s, unit);
            }
            Ok(None)
        }
    }
}

/// Every string value inside a JSON value (tool inputs), joined by newlines.
fn json_strings<'a>(ctx: &mut Ctx<'a>, v: &'a Value, role: Role, unit: Option<usize>) {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(s);
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    if let Value::String(s) = v {
        // One string: no copy.
        ctx.push(role, s, unit);
        return;
    }
    let mut s = String::new();
    walk(v, &mut s);
    ctx.push_owned(role, s, unit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(api: Api, body: &str) -> Vec<(Role, String)> {
        extract(api, body.as_bytes(), false)
            .unwrap()
            .segments
            .into_iter()
            .map(|s| (s.role, s.text.into_owned()))
            .collect()
    }

    fn err(api: Api, body: &str) -> ValidationError {
        extract(api, body.as_bytes(), false).unwrap_err()
    }

    #[test]
    fn api_is_detected_from_the_path() {
        let cases = [
            ("/v1/chat/completions", Api::Chat),
            ("/v1/chat/completions?x=1", Api::Chat),
            ("/openai/deployments/d/chat/completions", Api::Chat),
            ("/v1/completions", Api::Completions),
            ("/v1/responses", Api::Responses),
            ("/v1/embeddings", Api::Embeddings),
            ("/v1/messages", Api::Anthropic),
            ("/v1/other", Api::Unknown),
        ];
        for (path, api) in cases {
            assert_eq!(Api::from_path(path), api, "{path}");
        }
    }

    #[test]
    fn chat_string_and_text_part_contents_are_taken_with_roles() {
        let body = r#"{"model":"m","messages":[
            {"role":"system","content":"be nice"},
            {"role":"user","name":"alice","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{\"q\":\"w\"}"}}]},
            {"role":"tool","tool_call_id":"1","content":"result text"}]}"#;
        assert_eq!(
            texts(Api::Chat, body),
            vec![
                (Role::System, "be nice".into()),
                (Role::User, "hi".into()),
                (Role::User, "alice".into()),
                (Role::Assistant, "{\"q\":\"w\"}".into()),
                (Role::Tool, "result text".into()),
            ]
        );
    }

    #[test]
    fn responses_input_items_instructions_and_tool_outputs_are_taken() {
        let body = r#"{"model":"m","instructions":"sys","input":[
            {"role":"user","content":[{"type":"input_text","text":"question"}]},
            {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
            {"type":"function_call_output","call_id":"c","output":"tool says"},
            {"type":"message","role":"user","content":"plain"}]}"#;
        assert_eq!(
            texts(Api::Responses, body),
            vec![
                (Role::System, "sys".into()),
                (Role::User, "question".into()),
                (Role::Assistant, "{}".into()),
                (Role::Tool, "tool says".into()),
                (Role::User, "plain".into()),
            ]
        );
    }

    #[test]
    fn responses_string_input_is_user_text() {
        assert_eq!(
            texts(Api::Responses, r#"{"input":"hello"}"#),
            vec![(Role::User, "hello".into())]
        );
    }

    #[test]
    fn legacy_prompt_string_or_array_is_user_text() {
        assert_eq!(
            texts(Api::Completions, r#"{"prompt":"a"}"#),
            vec![(Role::User, "a".into())]
        );
        assert_eq!(
            texts(Api::Completions, r#"{"prompt":["a","b"]}"#),
            vec![(Role::User, "a".into()), (Role::User, "b".into())]
        );
    }

    #[test]
    fn embeddings_input_string_or_array_is_user_text() {
        assert_eq!(
            texts(Api::Embeddings, r#"{"input":"a"}"#),
            vec![(Role::User, "a".into())]
        );
        assert_eq!(
            texts(Api::Embeddings, r#"{"input":["a","b"]}"#),
            vec![(Role::User, "a".into()), (Role::User, "b".into())]
        );
    }

    #[test]
    fn token_id_arrays_are_refused_unless_allowed() {
        assert_eq!(
            err(Api::Embeddings, r#"{"input":[[1,2,3]]}"#).code(),
            "invalid_body"
        );
        assert_eq!(
            err(Api::Completions, r#"{"prompt":[1,2,3]}"#).code(),
            "invalid_body"
        );
        let ok = extract(Api::Completions, br#"{"prompt":[1,2,3]}"#, true).unwrap();
        assert!(ok.segments.is_empty());
    }

    #[test]
    fn anthropic_system_blocks_text_tool_results_and_tool_use_are_taken() {
        let body = r#"{"model":"claude","max_tokens":10,"system":[{"type":"text","text":"sys"}],"messages":[
            {"role":"user","content":[{"type":"text","text":"q"}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"search","input":{"a":"x","b":{"n":"y"}}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"found"}]},
                                       {"type":"tool_result","tool_use_id":"u","content":"plain result"}]}]}"#;
        assert_eq!(
            texts(Api::Anthropic, body),
            vec![
                (Role::System, "sys".into()),
                (Role::User, "q".into()),
                (Role::Assistant, "x\ny".into()),
                (Role::Tool, "found".into()),
                (Role::Tool, "plain result".into()),
            ]
        );
    }

    #[test]
    fn anthropic_system_string_and_text_documents_are_taken() {
        let body = r#"{"system":"sys","messages":[{"role":"user","content":[
            {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc body"},"title":"T"}]}]}"#;
        assert_eq!(
            texts(Api::Anthropic, body),
            vec![
                (Role::System, "sys".into()),
                (Role::Tool, "doc body".into()),
                (Role::User, "T".into())
            ]
        );
    }

    #[test]
    fn unknown_part_types_with_text_are_still_taken() {
        let body =
            r#"{"messages":[{"role":"user","content":[{"type":"future_kind","text":"sneaky"}]}]}"#;
        assert_eq!(texts(Api::Chat, body), vec![(Role::User, "sneaky".into())]);
    }

    #[test]
    fn model_and_largest_max_tokens_are_reported() {
        let ex = extract(
            Api::Chat,
            br#"{"model":"gpt-4o","max_tokens":5,"max_completion_tokens":9,"messages":[{"role":"user","content":"x"}]}"#,
            false,
        )
        .unwrap();
        assert_eq!(ex.model.as_deref(), Some("gpt-4o"));
        assert_eq!(ex.max_tokens, Some(9));
    }

    #[test]
    fn new_turn_starts_after_the_last_assistant_message() {
        let ex = extract(
            Api::Chat,
            br#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}"#,
            false,
        )
        .unwrap();
        assert_eq!(ex.new_turn_start, 2);
        assert_eq!(ex.units, 3);
    }

    #[test]
    fn type_errors_name_the_field() {
        let cases = [
            (Api::Chat, r#"[1]"#, ""),
            (Api::Chat, r#"{"messages":{}}"#, "messages"),
            (Api::Chat, r#"{"messages":[3]}"#, "messages[0]"),
            (
                Api::Chat,
                r#"{"messages":[{"content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                Api::Chat,
                r#"{"messages":[{"role":"boss","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                Api::Chat,
                r#"{"messages":[{"role":"user","content":5}]}"#,
                "messages[0].content",
            ),
            (
                Api::Chat,
                r#"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
                "messages[0].content[0].text",
            ),
            (
                Api::Chat,
                r#"{"messages":[{"role":"user","content":[7]}]}"#,
                "messages[0].content[0]",
            ),
            (Api::Chat, r#"{"model":1,"messages":[]}"#, "model"),
            (
                Api::Chat,
                r#"{"max_tokens":-1,"messages":[]}"#,
                "max_tokens",
            ),
            (
                Api::Chat,
                r#"{"max_output_tokens":"9","messages":[]}"#,
                "max_output_tokens",
            ),
            (Api::Completions, r#"{"prompt":{}}"#, "prompt"),
            (Api::Responses, r#"{"input":5}"#, "input"),
            (
                Api::Responses,
                r#"{"input":"x","instructions":5}"#,
                "instructions",
            ),
            (Api::Anthropic, r#"{"system":5,"messages":[]}"#, "system"),
            // Nested paths, written out only for the error.
            (
                Api::Chat,
                r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"function":{"arguments":"{}"}},{"function":{"arguments":5}}]}]}"#,
                "messages[1].tool_calls[1].arguments",
            ),
            (
                Api::Chat,
                r#"{"messages":[{"role":"assistant","function_call":{"arguments":[]}}]}"#,
                "messages[0].function_call.arguments",
            ),
            (
                Api::Chat,
                r#"{"messages":[{"role":"user","content":"a","name":3}]}"#,
                "messages[0].name",
            ),
            (Api::Responses, r#"{"input":["a",true]}"#, "input[1]"),
            (
                Api::Responses,
                r#"{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":1}]}]}"#,
                "input[0].content[0].text",
            ),
            (Api::Completions, r#"{"prompt":["a",null]}"#, "prompt[1]"),
            (Api::Completions, r#"{"prompt":["a",[1,2]]}"#, "prompt[1]"),
            (
                Api::Chat,
                r#"{"messages":[{"role":"user","content":"a"}],"prediction":{"content":5}}"#,
                "prediction.content",
            ),
        ];
        for (api, body, field) in cases {
            match err(api, body) {
                ValidationError::InvalidBody { field: f, .. } => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        assert_eq!(
            err(Api::Chat, "{\"messages\": ["),
            ValidationError::InvalidJson
        );
        assert_eq!(err(Api::Chat, "not json"), ValidationError::InvalidJson);
    }

    #[test]
    fn deeply_nested_json_is_refused_not_a_crash() {
        let body = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(err(Api::Chat, &body), ValidationError::InvalidJson);
    }

    #[test]
    fn missing_required_field_is_missing_messages() {
        assert_eq!(
            err(Api::Chat, r#"{"model":"m"}"#),
            ValidationError::MissingMessages
        );
        assert_eq!(
            err(Api::Chat, r#"{"messages":[]}"#),
            ValidationError::MissingMessages
        );
        assert_eq!(
            err(Api::Anthropic, r#"{"prompt":"x"}"#),
            ValidationError::MissingMessages
        );
        assert_eq!(
            err(Api::Responses, r#"{"messages":[]}"#),
            ValidationError::MissingMessages
        );
        assert_eq!(
            err(Api::Unknown, r#"{"model":"m"}"#),
            ValidationError::MissingMessages
        );
    }
}
