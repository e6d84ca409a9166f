//! What the planner knows of the registry: each tool's name, description and schemas, and a
//! search index over them.
//!
//! The orchestrator builds a [`Tools`] from its catalog and hands it in; the planner never
//! asks a server anything itself.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::search::{Hit, ToolDoc, ToolIndex};

/// One tool of the registry, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// The namespaced name clients call (`server__tool`).
    pub name: String,
    /// What the tool does.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: Value,
    /// JSON Schema of its `structuredContent`, when the tool declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
}

/// The registry's tools with a BM25 index over names, descriptions and parameters.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// The tools, in the order given.
    tools: Vec<ToolInfo>,
    /// name → position in `tools` (the first, if names repeat).
    by_name: HashMap<String, usize>,
    /// Search index; document `i` is `tools[i]`.
    index: ToolIndex,
}

impl Tools {
    /// Indexes `tools`.
    #[must_use]
    pub fn new(tools: Vec<ToolInfo>) -> Self {
        let docs: Vec<ToolDoc> = tools.iter().map(doc).collect();
        let mut by_name = HashMap::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            by_name.entry(t.name.clone()).or_insert(i);
        }
        Self {
            index: ToolIndex::build(&docs),
            tools,
            by_name,
        }
    }

    /// The tool with this exact name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&ToolInfo> {
        self.by_name.get(name).and_then(|&i| self.tools.get(i))
    }

    /// The best `limit` tools for `query` with their BM25 scores, best first.
    #[must_use]
    pub fn search(&self, query: &str, limit: usize) -> Vec<(&ToolInfo, f64)> {
        self.hits(query, limit)
            .into_iter()
            .filter_map(|Hit { index, score }| self.tools.get(index).map(|t| (t, score)))
            .collect()
    }

    /// Like [`Tools::search`], with each hit's [`ToolIndex::coverage`] of the query (0 to 1)
    /// instead of its BM25 score; still in BM25 order.
    #[must_use]
    pub fn search_coverage(&self, query: &str, limit: usize) -> Vec<(&ToolInfo, f64)> {
        self.hits(query, limit)
            .into_iter()
            .filter_map(|Hit { index, .. }| {
                let tool = self.tools.get(index)?;
                Some((tool, self.index.coverage(query, index)))
            })
            .collect()
    }

    fn hits(&self, query: &str, limit: usize) -> Vec<Hit> {
        self.index.search(query, limit)
    }

    /// Every tool, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &ToolInfo> {
        self.tools.iter()
    }

    /// Number of tools.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are no tools.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Names close to `name`, for "did you mean" hints: search hits first, then names within a
    /// small edit distance; at most `limit`.
    #[must_use]
    pub fn similar_names(&self, name: &str, limit: usize) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .search(name, limit)
            .into_iter()
            .map(|(t, _)| t.name.as_str())
            .collect();
        if out.len() < limit {
            let mut close: Vec<(usize, &str)> = self
                .tools
                .iter()
                .map(|t| (edit_distance(name, &t.name), t.name.as_str()))
                .filter(|(d, n)| *d <= name.len().max(n.len()) / 3 && !out.contains(n))
                .collect();
            close.sort_unstable();
            out.extend(close.into_iter().map(|(_, n)| n).take(limit - out.len()));
        }
        out
    }
}

impl FromIterator<ToolInfo> for Tools {
    fn from_iter<I: IntoIterator<Item = ToolInfo>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

/// The searchable text of a tool: name, description, parameter names and their descriptions
/// (the same fields the catalog indexes for `polyclaw__find_tools`).
fn doc(tool: &ToolInfo) -> ToolDoc {
    let mut params = Vec::new();
    if let Some(props) = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
    {
        for (name, schema) in props {
            params.push(name.clone());
            if let Some(d) = schema.get("description").and_then(Value::as_str) {
                params.push(d.to_string());
            }
        }
    }
    ToolDoc {
        name: tool.name.clone(),
        description: tool.description.clone(),
        params,
    }
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A small registry shared by the crate's tests.
    pub(crate) fn registry() -> Tools {
        Tools::new(vec![
            ToolInfo {
                name: "time__get_current_time".into(),
                description: "Get the current time in a specific timezone".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"timezone": {"type": "string", "description": "IANA timezone name"}},
                    "required": ["timezone"]
                }),
                output_schema: None,
            },
            ToolInfo {
                name: "echo__add".into(),
                description: "Add two numbers".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"],
                    "additionalProperties": false
                }),
                output_schema: Some(json!({
                    "type": "object",
                    "properties": {"sum": {"type": "integer"}},
                    "required": ["sum"]
                })),
            },
            ToolInfo {
                name: "echo__echo".into(),
                description: "Echo the text back".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"text": {"type": "string", "maxLength": 20}},
                    "required": ["text"]
                }),
                output_schema: None,
            },
            ToolInfo {
                name: "web__search".into(),
                description: "Search the web for pages".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string"},
                        "limit": {"type": "integer", "minimum": 1}
                    },
                    "required": ["query"]
                }),
                output_schema: Some(json!({
                    "type": "object",
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {"$ref": "#/$defs/item"}
                        },
                        "meta": {"type": "object"}
                    },
                    "$defs": {
                        "item": {
                            "type": "object",
                            "properties": {"url": {"type": "string"}, "title": {"type": "string"}}
                        }
                    }
                })),
            },
            ToolInfo {
                name: "fetch__fetch".into(),
                description: "Fetch a URL and return its content as markdown".into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
                        "max_length": {"type": "integer"},
                        "headers": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["url"]
                }),
                output_schema: None,
            },
        ])
    }

    #[test]
    fn get_and_search() {
        let tools = registry();
        assert_eq!(tools.len(), 5);
        assert!(tools.get("echo__add").is_some());
        assert!(tools.get("add").is_none());
        let hits = tools.search("current time in a timezone", 3);
        assert_eq!(hits[0].0.name, "time__get_current_time");
        assert!(hits[0].1 > 0.0);
        let hits = tools.search_coverage("fetch a web page url", 3);
        assert!(hits.iter().all(|(_, c)| (0.0..=1.0).contains(c)));
    }

    #[test]
    fn similar_names_catch_typos() {
        let tools = registry();
        assert_eq!(
            tools.similar_names("time__get_curent_time", 1),
            ["time__get_current_time"]
        );
        assert!(tools.similar_names("ecko__ad", 3).contains(&"echo__add"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
