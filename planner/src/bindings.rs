//! Bindings: argument strings that take values from earlier steps' results.
//!
//! Syntax (inside any string, at any depth of `args`):
//!
//! - `${steps.ID.result}` / `${steps.ID.result.PATH}` — the step's whole MCP `CallToolResult`
//!   JSON (`content`, `structuredContent`, `isError`, `_meta`) or the value at `PATH` in it.
//! - `${steps.ID.text}` — the text of the result's `content` items of type `text`, joined with
//!   `\n` (the common case for servers without structured output).
//! - `${steps.ID.json}` / `${steps.ID.json.PATH}` — that text parsed as JSON, or the value at
//!   `PATH` in it.
//!
//! `PATH` is a chain of `.key`, `[n]` (array index) and `["any key"]` (a key with dots,
//! brackets or spaces), e.g. `structuredContent.items[0].url`.
//!
//! A string that is exactly one binding is replaced by the bound JSON value, whatever its type.
//! A binding inside a longer string is interpolated as text: strings as they are, numbers,
//! booleans and `null` plainly, arrays and objects as compact JSON. `$${steps.` stands for a
//! literal `${steps.`; any other `$` is literal. This module only reads and substitutes: it
//! never decides what runs.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use serde_json::{Map, Value};

use crate::error::Error;

/// Which view of a step's result a binding takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `result`: the `CallToolResult` JSON.
    Result,
    /// `text`: the joined text content, a string.
    Text,
    /// `json`: the joined text content parsed as JSON.
    Json,
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A binding found in a step's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRef {
    /// The bound step's id.
    pub step: String,
    /// The path as written after the id: `result.structuredContent.items[0].url`, `text`.
    pub path: String,
    /// Where the binding is in the arguments: `args.a.b[2]`.
    pub location: String,
    /// Which view of the result.
    pub source: Source,
    /// The parsed path below the source (empty for `text` and for a bare `result`/`json`).
    pub segments: Vec<Segment>,
    /// Whether the binding is the whole string (its value replaces the string as JSON).
    pub whole: bool,
}

/// A parsed binding (without its location).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    step: String,
    source: Source,
    segments: Vec<Segment>,
    /// The text after `${steps.ID.`, up to the `}`.
    path: String,
}

/// A string split into literal text and bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Binding(Binding),
}

const OPEN: &str = "${steps.";
const ESCAPED_OPEN: &str = "$${steps.";
const FORMS: &str = "use ${steps.ID.text}, ${steps.ID.result.PATH} or ${steps.ID.json.PATH}, \
                     where PATH is like structuredContent.items[0].url";

/// Every well-formed binding in `args`, in document order.
#[must_use]
pub fn references(args: &Map<String, Value>) -> Vec<BindingRef> {
    scan(args).0
}

/// Every binding in `args`, and an [`Error::MalformedBinding`] for every string that starts a
/// binding (`${steps.`) without following the syntax.
#[must_use]
pub fn scan(args: &Map<String, Value>) -> (Vec<BindingRef>, Vec<Error>) {
    let mut refs = Vec::new();
    let mut errors = Vec::new();
    let mut location = String::from("args");
    for (key, value) in args {
        let len = location.len();
        push_key(&mut location, key);
        scan_value(value, &mut location, &mut refs, &mut errors);
        location.truncate(len);
    }
    (refs, errors)
}

fn scan_value(
    value: &Value,
    location: &mut String,
    refs: &mut Vec<BindingRef>,
    errors: &mut Vec<Error>,
) {
    match value {
        Value::String(s) => match parse_string(s) {
            Ok(pieces) => {
                let whole = pieces.len() == 1;
                for piece in pieces {
                    if let Piece::Binding(b) = piece {
                        refs.push(BindingRef {
                            step: b.step,
                            path: b.path,
                            location: location.clone(),
                            source: b.source,
                            segments: b.segments,
                            whole,
                        });
                    }
                }
            }
            Err(reason) => errors.push(Error::MalformedBinding {
                location: location.clone(),
                text: s.clone(),
                reason,
            }),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = location.len();
                push_index(location, i);
                scan_value(item, location, refs, errors);
                location.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = location.len();
                push_key(location, key);
                scan_value(item, location, refs, errors);
                location.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `args` with every binding replaced by its value from `results` (step id → `CallToolResult`
/// JSON of a step that succeeded).
///
/// # Errors
///
/// The first problem met, naming the location, the step, the path and what was there instead:
/// [`Error::MalformedBinding`], [`Error::NoResult`], [`Error::MissingPath`], [`Error::NotJson`].
pub fn resolve(
    args: &Map<String, Value>,
    results: &HashMap<String, Value>,
) -> Result<Map<String, Value>, Error> {
    let mut location = String::from("args");
    let mut out = Map::new();
    for (key, value) in args {
        let len = location.len();
        push_key(&mut location, key);
        out.insert(key.clone(), resolve_value(value, results, &mut location)?);
        location.truncate(len);
    }
    Ok(out)
}

fn resolve_value(
    value: &Value,
    results: &HashMap<String, Value>,
    location: &mut String,
) -> Result<Value, Error> {
    Ok(match value {
        Value::String(s) => {
            let pieces = parse_string(s).map_err(|reason| Error::MalformedBinding {
                location: location.clone(),
                text: s.clone(),
                reason,
            })?;
            match pieces.as_slice() {
                [Piece::Binding(b)] => lookup(b, results, location)?,
                _ => {
                    let mut text = String::new();
                    for piece in &pieces {
                        match piece {
                            Piece::Literal(l) => text.push_str(l),
                            Piece::Binding(b) => render(&lookup(b, results, location)?, &mut text),
                        }
                    }
                    Value::String(text)
                }
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = location.len();
                push_index(location, i);
                out.push(resolve_value(item, results, location)?);
                location.truncate(len);
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let len = location.len();
                push_key(location, key);
                out.insert(key.clone(), resolve_value(item, results, location)?);
                location.truncate(len);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Renders a bound value inside a longer string.
fn render(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

fn lookup(b: &Binding, results: &HashMap<String, Value>, location: &str) -> Result<Value, Error> {
    let result = results.get(&b.step).ok_or_else(|| Error::NoResult {
        location: location.to_string(),
        step: b.step.clone(),
    })?;
    let missing = |found: String| Error::MissingPath {
        location: location.to_string(),
        step: b.step.clone(),
        path: b.path.clone(),
        found,
    };
    match b.source {
        Source::Result => walk(result, &b.segments, "result").map_err(missing),
        Source::Text => text_of(result).map(Value::String).ok_or_else(|| {
            missing(format!(
                "it has no text content ({})",
                describe_content(result)
            ))
        }),
        Source::Json => {
            let text = text_of(result).ok_or_else(|| {
                missing(format!(
                    "it has no text content ({})",
                    describe_content(result)
                ))
            })?;
            let parsed: Value = serde_json::from_str(&text).map_err(|e| Error::NotJson {
                location: location.to_string(),
                step: b.step.clone(),
                message: e.to_string(),
            })?;
            walk(&parsed, &b.segments, "json").map_err(missing)
        }
    }
}

/// The text of a `CallToolResult`: its `content` items of type `text`, joined with `\n`;
/// `None` when there is no such item.
#[must_use]
pub fn text_of(result: &Value) -> Option<String> {
    let texts: Vec<&str> = result
        .get("content")?
        .as_array()?
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

fn describe_content(result: &Value) -> String {
    match result.get("content").and_then(Value::as_array) {
        None => "the result has no `content` array".to_string(),
        Some(items) if items.is_empty() => "its content is empty".to_string(),
        Some(items) => {
            let kinds: Vec<&str> = items
                .iter()
                .map(|c| c.get("type").and_then(Value::as_str).unwrap_or("untyped"))
                .collect();
            format!("its content is {}", kinds.join(", "))
        }
    }
}

/// Follows `segments` into `value`; on failure, says where it stopped and what was there.
fn walk(value: &Value, segments: &[Segment], root: &str) -> Result<Value, String> {
    let mut current = value;
    let mut at = root.to_string();
    for segment in segments {
        let next = match (segment, current) {
            (Segment::Key(k), Value::Object(map)) => map.get(k),
            (Segment::Index(i), Value::Array(items)) => items.get(*i),
            _ => None,
        };
        let Some(next) = next else {
            return Err(format!("`{at}` is {}", describe(current)));
        };
        push_segment(&mut at, segment);
        current = next;
    }
    Ok(current.clone())
}

/// A short description of a JSON value for error messages.
#[must_use]
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let dots = if short.len() < s.len() { "…" } else { "" };
            format!("the string {short:?}{dots}")
        }
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(map) => {
            if map.is_empty() {
                "an empty object".to_string()
            } else {
                let keys: Vec<&str> = map.keys().take(12).map(String::as_str).collect();
                let more = if map.len() > keys.len() { ", …" } else { "" };
                format!("an object with keys {}{more}", keys.join(", "))
            }
        }
    }
}

/// Splits a string into literals and bindings; `Err` says what is wrong with a binding.
fn parse_string(s: &str) -> Result<Vec<Piece>, String> {
    if !s.contains(OPEN) {
        return Ok(vec![Piece::Literal(s.to_string())]);
    }
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(ESCAPED_OPEN) {
            literal.push_str(OPEN);
            rest = after;
        } else if let Some(after) = rest.strip_prefix(OPEN) {
            let (binding, after) = parse_binding(after)?;
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Binding(binding));
            rest = after;
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                literal.push(c);
            }
            rest = chars.as_str();
        }
    }
    if !literal.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// Parses `ID.SOURCE[PATH]}` (after `${steps.`); returns the binding and the text after `}`.
fn parse_binding(s: &str) -> Result<(Binding, &str), String> {
    let id_len = s
        .find(|c: char| !is_id_char(c))
        .ok_or_else(|| format!("it has no closing `}}`; {FORMS}"))?;
    let step = &s[..id_len];
    if step.is_empty() {
        return Err(format!("the step id is missing; {FORMS}"));
    }
    let rest = s[id_len..].strip_prefix('.').ok_or_else(|| {
        format!("a `.` and `text`, `result` or `json` must follow the step id; {FORMS}")
    })?;
    let word_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    let source = match &rest[..word_len] {
        "result" => Source::Result,
        "text" => Source::Text,
        "json" => Source::Json,
        other => {
            return Err(format!(
                "`{other}` after the step id must be `text`, `result` or `json`; {FORMS}"
            ));
        }
    };
    let (segments, consumed) = parse_path(&rest[word_len..])?;
    let after = &rest[word_len + consumed..];
    let after = after
        .strip_prefix('}')
        .ok_or_else(|| format!("expected `}}` after the path; {FORMS}"))?;
    if source == Source::Text && !segments.is_empty() {
        return Err(
            "`text` is a string and takes no path; use `json.PATH` to read into JSON text"
                .to_string(),
        );
    }
    let path_len = s.len() - after.len() - 1 - id_len - 1;
    Ok((
        Binding {
            step: step.to_string(),
            source,
            segments,
            path: rest[..path_len].to_string(),
        },
        after,
    ))
}

/// Parses `.key`, `[n]` and `["key"]` segments up to the closing `}`; returns them and the
/// number of bytes read.
fn parse_path(s: &str) -> Result<(Vec<Segment>, usize), String> {
    let mut segments = Vec::new();
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'}' => return Ok((segments, i)),
            b'.' => {
                let key_len = s[i + 1..]
                    .find(['.', '[', ']', '}', '"'])
                    .unwrap_or(s.len() - i - 1);
                if key_len == 0 {
                    return Err(format!("an empty key in the path; {FORMS}"));
                }
                segments.push(Segment::Key(s[i + 1..i + 1 + key_len].to_string()));
                i += 1 + key_len;
            }
            b'[' => {
                let rest = &s[i + 1..];
                if let Some(quoted) = rest.strip_prefix('"') {
                    let end = quoted
                        .find("\"]")
                        .ok_or_else(|| "a `[\"` key must end with `\"]`".to_string())?;
                    segments.push(Segment::Key(quoted[..end].to_string()));
                    i += 1 + 1 + end + 2;
                } else {
                    let end = rest
                        .find(']')
                        .ok_or_else(|| "a `[` index must end with `]`".to_string())?;
                    let index = rest[..end].parse::<usize>().map_err(|_| {
                        format!(
                            "`[{}]` is not an array index: use `[0]`, `[1]`, … or `[\"key\"]`",
                            &rest[..end]
                        )
                    })?;
                    segments.push(Segment::Index(index));
                    i += 1 + end + 1;
                }
            }
            _ => {
                return Err(format!(
                    "unexpected `{}` in the path; {FORMS}",
                    s[i..].chars().next().unwrap_or(' ')
                ));
            }
        }
    }
    Err(format!("it has no closing `}}`; {FORMS}"))
}

/// What a string of arguments will be once its bindings are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringKind {
    /// No binding: the string itself.
    Literal,
    /// A string whose content is unknown (interpolation, or exactly `${steps.ID.text}`).
    Text,
    /// Any JSON value (exactly one `result` or `json` binding), or malformed (reported apart).
    Any,
}

/// Classifies an argument string for plan-time schema checks.
pub(crate) fn string_kind(s: &str) -> StringKind {
    match parse_string(s) {
        Err(_) => StringKind::Any,
        Ok(pieces) => match pieces.as_slice() {
            [Piece::Binding(b)] if b.source == Source::Text => StringKind::Text,
            [Piece::Binding(_)] => StringKind::Any,
            p if p.iter().any(|p| matches!(p, Piece::Binding(_))) => StringKind::Text,
            _ => StringKind::Literal,
        },
    }
}

/// Characters allowed in step ids.
#[must_use]
pub fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Appends `.key` (or `["key"]` for keys that are not plain words) to a location.
pub(crate) fn push_key(location: &mut String, key: &str) {
    if !key.is_empty() && key.chars().all(is_id_char) {
        location.push('.');
        location.push_str(key);
    } else {
        let _ = write!(location, "[{}]", Value::String(key.to_string()));
    }
}

/// Appends `[i]` to a location.
pub(crate) fn push_index(location: &mut String, index: usize) {
    let _ = write!(location, "[{index}]");
}

/// Appends one segment to a location.
pub(crate) fn push_segment(location: &mut String, segment: &Segment) {
    match segment {
        Segment::Key(k) => push_key(location, k),
        Segment::Index(i) => push_index(location, *i),
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        push_segment(&mut s, self);
        f.write_str(s.strip_prefix('.').unwrap_or(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn results() -> HashMap<String, Value> {
        HashMap::from([
            (
                "fetch".to_string(),
                json!({
                    "content": [{"type": "text", "text": "two links"}],
                    "structuredContent": {
                        "items": [{"url": "https://a.example", "rank": 1}, {"url": "https://b.example", "rank": 2}],
                        "total": 2,
                        "odd key.x": true
                    },
                    "isError": false
                }),
            ),
            (
                "calc".to_string(),
                json!({"content": [{"type": "text", "text": "{\"parts\": [2, 3], \"sum\": 5}"}]}),
            ),
            (
                "image".to_string(),
                json!({"content": [{"type": "image", "data": "AA==", "mimeType": "image/png"}]}),
            ),
        ])
    }

    #[test]
    fn finds_references_at_any_depth() {
        let a = args(json!({
            "url": "${steps.fetch.result.structuredContent.items[0].url}",
            "nested": {"list": ["plain", "sum is ${steps.calc.json.sum} of ${steps.calc.text}"]},
            "n": 3
        }));
        let refs = references(&a);
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[0].step, "calc");
        assert_eq!(refs[0].location, "args.nested.list[1]");
        assert_eq!(refs[0].path, "json.sum");
        assert_eq!(refs[0].source, Source::Json);
        assert!(!refs[0].whole);
        assert_eq!(refs[1].source, Source::Text);
        assert_eq!(refs[2].step, "fetch");
        assert_eq!(refs[2].location, "args.url");
        assert_eq!(refs[2].path, "result.structuredContent.items[0].url");
        assert_eq!(
            refs[2].segments,
            [
                Segment::Key("structuredContent".into()),
                Segment::Key("items".into()),
                Segment::Index(0),
                Segment::Key("url".into())
            ]
        );
        assert!(refs[2].whole);
    }

    #[test]
    fn resolves_nested_bindings() {
        let a = args(json!({
            "url": "${steps.fetch.result.structuredContent.items[1].url}",
            "deep": {"items": ["${steps.fetch.result.structuredContent.items}", {"n": "${steps.calc.json.parts[1]}"}]},
            "message": "got ${steps.fetch.result.structuredContent.total} (${steps.fetch.text}): ${steps.calc.json}",
            "odd": "${steps.fetch.result.structuredContent[\"odd key.x\"]}",
            "whole": "${steps.fetch.result.isError}",
            "escaped": "literal $${steps.fetch.text} and $HOME ${HOME}",
            "n": 7
        }));
        let out = resolve(&a, &results()).unwrap();
        assert_eq!(out["url"], json!("https://b.example"));
        assert_eq!(out["deep"]["items"][0][0]["rank"], json!(1));
        assert_eq!(out["deep"]["items"][1]["n"], json!(3));
        assert_eq!(
            out["message"],
            json!("got 2 (two links): {\"parts\":[2,3],\"sum\":5}")
        );
        assert_eq!(out["odd"], json!(true));
        assert_eq!(out["whole"], json!(false));
        assert_eq!(
            out["escaped"],
            json!("literal ${steps.fetch.text} and $HOME ${HOME}")
        );
        assert_eq!(out["n"], json!(7));
    }

    #[test]
    fn missing_paths_say_what_was_there() {
        let r = results();
        let err = resolve(
            &args(json!({"u": "${steps.fetch.result.structuredContent.items[5].url}"})),
            &r,
        )
        .unwrap_err();
        let Error::MissingPath {
            location,
            step,
            path,
            found,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(location, "args.u");
        assert_eq!(step, "fetch");
        assert_eq!(path, "result.structuredContent.items[5].url");
        assert_eq!(
            found,
            "`result.structuredContent.items` is an array of 2 items"
        );

        let err = resolve(
            &args(json!({"u": ["${steps.fetch.result.structured.x}"]})),
            &r,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("`result` is an object with keys content, "),
            "{err}"
        );
        let err = resolve(&args(json!({"u": "${steps.image.text}"})), &r).unwrap_err();
        assert!(err.to_string().contains("its content is image"), "{err}");
        let err = resolve(&args(json!({"u": "${steps.fetch.json}"})), &r).unwrap_err();
        assert!(matches!(err, Error::NotJson { .. }), "{err:?}");
        let err = resolve(&args(json!({"u": "x ${steps.nope.text}"})), &r).unwrap_err();
        assert_eq!(
            err,
            Error::NoResult {
                location: "args.u".into(),
                step: "nope".into()
            }
        );
    }

    #[test]
    fn malformed_bindings_are_reported() {
        for (text, needle) in [
            ("${steps.a}", "`.` and `text`"),
            ("${steps.a.output}", "`output`"),
            ("${steps..text}", "step id is missing"),
            ("${steps.a.text", "closing"),
            ("${steps.a.result.x[oops]}", "not an array index"),
            ("${steps.a.text.x}", "takes no path"),
            ("${steps.a.result..x}", "empty key"),
            ("${steps.a.result x}", "unexpected"),
        ] {
            let (refs, errors) = scan(&args(json!({"k": {"weird key": text}})));
            assert!(refs.is_empty(), "{text}");
            assert_eq!(errors.len(), 1, "{text}");
            let message = errors[0].to_string();
            assert!(message.starts_with("args.k[\"weird key\"]: "), "{message}");
            assert!(message.contains(needle), "{text}: {message}");
        }
    }

    #[test]
    fn text_joins_text_items() {
        let r = json!({"content": [
            {"type": "text", "text": "a"},
            {"type": "image", "data": ""},
            {"type": "text", "text": "b"}
        ]});
        assert_eq!(text_of(&r).as_deref(), Some("a\nb"));
        assert_eq!(text_of(&json!({"content": []})), None);
        assert_eq!(Segment::Key("a b".into()).to_string(), "[\"a b\"]");
        assert_eq!(Segment::Index(2).to_string(), "[2]");
    }
}
