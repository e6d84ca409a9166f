//! The merged view of all servers: exposed names, routes back to the owner, and the search
//! index. A [`Catalog`] is immutable; the mesh builds a new one whenever a server's lists
//! change and swaps it in, so readers never see a half-built view.

use std::collections::HashMap;
use std::sync::Arc;

use polyclaw_planner::search::{Hit, ToolDoc, ToolIndex};
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::names::{self, MAX_TOOL_NAME};

/// What one server offers, as last listed. Kept while the server is down, so its tools stay
/// visible (and calls say why they fail) instead of vanishing.
#[derive(Debug, Clone, Default)]
pub struct ServerView {
    /// Its tools, with their downstream names.
    pub tools: Vec<Tool>,
    /// Its prompts, downstream names.
    pub prompts: Vec<Prompt>,
    /// Its resources (URIs are served unchanged).
    pub resources: Vec<Resource>,
    /// Its resource templates.
    pub templates: Vec<ResourceTemplate>,
}

/// Where an exposed name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The owning server.
    pub server: String,
    /// The name the owner knows it by.
    pub name: String,
    /// What the owner claims about the tool (its annotations); none for prompts.
    pub hints: crate::registry::policy::Hints,
}

/// One server's contribution to a catalog.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Server name.
    pub server: String,
    /// Its prefix (`""` = unprefixed where nothing collides).
    pub prefix: String,
    /// What it offers.
    pub view: Arc<ServerView>,
    /// Its tools whose definition changed since pinned (see `pins`).
    pub drift: super::pins::Drift,
}

/// The front door's merged view.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Exposed tools (renamed), in server order.
    pub tools: Vec<Tool>,
    /// Exposed prompts (renamed).
    pub prompts: Vec<Prompt>,
    /// All resources.
    pub resources: Vec<Resource>,
    /// All resource templates.
    pub templates: Vec<ResourceTemplate>,
    tool_routes: HashMap<String, Route>,
    /// Exposed names of tools refused because their definition changed, with why.
    blocked: HashMap<String, String>,
    prompt_routes: HashMap<String, Route>,
    resource_owner: HashMap<String, String>,
    /// (template prefix before the first `{`, server), longest prefix first.
    template_owner: Vec<(String, String)>,
    index: ToolIndex,
    /// The servers' views it was built from, in order (to tell when it is out of date).
    built_from: Vec<(String, Arc<ServerView>)>,
}

impl Catalog {
    /// Builds the merged view. Unprefixed servers keep bare names only where no other server
    /// exposes the same name; otherwise they fall back to `server__name`.
    #[must_use]
    pub fn build(entries: &[Entry]) -> Self {
        let mut cat = Self {
            built_from: entries
                .iter()
                .map(|e| (e.server.clone(), e.view.clone()))
                .collect(),
            ..Self::default()
        };
        let mut bare_count: HashMap<String, usize> = HashMap::new();
        for e in entries {
            for t in &e.view.tools {
                *bare_count
                    .entry(names::qualify(&e.prefix, &t.name))
                    .or_default() += 1;
            }
            for p in &e.view.prompts {
                *bare_count
                    .entry(names::qualify(&e.prefix, &p.name))
                    .or_default() += 1;
            }
        }
        let exposed = |e: &Entry, name: &str| {
            let candidate = names::qualify(&e.prefix, name);
            if e.prefix.is_empty() && bare_count.get(&candidate).copied().unwrap_or(0) > 1 {
                tracing::warn!(server = %e.server, name, "unprefixed name collides; serving it as server__name");
                names::qualify(&e.server, name)
            } else {
                candidate
            }
        };
        for e in entries {
            for t in &e.view.tools {
                let name = exposed(e, &t.name);
                if name.len() > MAX_TOOL_NAME
                    || cat.tool_routes.contains_key(&name)
                    || cat.blocked.contains_key(&name)
                {
                    tracing::warn!(server = %e.server, tool = %t.name, "tool left out: its exposed name is too long or taken");
                    continue;
                }
                let mut tool = t.clone();
                tool.name = name.clone().into();
                if let Some(notice) = e.drift.changed.get(t.name.as_ref()) {
                    // Flagged to the client where a model reads it first.
                    let was = tool.description.as_deref().unwrap_or_default();
                    let approve = format!("`polyclaw tools approve {} {}`", e.server, t.name);
                    let notice = notice.replace("`polyclaw tools approve NAME`", &approve);
                    tool.description = Some(format!("[polyclaw: {notice}] {was}").into());
                    if e.drift.blocked {
                        cat.blocked.insert(name, notice);
                        cat.tools.push(tool);
                        continue;
                    }
                }
                cat.tool_routes.insert(
                    name,
                    Route {
                        server: e.server.clone(),
                        name: t.name.to_string(),
                        hints: crate::registry::policy::Hints::of(t.annotations.as_ref()),
                    },
                );
                cat.tools.push(tool);
            }
            for p in &e.view.prompts {
                let name = exposed(e, &p.name);
                if cat.prompt_routes.contains_key(&name) {
                    continue;
                }
                let mut prompt = p.clone();
                prompt.name.clone_from(&name);
                cat.prompt_routes.insert(
                    name,
                    Route {
                        server: e.server.clone(),
                        name: p.name.clone(),
                        hints: crate::registry::policy::Hints::default(),
                    },
                );
                cat.prompts.push(prompt);
            }
            for r in &e.view.resources {
                if cat
                    .resource_owner
                    .insert(r.uri.clone(), e.server.clone())
                    .is_none()
                {
                    cat.resources.push(r.clone());
                }
            }
            for t in &e.view.templates {
                let prefix = t
                    .uri_template
                    .split('{')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                cat.template_owner.push((prefix, e.server.clone()));
                cat.templates.push(t.clone());
            }
        }
        cat.template_owner
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let docs: Vec<ToolDoc> = cat.tools.iter().map(tool_doc).collect();
        cat.index = ToolIndex::build(&docs);
        cat
    }

    /// Whether it was built from exactly these (server, view) pairs, in this order: views
    /// are compared by identity, since a server's changed lists are a new view.
    #[must_use]
    pub fn is_built_from<'a>(
        &self,
        views: impl ExactSizeIterator<Item = (&'a str, Arc<ServerView>)>,
    ) -> bool {
        views.len() == self.built_from.len()
            && views
                .zip(&self.built_from)
                .all(|((name, view), (built_name, built))| {
                    name == built_name && Arc::ptr_eq(&view, built)
                })
    }

    /// How many exposed tools route to `server`.
    #[must_use]
    pub fn tool_count(&self, server: &str) -> usize {
        self.tools
            .iter()
            .filter(|t| self.tool_route(&t.name).is_some_and(|r| r.server == server))
            .count()
    }

    /// Where an exposed tool name leads.
    #[must_use]
    pub fn tool_route(&self, exposed: &str) -> Option<&Route> {
        self.tool_routes.get(exposed)
    }

    /// Why an exposed tool is refused (its definition changed and is not approved).
    #[must_use]
    pub fn blocked(&self, exposed: &str) -> Option<&str> {
        self.blocked.get(exposed).map(String::as_str)
    }

    /// Where an exposed prompt name leads.
    #[must_use]
    pub fn prompt_route(&self, exposed: &str) -> Option<&Route> {
        self.prompt_routes.get(exposed)
    }

    /// The server that owns a resource URI: an exact listed resource first, then the template
    /// with the longest matching literal prefix.
    #[must_use]
    pub fn resource_owner(&self, uri: &str) -> Option<&str> {
        if let Some(s) = self.resource_owner.get(uri) {
            return Some(s);
        }
        self.template_owner
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
            .map(|(_, s)| s.as_str())
    }

    /// The exposed tool with this name.
    #[must_use]
    pub fn tool(&self, exposed: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == exposed)
    }

    /// Tools ranked for a query of words.
    #[must_use]
    pub fn search(&self, query: &str, limit: usize) -> Vec<(&Tool, f64)> {
        self.index
            .search(query, limit)
            .into_iter()
            .filter_map(|Hit { index, score }| self.tools.get(index).map(|t| (t, score)))
            .collect()
    }
}

/// The searchable text of a tool: name, description, parameter names and their descriptions.
fn tool_doc(tool: &Tool) -> ToolDoc {
    let mut params = Vec::new();
    if let Some(props) = tool
        .input_schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
    {
        for (name, schema) in props {
            params.push(name.clone());
            if let Some(d) = schema
                .get("description")
                .and_then(serde_json::Value::as_str)
            {
                params.push(d.to_string());
            }
        }
    }
    ToolDoc {
        name: tool.name.to_string(),
        description: tool.description.as_deref().unwrap_or_default().to_string(),
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: &str) -> Tool {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
        let serde_json::Value::Object(schema) = schema else {
            unreachable!()
        };
        Tool::new(name.to_string(), description.to_string(), Arc::new(schema))
    }

    fn entry(server: &str, prefix: &str, tools: &[&str]) -> Entry {
        Entry {
            drift: crate::registry::pins::Drift::default(),
            server: server.into(),
            prefix: prefix.into(),
            view: Arc::new(ServerView {
                tools: tools.iter().map(|t| tool(t, "does things")).collect(),
                ..ServerView::default()
            }),
        }
    }

    #[test]
    fn it_knows_which_views_it_was_built_from() {
        let entries = vec![entry("a", "a", &["x"]), entry("b", "b", &["y"])];
        let cat = Catalog::build(&entries);
        let same = entries.iter().map(|e| (e.server.as_str(), e.view.clone()));
        assert!(cat.is_built_from(same));
        let changed = entry("b", "b", &["y"]);
        let newer = [
            (entries[0].server.as_str(), entries[0].view.clone()),
            ("b", changed.view),
        ];
        assert!(
            !cat.is_built_from(newer.into_iter()),
            "an equal but new view is a change"
        );
        let fewer = entries[..1]
            .iter()
            .map(|e| (e.server.as_str(), e.view.clone()));
        assert!(!cat.is_built_from(fewer), "a server went");
    }

    #[test]
    fn prefixes_and_routes() {
        let cat = Catalog::build(&[
            entry("git", "git", &["status"]),
            entry("time", "time", &["now"]),
        ]);
        let names: Vec<_> = cat.tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, ["git__status", "time__now"]);
        assert_eq!(
            cat.tool_route("time__now"),
            Some(&Route {
                server: "time".into(),
                name: "now".into(),
                hints: crate::registry::policy::Hints::default(),
            })
        );
        assert!(cat.tool_route("now").is_none());
    }

    #[test]
    fn unprefixed_server_falls_back_on_collision() {
        let cat = Catalog::build(&[
            entry("fixture", "", &["echo", "only_here"]),
            entry("other", "", &["echo"]),
        ]);
        let mut names: Vec<_> = cat.tools.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        assert_eq!(names, ["fixture__echo", "only_here", "other__echo"]);
        assert_eq!(
            cat.tool_route("only_here").map(|r| r.server.as_str()),
            Some("fixture")
        );
    }

    #[test]
    fn search_finds_by_description() {
        let mut e = entry("time", "time", &[]);
        e.view = Arc::new(ServerView {
            tools: vec![
                tool("get_current_time", "Get the current time in a timezone"),
                tool("x", "unrelated"),
            ],
            ..ServerView::default()
        });
        let cat = Catalog::build(&[e]);
        let hits = cat.search("what time is it", 5);
        assert_eq!(hits[0].0.name, "time__get_current_time");
    }
}
