//! Arguments against a tool's input JSON Schema, with bound positions relaxed.
//!
//! A binding's value is unknown until the bound step has run, so a plan's arguments are
//! validated as written and then errors the bindings could explain are dropped:
//!
//! - A string that is exactly one `${steps.ID.result…}` or `${steps.ID.json…}` binding can be
//!   any JSON value: every error at or below its position is dropped.
//! - A string that mixes text and bindings, or is exactly `${steps.ID.text}`, is surely a
//!   string with unknown content: at its position only `type` errors are kept (an integer
//!   parameter given text is a real mistake), the rest (`pattern`, `format`, `enum`, lengths…)
//!   are dropped.
//! - Errors of keywords that look into children — `anyOf`, `oneOf`, `not`, `enum`, `const`,
//!   `uniqueItems`, `contains`, `minContains`, `maxContains` — are dropped at any ancestor of a
//!   bound position, since the unknown value may satisfy them.
//!
//! Keys are never relaxed: a bound key still counts for `required`, and an unknown key is still
//! refused by `additionalProperties: false`. Known limit: an `if` at an ancestor is evaluated
//! with the binding's text, so a `then`/`else` branch may be picked on a guess.
//!
//! Schemas are compiled without network or file access (the `jsonschema` crate is built without
//! its resolvers): a schema with a remote `$ref` fails to compile and the step's arguments go
//! unchecked, with a warning.

use std::collections::HashMap;

use jsonschema::Validator;
use jsonschema::paths::LocationSegment;
use serde_json::{Map, Value};

use crate::bindings::{self, Segment, StringKind};
use crate::tools::ToolInfo;

/// Keywords whose errors at an object or array may come from a child's value.
const ANCESTOR_KEYWORDS: &[&str] = &[
    "anyOf",
    "oneOf",
    "not",
    "enum",
    "const",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
];

/// A bound position in the arguments.
struct Bound {
    /// Where, from the arguments' root.
    at: Vec<Segment>,
    /// Whether the value will surely be a string.
    string: bool,
}

/// One problem with a step's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgIssue {
    /// `args`, `args.a.b[2]`.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// Compiles each tool's input schema once and checks arguments against it.
#[derive(Default)]
pub(crate) struct ArgsChecker {
    /// tool name → compiled schema, or why it does not compile.
    cache: HashMap<String, Result<Validator, String>>,
}

impl ArgsChecker {
    /// The problems of `args` for `tool`; `Err` when the tool's schema does not compile.
    pub(crate) fn check(
        &mut self,
        tool: &ToolInfo,
        args: &Map<String, Value>,
    ) -> Result<Vec<ArgIssue>, String> {
        let validator = self
            .cache
            .entry(tool.name.clone())
            .or_insert_with(|| {
                jsonschema::options()
                    .build(&tool.input_schema)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let mut bounds = Vec::new();
        let mut at = Vec::new();
        for (key, value) in args {
            at.push(Segment::Key(key.clone()));
            collect_bounds(value, &mut at, &mut bounds);
            at.pop();
        }
        let instance = Value::Object(args.clone());
        let mut issues = Vec::new();
        for error in validator.iter_errors(&instance) {
            let path: Vec<Segment> = error
                .instance_path()
                .iter()
                .map(|s| match s {
                    LocationSegment::Property(p) => Segment::Key(p.into_owned()),
                    LocationSegment::Index(i) => Segment::Index(i),
                })
                .collect();
            let keyword = error.kind().keyword();
            let Some(string_bound) = kept(&path, keyword, &bounds) else {
                continue;
            };
            let mut location = String::from("args");
            for s in &path {
                bindings::push_segment(&mut location, s);
            }
            let mut message = error.to_string();
            if string_bound {
                message.push_str(
                    " (a binding inside a longer string, or `${steps.ID.text}`, always gives a \
                     string; use a `${steps.ID.result...}` or `${steps.ID.json...}` binding alone \
                     in the string for other types)",
                );
            }
            issues.push(ArgIssue { location, message });
        }
        issues.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(issues)
    }
}

/// Whether an error survives the relaxation; `Some(true)` when it is a kept `type` error at a
/// string binding.
fn kept(path: &[Segment], keyword: &str, bounds: &[Bound]) -> Option<bool> {
    let mut string_bound = false;
    for b in bounds {
        if path.starts_with(&b.at) {
            if b.string && path.len() == b.at.len() && keyword == "type" {
                string_bound = true;
            } else {
                return None;
            }
        }
    }
    let below = bounds
        .iter()
        .any(|b| b.at.len() > path.len() && b.at.starts_with(path));
    if below && ANCESTOR_KEYWORDS.contains(&keyword) {
        return None;
    }
    Some(string_bound)
}

fn collect_bounds(value: &Value, at: &mut Vec<Segment>, out: &mut Vec<Bound>) {
    match value {
        Value::String(s) => match bindings::string_kind(s) {
            StringKind::Literal => {}
            StringKind::Text => out.push(Bound {
                at: at.clone(),
                string: true,
            }),
            StringKind::Any => out.push(Bound {
                at: at.clone(),
                string: false,
            }),
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Segment::Index(i));
                collect_bounds(item, at, out);
                at.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                at.push(Segment::Key(k.clone()));
                collect_bounds(item, at, out);
                at.pop();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A one-line summary of a tool's parameters for fix hints: `a: integer (required), b: string`.
pub(crate) fn signature(tool: &ToolInfo) -> String {
    let required: Vec<&str> = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
    else {
        return "no declared parameters".to_string();
    };
    if props.is_empty() {
        return "no parameters".to_string();
    }
    let mut parts: Vec<String> = props
        .iter()
        .take(12)
        .map(|(name, schema)| {
            let ty = match schema.get("type") {
                Some(Value::String(t)) => t.clone(),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|"),
                _ => "any".to_string(),
            };
            let req = if required.contains(&name.as_str()) {
                " (required)"
            } else {
                ""
            };
            format!("{name}: {ty}{req}")
        })
        .collect();
    if props.len() > 12 {
        parts.push("…".to_string());
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::registry;
    use serde_json::json;

    fn check(tool: &str, args: Value) -> Vec<ArgIssue> {
        let tools = registry();
        let Value::Object(args) = args else { panic!() };
        ArgsChecker::default()
            .check(tools.get(tool).unwrap(), &args)
            .unwrap()
    }

    fn locations(issues: &[ArgIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.location.as_str()).collect()
    }

    #[test]
    fn literal_arguments_are_checked() {
        assert!(check("echo__add", json!({"a": 1, "b": 2})).is_empty());
        let issues = check("echo__add", json!({"a": "one", "c": 3}));
        assert_eq!(locations(&issues), ["args", "args", "args.a"], "{issues:?}");
        let all: String = issues.iter().map(|i| i.message.clone()).collect();
        assert!(all.contains("\"b\" is a required property"), "{all}");
        assert!(all.contains("'c' was unexpected"), "{all}");
        assert!(all.contains("is not of type \"integer\""), "{all}");
    }

    #[test]
    fn whole_bindings_take_any_value_but_keep_required_keys() {
        assert!(
            check(
                "echo__add",
                json!({"a": "${steps.x.result.structuredContent.sum}", "b": "${steps.y.json}"})
            )
            .is_empty()
        );
        let issues = check("echo__add", json!({"a": "${steps.x.json.n}"}));
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("\"b\" is a required property"));
        let issues = check(
            "fetch__fetch",
            json!({"url": "${steps.s.result.structuredContent.items[0].url}", "headers": ["${steps.h.json}", 3]}),
        );
        assert_eq!(locations(&issues), ["args.headers[1]"]);
    }

    #[test]
    fn text_bindings_are_strings_of_unknown_content() {
        // pattern, format and maxLength would fail on the binding's own text: relaxed
        assert!(check("fetch__fetch", json!({"url": "${steps.s.text}"})).is_empty());
        assert!(
            check(
                "echo__echo",
                json!({"text": "a long prefix to exceed twenty: ${steps.s.text}"})
            )
            .is_empty()
        );
        // but an integer parameter cannot take a string
        let issues = check(
            "echo__add",
            json!({"a": "${steps.s.text}", "b": "n=${steps.s.json}"}),
        );
        assert_eq!(locations(&issues), ["args.a", "args.b"]);
        assert!(
            issues[0].message.contains("always gives a string"),
            "{issues:?}"
        );
    }

    #[test]
    fn ancestor_combinators_are_relaxed() {
        let tool = ToolInfo {
            name: "t__t".into(),
            description: String::new(),
            input_schema: json!({
                "type": "object",
                "properties": {"v": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"enum": [1, 2]}}]}},
                "oneOf": [{"required": ["v"]}, {"required": ["w"]}]
            }),
            output_schema: None,
        };
        let mut checker = ArgsChecker::default();
        let Value::Object(args) = json!({"v": ["${steps.a.json}"]}) else {
            panic!()
        };
        assert_eq!(checker.check(&tool, &args).unwrap(), []);
        let Value::Object(args) = json!({"v": ["x"]}) else {
            panic!()
        };
        assert_eq!(checker.check(&tool, &args).unwrap().len(), 1);
    }

    #[test]
    fn uncompilable_schemas_are_reported() {
        let tool = ToolInfo {
            name: "t__remote".into(),
            description: String::new(),
            input_schema: json!({"$ref": "https://example.invalid/schema.json"}),
            output_schema: None,
        };
        assert!(ArgsChecker::default().check(&tool, &Map::new()).is_err());
    }

    #[test]
    fn signatures_summarize_parameters() {
        let tools = registry();
        assert_eq!(
            signature(tools.get("echo__add").unwrap()),
            "a: integer (required), b: integer (required)"
        );
    }
}
