//! `$ref` resolution within one document: local references only
//! (`#/components/...`, a JSON pointer with `~0`/`~1` and `%XX` unescaping).
//!
//! Parameters, request bodies and path items are followed through their
//! `$ref` chain ([`Resolver::deref`]); schemas are inlined recursively
//! ([`Resolver::inline_schema`]) so that tool input schemas carry no
//! references. Inlining is bounded: a reference already being expanded (a
//! cycle), more than [`MAX_REF_DEPTH`] nested references, nesting deeper
//! than [`MAX_NESTING`] or more than [`MAX_EXPANSIONS`] references in one
//! schema become `{}` (any value), so it never loops or blows the stack.

use serde_json::{Map, Value};

/// Most references expanded inside one another.
pub const MAX_REF_DEPTH: usize = 32;
/// Deepest JSON nesting of an inlined schema (well below the 128 levels
/// that JSON parsers such as serde_json accept, for the message around it).
pub const MAX_NESTING: usize = 64;
/// Most references expanded for one schema (bounds the size of schemas whose
/// references fan out).
pub const MAX_EXPANSIONS: usize = 2_000;

/// Keys whose values are data, not schemas: copied as they are.
const DATA_KEYS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// Resolves references against `document`.
#[derive(Debug, Clone, Copy)]
pub struct Resolver<'a> {
    document: &'a Value,
}

impl<'a> Resolver<'a> {
    pub fn new(document: &'a Value) -> Self {
        Self { document }
    }

    /// The value a local reference points to.
    pub fn lookup(&self, reference: &str) -> Result<&'a Value, String> {
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(format!(
                "$ref {reference:?} is not local: only references within the document \
                 (\"#/components/...\") are supported; inline the referenced part into the document"
            ));
        };
        let pointer = percent_decode(fragment)
            .ok_or_else(|| format!("$ref {reference:?} is not a valid JSON pointer"))?;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "$ref {reference:?} is not a JSON pointer (\"#/components/schemas/Name\"): \
                 anchors are not supported"
            ));
        }
        // `Value::pointer` unescapes ~1 and ~0.
        self.document
            .pointer(&pointer)
            .ok_or_else(|| format!("$ref {reference:?} points to nothing in the document"))
    }

    /// Follows `value` through its chain of `$ref`s (for parameters, request
    /// bodies and path items). Sibling keys of a `$ref` are ignored.
    pub fn deref(&self, value: &'a Value) -> Result<&'a Value, String> {
        let mut current = value;
        for _ in 0..=MAX_REF_DEPTH {
            match reference_of(current) {
                Some(reference) => current = self.lookup(reference)?,
                None => return Ok(current),
            }
        }
        Err(format!(
            "$ref chain longer than {MAX_REF_DEPTH} (circular?) at {:?}",
            reference_of(value).unwrap_or_default()
        ))
    }

    /// `schema` with every reference replaced by what it points to (see the
    /// module documentation for the limits). OpenAPI 3.0 `nullable: true` is
    /// turned into a `"null"` type.
    pub fn inline_schema(&self, schema: &'a Value) -> Result<Value, String> {
        Inliner {
            document: *self,
            stack: Vec::new(),
            expansions: 0,
        }
        .inline(schema, 0)
    }
}

/// The `$ref` string of an object that has one.
fn reference_of(value: &Value) -> Option<&str> {
    value.get("$ref").and_then(Value::as_str)
}

/// Decodes `%XX` escapes (URI fragment encoding); `None` on bad escapes or
/// invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One inlining pass: the references being expanded and a budget.
struct Inliner<'a> {
    document: Resolver<'a>,
    stack: Vec<&'a str>,
    expansions: usize,
}

impl<'a> Inliner<'a> {
    fn inline(&mut self, value: &'a Value, nesting: usize) -> Result<Value, String> {
        if nesting > MAX_NESTING {
            return Ok(Value::Object(Map::new()));
        }
        match value {
            Value::Object(object) => {
                if let Some(reference) = reference_of(value) {
                    return self.expand(reference, object, nesting);
                }
                let mut out = Map::new();
                for (key, item) in object {
                    let item = if DATA_KEYS.contains(&key.as_str()) {
                        item.clone()
                    } else {
                        self.inline(item, nesting + 1)?
                    };
                    out.insert(key.clone(), item);
                }
                nullable_to_type(&mut out);
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|item| self.inline(item, nesting + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// Inlines the target of `reference`; the other keys of `object` (allowed
    /// beside `$ref` in OpenAPI 3.1) are laid over it.
    fn expand(
        &mut self,
        reference: &'a str,
        object: &'a Map<String, Value>,
        nesting: usize,
    ) -> Result<Value, String> {
        let target = self.document.lookup(reference)?;
        let mut inlined = if self.stack.contains(&reference)
            || self.stack.len() >= MAX_REF_DEPTH
            || self.expansions >= MAX_EXPANSIONS
        {
            Value::Object(Map::new())
        } else {
            self.expansions += 1;
            self.stack.push(reference);
            let inlined = self.inline(target, nesting + 1);
            self.stack.pop();
            inlined?
        };
        let siblings: Vec<_> = object.iter().filter(|(key, _)| *key != "$ref").collect();
        if !siblings.is_empty() {
            if let Value::Bool(true) = inlined {
                inlined = Value::Object(Map::new());
            }
            if let Value::Object(out) = &mut inlined {
                for (key, item) in siblings {
                    let item = if DATA_KEYS.contains(&key.as_str()) {
                        item.clone()
                    } else {
                        self.inline(item, nesting + 1)?
                    };
                    out.insert(key.clone(), item);
                }
                nullable_to_type(out);
            }
        }
        Ok(inlined)
    }
}

/// OpenAPI 3.0 `nullable: true` beside a `type` → the type plus `"null"`
/// (JSON Schema has no `nullable`).
fn nullable_to_type(schema: &mut Map<String, Value>) {
    if schema.get("nullable") != Some(&Value::Bool(true)) {
        return;
    }
    let Some(kind) = schema.get("type").cloned() else {
        return;
    };
    let kinds = match kind {
        Value::String(kind) => vec![Value::String(kind)],
        Value::Array(kinds) => kinds,
        _ => return,
    };
    let mut kinds = kinds;
    if !kinds.iter().any(|kind| kind == "null") {
        kinds.push(Value::String("null".to_owned()));
    }
    schema.insert("type".to_owned(), Value::Array(kinds));
    schema.remove("nullable");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn looks_up_local_pointers_with_escapes() {
        let doc =
            json!({"components": {"schemas": {"a/b": {"type": "string"}, "t~x": 1, "sp ace": 2}}});
        let resolver = Resolver::new(&doc);
        assert_eq!(
            resolver.lookup("#/components/schemas/a~1b"),
            Ok(&json!({"type": "string"}))
        );
        assert_eq!(resolver.lookup("#/components/schemas/t~0x"), Ok(&json!(1)));
        assert_eq!(
            resolver.lookup("#/components/schemas/sp%20ace"),
            Ok(&json!(2))
        );
        assert!(
            resolver
                .lookup("#/components/schemas/none")
                .is_err_and(|e| e.contains("points to nothing"))
        );
        assert!(
            resolver
                .lookup("other.json#/Pet")
                .is_err_and(|e| e.contains("\"other.json#/Pet\" is not local"))
        );
        assert!(resolver.lookup("#anchor").is_err());
    }

    #[test]
    fn inlines_nested_references_and_nullable() {
        let doc = json!({"components": {"schemas": {
            "Pet": {"type": "object", "properties": {"tag": {"$ref": "#/components/schemas/Tag"}}},
            "Tag": {"type": "string", "nullable": true, "example": {"$ref": "kept as data"}},
        }}});
        let resolver = Resolver::new(&doc);
        let schema = json!({"type": "array", "items": {"$ref": "#/components/schemas/Pet", "description": "a pet"}});
        assert_eq!(
            resolver.inline_schema(&schema),
            Ok(json!({"type": "array", "items": {
                "type": "object",
                "description": "a pet",
                "properties": {"tag": {"type": ["string", "null"], "example": {"$ref": "kept as data"}}}
            }}))
        );
    }

    #[test]
    fn cycles_become_any_value() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "properties": {
                "next": {"$ref": "#/components/schemas/Node"},
                "other": {"$ref": "#/components/schemas/Other"}
            }},
            "Other": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        }}});
        let resolver = Resolver::new(&doc);
        let inlined = resolver.inline_schema(&json!({"$ref": "#/components/schemas/Node"}));
        assert_eq!(
            inlined,
            Ok(json!({"type": "object", "properties": {
                "next": {},
                "other": {"type": "array", "items": {}}
            }}))
        );
        // A reference to itself, directly.
        let doc = json!({"a": {"$ref": "#/a"}});
        let resolver = Resolver::new(&doc);
        assert_eq!(
            resolver.inline_schema(&json!({"$ref": "#/a"})),
            Ok(json!({}))
        );
        assert!(
            resolver
                .deref(&json!({"$ref": "#/a"}))
                .is_err_and(|e| e.contains("circular"))
        );
    }

    #[test]
    fn fan_out_is_bounded() {
        // Each level refers to the next twice: 2^40 expansions without a budget.
        let mut schemas = Map::new();
        for level in 0..40 {
            let next = format!("#/components/schemas/L{}", level + 1);
            schemas.insert(
                format!("L{level}"),
                json!({"type": "object", "properties": {"a": {"$ref": next}, "b": {"$ref": next}}}),
            );
        }
        schemas.insert("L40".to_owned(), json!({"type": "string"}));
        let doc = json!({"components": {"schemas": schemas}});
        let resolver = Resolver::new(&doc);
        let inlined = resolver
            .inline_schema(&json!({"$ref": "#/components/schemas/L0"}))
            .unwrap();
        fn depth(value: &Value) -> usize {
            match value {
                Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
                Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        assert!(depth(&inlined) <= MAX_NESTING + 1, "{}", depth(&inlined));
        assert!(inlined.to_string().len() < 10_000_000);
    }

    #[test]
    fn remote_references_inside_schemas_are_errors() {
        let doc = json!({});
        let resolver = Resolver::new(&doc);
        let schema = json!({"properties": {"x": {"$ref": "https://example.com/s.json"}}});
        assert!(
            resolver
                .inline_schema(&schema)
                .is_err_and(|e| e.contains("https://example.com/s.json"))
        );
    }
}
