//! Specs: what a generated server must be. Read from YAML or JSON, checked against the
//! template's JSON Schema and then by the rules every template shares:
//!
//! - `name` is a usable server name; `tools[].name` are unique;
//! - every example names a tool of the spec and its `arguments` fit that tool's
//!   `input_schema`; every tool has at least one example (the examples are the contract test).
//!
//! Every problem is reported at once with its path (`tools[1].input_schema.type`).

use std::collections::BTreeMap;

use jsonschema::paths::LocationSegment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ConfigIssue;

use super::template::Template;

/// A validated spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The whole spec, as given (templates render from it).
    pub value: Value,
    /// The server's name.
    pub name: String,
    /// What the server is for.
    pub description: String,
    /// Its tools.
    pub tools: Vec<ToolSpec>,
    /// Its contract test.
    pub examples: Vec<Example>,
    /// SHA-256 of the spec's canonical JSON (keys sorted), hex.
    pub sha256: String,
}

/// What every template's tools have in common.
#[derive(Debug, Clone, Deserialize)]
pub struct ToolSpec {
    /// Tool name (without the server prefix).
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: Value,
}

/// One contract example: a call and what its result text must contain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    /// The tool (without prefix).
    pub tool: String,
    /// Its arguments.
    pub arguments: Map<String, Value>,
    /// Fragments the result's text must contain, each.
    #[serde(default)]
    pub expect: Vec<String>,
    /// Whether the call is expected to be an error result (default false).
    #[serde(default)]
    pub is_error: bool,
}

#[derive(Debug, Deserialize)]
struct Common {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tools: Vec<ToolSpec>,
    examples: Vec<Example>,
}

/// Reads spec text: JSON when it starts with `{`, YAML otherwise.
///
/// # Errors
/// A message with the parser's position.
pub fn parse_text(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("the spec is not valid JSON: {e}"))
    } else {
        serde_norway::from_str(text).map_err(|e| format!("the spec is not valid YAML: {e}"))
    }
}

/// The server name a spec gives, if it gives one (for error reports before validation).
#[must_use]
pub fn name_of(value: &Value) -> String {
    value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

/// Checks `value` against `template`'s schema and the shared rules.
///
/// # Errors
/// Every issue found, each with its path.
pub fn validate(template: &Template, value: Value) -> Result<Spec, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    match jsonschema::options().build(&template.schema) {
        Ok(validator) => {
            for e in validator.iter_errors(&value) {
                issues.push(ConfigIssue {
                    path: path_of(e.instance_path().iter()),
                    message: e.to_string(),
                });
            }
        }
        Err(e) => issues.push(ConfigIssue {
            path: "(template)".into(),
            message: format!("template `{}` has an invalid schema: {e}", template.name),
        }),
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let common: Common = match serde_json::from_value(value.clone()) {
        Ok(c) => c,
        Err(e) => {
            return Err(vec![ConfigIssue {
                path: "(spec)".into(),
                message: format!(
                    "every spec needs name, tools (name, description, input_schema) and examples (tool, arguments, expect): {e}"
                ),
            }]);
        }
    };
    if let Err(message) = crate::config::validate_server_name(&common.name) {
        issues.push(ConfigIssue {
            path: "name".into(),
            message,
        });
    }
    // A server that derives its tools (`tools = "server"`, e.g. from an OpenAPI document)
    // has its examples checked against its tools/list in the contract stage.
    if !template.tools_from_server {
        let mut tools: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, t) in common.tools.iter().enumerate() {
            if tools.insert(&t.name, i).is_some() {
                issues.push(ConfigIssue {
                    path: format!("tools[{i}].name"),
                    message: format!(
                        "`{}` is the name of an earlier tool; names must be unique",
                        t.name
                    ),
                });
            }
        }
        issues.extend(check_examples(&common.tools, &common.examples, true));
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Spec {
        sha256: sha256_hex(&value),
        name: common.name,
        description: common.description,
        tools: common.tools,
        examples: common.examples,
        value,
    })
}

/// Every example must name one of `tools` and its arguments must fit that tool's input
/// schema; with `every_tool`, every tool needs an example.
#[must_use]
pub fn check_examples(
    tools: &[ToolSpec],
    examples: &[Example],
    every_tool: bool,
) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut tried: Vec<bool> = vec![false; tools.len()];
    for (i, ex) in examples.iter().enumerate() {
        let Some(t) = tools.iter().position(|t| t.name == ex.tool) else {
            issues.push(ConfigIssue {
                path: format!("examples[{i}].tool"),
                message: format!(
                    "`{}` is not a tool of this server; the tools are {}",
                    ex.tool,
                    tools
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            continue;
        };
        tried[t] = true;
        let schema = &tools[t].input_schema;
        match jsonschema::options().build(schema) {
            Ok(v) => {
                let args = Value::Object(ex.arguments.clone());
                for e in v.iter_errors(&args) {
                    let mut path = format!("examples[{i}].arguments");
                    let inner = path_of(e.instance_path().iter());
                    if inner != "(spec)" {
                        path.push('.');
                        path.push_str(&inner);
                    }
                    issues.push(ConfigIssue {
                        path,
                        message: format!("{e} (checked against tools[{t}].input_schema)"),
                    });
                }
            }
            Err(e) => issues.push(ConfigIssue {
                path: format!("tools[{t}].input_schema"),
                message: format!("is not a valid JSON Schema: {e}"),
            }),
        }
    }
    if every_tool {
        for (t, done) in tried.iter().enumerate() {
            if !done {
                issues.push(ConfigIssue {
                    path: format!("tools[{t}]"),
                    message: format!(
                        "tool `{}` has no example; add one to `examples` (tool, arguments, expect): examples are the server's contract test",
                        tools[t].name
                    ),
                });
            }
        }
    }
    issues
}

/// A JSON instance path as `tools[0].input_schema.type` (`(spec)` for the root).
fn path_of<'a>(segments: impl Iterator<Item = LocationSegment<'a>>) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            LocationSegment::Property(p) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&p);
            }
            LocationSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "(spec)".to_string()
    } else {
        out
    }
}

/// SHA-256 (hex) of `value` as canonical JSON: object keys sorted at every level, no spaces.
#[must_use]
pub fn sha256_hex(value: &Value) -> String {
    let mut text = String::new();
    canonical(value, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = o.get(*k) {
                    canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn command() -> Template {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        super::super::template::load(&dir, "command").unwrap()
    }

    fn good() -> Value {
        json!({
            "name": "num", "description": "numbers", "binaries": ["/bin/busybox"],
            "tools": [{"name": "factor", "description": "factor n",
                "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
                "command": ["/bin/busybox", "factor", "{n}"]}],
            "examples": [{"tool": "factor", "arguments": {"n": 6}, "expect": ["2 3"]}]
        })
    }

    #[test]
    fn a_good_spec_passes_and_hashes_canonically() {
        let spec = validate(&command(), good()).unwrap();
        assert_eq!(spec.name, "num");
        assert_eq!(spec.tools[0].name, "factor");
        let yaml = "examples: [{tool: factor, arguments: {n: 6}, expect: ['2 3']}]\nname: num\ndescription: numbers\nbinaries: [/bin/busybox]\ntools:\n  - {name: factor, description: factor n, command: [/bin/busybox, factor, '{n}'], input_schema: {type: object, required: [n], properties: {n: {type: integer}}}}\n";
        let again = validate(&command(), parse_text(yaml).unwrap()).unwrap();
        assert_eq!(spec.sha256, again.sha256);
        assert_eq!(spec.sha256.len(), 64);
    }

    #[test]
    fn every_issue_has_its_path() {
        let mut v = good();
        v["tools"][0]["input_schema"]["type"] = json!("array");
        v["tools"][0]["name"] = json!("bad name");
        let issues = validate(&command(), v).unwrap_err();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert!(paths.contains(&"tools[0].input_schema.type"), "{paths:?}");
        assert!(paths.contains(&"tools[0].name"), "{paths:?}");
    }

    #[test]
    fn examples_must_fit_their_tools() {
        let mut v = good();
        v["examples"] = json!([
            {"tool": "nope", "arguments": {}, "expect": []},
            {"tool": "factor", "arguments": {"n": "six"}, "expect": []}
        ]);
        let issues = validate(&command(), v).unwrap_err();
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.starts_with("examples[0].tool")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("examples[1].arguments.n")),
            "{text:?}"
        );
    }

    #[test]
    fn every_tool_needs_an_example() {
        let mut v = good();
        v["examples"] = json!([]);
        // The command schema asks for at least one example; the shared rule names the tool.
        let issues = validate(&command(), v).unwrap_err();
        assert!(issues.iter().any(|i| i.path == "examples"), "{issues:?}");
    }
}
