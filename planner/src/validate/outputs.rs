//! Binding paths against what the bound tool can return.
//!
//! A `${steps.ID.result.PATH}` binding reads the MCP `CallToolResult`, whose keys are
//! `content`, `structuredContent`, `isError` and `_meta`. When the bound step's tool declares an
//! output schema (the schema of `structuredContent`), the rest of a `structuredContent…` path
//! must be a path that schema allows:
//!
//! - a key must be in `properties`, unless `additionalProperties` is a schema or `true`, or
//!   `patternProperties` is present (patterns are not matched: any key passes); a schema that
//!   declares `properties` but leaves `additionalProperties` out is taken as closed, since a
//!   key it does not name is almost always a typo;
//! - an index needs an array (`prefixItems`, then `items`);
//! - local `$ref`s (`#/$defs/…`) are followed; `anyOf`/`oneOf`/`allOf` branches are
//!   alternatives (a path any of them allows passes);
//! - a schema that says nothing about the next step (no `type`, `properties` or `items`)
//!   allows any path below it.
//!
//! This is a plan-time check of shape only: the value is checked again when it is resolved.

use serde_json::Value;

use crate::bindings::{Segment, push_segment};

/// How deep `$ref`s and combinators are followed before giving up (and allowing).
const MAX_DEPTH: usize = 32;

/// The keys of a `CallToolResult`.
const RESULT_KEYS: &[&str] = &["content", "structuredContent", "isError", "_meta"];

/// Checks a `result` binding path; `Err` says what is wrong and what is there.
pub(crate) fn check_result_path(
    output_schema: Option<&Value>,
    segments: &[Segment],
) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    match first {
        Segment::Key(k) if k == "structuredContent" => match output_schema {
            Some(schema) => walk(schema, schema, rest, "structuredContent".to_string(), 0),
            None => Ok(()),
        },
        Segment::Key(k) if k == "isError" && !rest.is_empty() => {
            Err("`isError` is a boolean; nothing is below it".to_string())
        }
        Segment::Key(k) if RESULT_KEYS.contains(&k.as_str()) => Ok(()),
        other => Err(format!(
            "a tool result has `content`, `structuredContent`, `isError` and `_meta`, not `{other}`"
        )),
    }
}

fn walk(
    root: &Value,
    schema: &Value,
    segments: &[Segment],
    at: String,
    depth: usize,
) -> Result<(), String> {
    let Some((segment, rest)) = segments.split_first() else {
        return Ok(());
    };
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let object = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("the output schema allows nothing at `{at}`")),
        Value::Object(o) => o,
        _ => return Ok(()),
    };
    // Alternatives: the schema's own keywords, its `$ref`, and its combinator branches.
    let mut first_err: Option<String> = None;
    let mut any_alternative = false;
    if let Some(own) = own_step(object, segment, &at) {
        any_alternative = true;
        match own {
            Ok(Some(child)) => {
                let mut next = at.clone();
                push_segment(&mut next, segment);
                match walk(root, child, rest, next, depth + 1) {
                    Ok(()) => return Ok(()),
                    Err(e) => first_err = first_err.or(Some(e)),
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    let mut branches: Vec<&Value> = Vec::new();
    if let Some(target) = object.get("$ref").and_then(Value::as_str) {
        match resolve_ref(root, target) {
            Some(t) => branches.push(t),
            None => return Ok(()),
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = object.get(key).and_then(Value::as_array) {
            branches.extend(list);
        }
    }
    for branch in branches {
        any_alternative = true;
        match walk(root, branch, segments, at.clone(), depth + 1) {
            Ok(()) => return Ok(()),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    match first_err {
        Some(e) if any_alternative => Err(e),
        _ => Ok(()),
    }
}

/// One step through the schema's own structural keywords: `None` if it has none that apply,
/// `Some(Ok(Some(child)))` to go on, `Some(Ok(None))` when anything is allowed below,
/// `Some(Err)` when the step is refused.
fn own_step<'s>(
    object: &'s serde_json::Map<String, Value>,
    segment: &Segment,
    at: &str,
) -> Option<Result<Option<&'s Value>, String>> {
    let types = declared_types(object);
    match segment {
        Segment::Key(key) => {
            let properties = object.get("properties").and_then(Value::as_object);
            if let Some(types) = &types
                && !types.iter().any(|t| t == "object")
            {
                return Some(Err(format!(
                    "`{at}` is {} in the output schema, so it has no key `{key}`",
                    types.join(" or ")
                )));
            }
            if let Some(child) = properties.and_then(|p| p.get(key)) {
                return Some(Ok(Some(child)));
            }
            if object.contains_key("patternProperties") {
                return Some(Ok(None));
            }
            match object.get("additionalProperties") {
                Some(Value::Bool(true)) => Some(Ok(None)),
                Some(Value::Bool(false)) => Some(Err(no_key(at, key, properties))),
                Some(child @ Value::Object(_)) => Some(Ok(Some(child))),
                _ => match properties {
                    Some(p) if !p.is_empty() => Some(Err(no_key(at, key, properties))),
                    _ if types.is_some() => Some(Ok(None)),
                    _ => None,
                },
            }
        }
        Segment::Index(index) => {
            if let Some(types) = &types
                && !types.iter().any(|t| t == "array")
            {
                return Some(Err(format!(
                    "`{at}` is {} in the output schema, so it has no index [{index}]",
                    types.join(" or ")
                )));
            }
            if let Some(child) = object
                .get("prefixItems")
                .and_then(Value::as_array)
                .and_then(|p| p.get(*index))
            {
                return Some(Ok(Some(child)));
            }
            match object.get("items") {
                Some(Value::Bool(false)) => Some(Err(format!(
                    "the output schema allows no item [{index}] in `{at}`"
                ))),
                Some(child @ Value::Object(_)) => Some(Ok(Some(child))),
                Some(_) => Some(Ok(None)),
                None if types.is_some() => Some(Ok(None)),
                None => None,
            }
        }
    }
}

fn no_key(at: &str, key: &str, properties: Option<&serde_json::Map<String, Value>>) -> String {
    let mut known: Vec<&str> = properties
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    known.sort_unstable();
    if known.is_empty() {
        format!("the output schema allows no key `{key}` in `{at}`")
    } else {
        format!(
            "the output schema has no `{key}` in `{at}`; it has {}",
            known.join(", ")
        )
    }
}

fn declared_types(object: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
    match object.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// Resolves a local `$ref` (`#`, `#/$defs/x`, `#/definitions/x`) in `root`.
fn resolve_ref<'r>(root: &'r Value, target: &str) -> Option<&'r Value> {
    let pointer = target.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(path: &[&str]) -> Vec<Segment> {
        path.iter()
            .map(|p| match p.parse::<usize>() {
                Ok(i) => Segment::Index(i),
                Err(_) => Segment::Key((*p).to_string()),
            })
            .collect()
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "object", "properties": {"x": {}}}]},
                "meta": {"type": "object"},
                "free": {},
                "either": {"anyOf": [{"type": "object", "properties": {"a": {}}}, {"type": "object", "properties": {"b": {}}}]},
                "count": {"type": "integer"}
            },
            "$defs": {"item": {"type": "object", "properties": {"url": {"type": "string"}}, "additionalProperties": false}}
        })
    }

    fn check(path: &[&str]) -> Result<(), String> {
        let s = schema();
        check_result_path(Some(&s), &segs(path))
    }

    #[test]
    fn allowed_paths() {
        for path in [
            &["structuredContent"][..],
            &["structuredContent", "items", "0", "url"],
            &["structuredContent", "pair", "1", "x"],
            &["structuredContent", "meta", "anything", "below"],
            &["structuredContent", "free", "3", "y"],
            &["structuredContent", "either", "b"],
            &["content", "0", "text"],
            &["isError"],
            &["_meta", "x"],
            &[],
        ] {
            assert_eq!(check(path), Ok(()), "{path:?}");
        }
        assert_eq!(
            check_result_path(None, &segs(&["structuredContent", "whatever"])),
            Ok(())
        );
    }

    #[test]
    fn refused_paths_say_why() {
        let err = check(&["structuredContent", "itemz"]).unwrap_err();
        assert!(err.contains("no `itemz` in `structuredContent`"), "{err}");
        assert!(
            err.contains("it has count, either, free, items, meta, pair"),
            "{err}"
        );
        let err = check(&["structuredContent", "items", "0", "link"]).unwrap_err();
        assert!(
            err.contains("no `link` in `structuredContent.items[0]`; it has url"),
            "{err}"
        );
        let err = check(&["structuredContent", "items", "url"]).unwrap_err();
        assert!(err.contains("is array"), "{err}");
        let err = check(&["structuredContent", "count", "0"]).unwrap_err();
        assert!(err.contains("is integer"), "{err}");
        let err = check(&["structuredContent", "either", "c"]).unwrap_err();
        assert!(err.contains("no `c`"), "{err}");
        let err = check(&["structured"]).unwrap_err();
        assert!(err.contains("not `structured`"), "{err}");
        assert!(check(&["isError", "x"]).is_err());
        assert!(check(&["0"]).is_err());
    }
}
