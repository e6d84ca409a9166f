//! The catalog of known servers (`catalog/servers.toml`, or `generate.catalog`) and how a
//! plan's gaps are filled: (1) the catalog entry whose capabilities best cover the gap is
//! added to the mesh; else (2) a server is generated when a model can write its spec and
//! `generate.auto_approve` allows it — otherwise polyclaw says what it would generate and asks;
//! else (3) a report of what is missing.

use std::path::PathBuf;
use std::sync::Arc;

use polyclaw_planner::search::{ToolDoc, ToolIndex};
use polyclaw_planner::validate::{DEFAULT_CAPABILITY_THRESHOLD, Gap};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{GenerateConfig, Interpolator, RawServer};
use crate::error::Error;
use crate::hub::Hub;
use crate::hub::author::Author;

/// One known server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The name it gets in the mesh.
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// What it can do, in words (matched against a plan's capability text).
    pub capabilities: Vec<String>,
    /// How to run or reach it, exactly as a `[servers.NAME]` table.
    pub server: RawServer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    entry: Vec<Entry>,
}

/// The loaded catalog.
#[derive(Debug, Clone, Default)]
pub struct ServerCatalog {
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

/// The catalog file: `generate.catalog`, else `catalog/servers.toml` of the source tree.
#[must_use]
pub fn path(config: &GenerateConfig) -> Option<PathBuf> {
    if let Some(p) = &config.catalog {
        return Some(PathBuf::from(p));
    }
    crate::runtime::docker::cargo::source_dir(None)
        .ok()
        .map(|d| d.join("catalog/servers.toml"))
        .filter(|p| p.is_file())
}

impl ServerCatalog {
    /// Loads the configured catalog (empty when there is none).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the file cannot be read or parsed.
    pub fn load(config: &GenerateConfig) -> Result<Self, Error> {
        let Some(path) = path(config) else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot read the server catalog {} ({e}); fix `generate.catalog`",
                path.display()
            ))
        })?;
        Self::parse(&text)
            .map_err(|e| Error::InvalidInput(format!("the server catalog {}: {e}", path.display())))
    }

    /// Parses catalog text.
    ///
    /// # Errors
    /// The TOML error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| e.message().to_string())?;
        Ok(Self { entries: raw.entry })
    }

    /// The entry that covers `capability` best, with its coverage (0–1), when it reaches the
    /// planner's capability threshold.
    #[must_use]
    pub fn best(&self, capability: &str) -> Option<(&Entry, f64)> {
        let docs: Vec<ToolDoc> = self
            .entries
            .iter()
            .map(|e| ToolDoc {
                name: e.name.clone(),
                description: format!("{} {}", e.description, e.capabilities.join(" ")),
                params: Vec::new(),
            })
            .collect();
        let index = ToolIndex::build(&docs);
        index
            .search(capability, 5)
            .into_iter()
            .map(|hit| (hit.index, index.coverage(capability, hit.index)))
            .filter(|(_, c)| *c >= DEFAULT_CAPABILITY_THRESHOLD)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .and_then(|(i, c)| self.entries.get(i).map(|e| (e, c)))
    }
}

/// What was done about one gap.
#[derive(Debug, Clone, Serialize)]
pub struct GapOutcome {
    /// The step that needs the capability.
    pub step: String,
    /// The capability.
    pub capability: String,
    /// `catalog` (a known server was added), `generated` (a model wrote a spec and the
    /// server passed the pipeline), `approval` (a server could be generated: asks first), or
    /// `missing`.
    pub filled_by: &'static str,
    /// The server added or proposed, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// What happened or what to do, in words.
    pub note: String,
}

/// Tries to fill every gap; returns what happened to each. Servers added from the catalog are
/// added to the mesh (and started), so validating the plan again may resolve the steps.
pub async fn fill_gaps(hub: &Arc<Hub>, gaps: &[Gap], author: Option<&Author>) -> Vec<GapOutcome> {
    let catalog = match ServerCatalog::load(&hub.generate) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("{e}");
            ServerCatalog::default()
        }
    };
    let mut outcomes = Vec::new();
    for gap in gaps {
        let mut outcome = GapOutcome {
            step: gap.step.clone(),
            capability: gap.capability.clone(),
            filled_by: "missing",
            server: None,
            note: String::new(),
        };
        if let Some((entry, coverage)) = catalog.best(&gap.capability) {
            outcome.server = Some(entry.name.clone());
            if hub.server(&entry.name).is_some() {
                outcome.filled_by = "catalog";
                outcome.note = format!("catalog entry `{}` is already in the mesh", entry.name);
            } else {
                match add_entry(hub, entry).await {
                    Ok(()) => {
                        outcome.filled_by = "catalog";
                        outcome.note = format!(
                            "added catalog entry `{}` (covers {:.0} % of the capability)",
                            entry.name,
                            coverage * 100.0
                        );
                    }
                    Err(e) => {
                        outcome.note = format!(
                            "catalog entry `{}` fits but could not be added: {e}",
                            entry.name
                        );
                    }
                }
            }
            if outcome.filled_by == "catalog" {
                outcomes.push(outcome);
                continue;
            }
        }
        let (filled_by, note) = match (author, hub.generate.auto_approve) {
            (Some(author), false) => (
                "approval",
                format!(
                    "no server offers \"{}\" and no catalog entry fits. polyclaw can generate one from a template with a spec written by {}, but `generate.auto_approve` is false: approve by calling polyclaw__create_server with a spec for it (or set `[generate] auto_approve = true`)",
                    gap.capability,
                    author.label()
                ),
            ),
            (Some(author), true) => match generate_for(hub, author, &gap.capability).await {
                Ok(g) => {
                    outcome.server = Some(g.name.clone());
                    (
                        "generated",
                        format!(
                            "generated server `{}` from template `{}` with a spec written by {} ({} example(s) passed): {}",
                            g.name,
                            g.template,
                            author.label(),
                            g.examples_passed,
                            g.tools.join(", ")
                        ),
                    )
                }
                Err(e) => (
                    "missing",
                    format!(
                        "no server offers \"{}\" and no catalog entry fits; generating one with a spec written by {} failed: {e}",
                        gap.capability,
                        author.label()
                    ),
                ),
            },
            (None, _) => (
                "missing",
                format!(
                    "no server offers \"{}\", no catalog entry fits, and no model is available to write a spec (no MCP sampling, no [llm]): add a server that does it, or call polyclaw__create_server with a spec",
                    gap.capability
                ),
            ),
        };
        outcome.filled_by = filled_by;
        if outcome.note.is_empty() {
            outcome.note = note;
        } else {
            outcome.note = format!("{}; {note}", outcome.note);
        }
        outcomes.push(outcome);
    }
    outcomes
}

/// The system prompt of spec requests.
const SPEC_SYSTEM: &str = "You write specs of MCP servers for polyclaw's generator. Answer with one JSON object that matches the spec JSON Schema you are given, and nothing else.";

/// The templates a gap's server may come from (the `openapi` one needs a document a model
/// cannot make up).
const GAP_TEMPLATES: [&str; 2] = ["python", "command"];

/// How many specs a model may write for one gap: a failed attempt's error goes back to it.
const GAP_ATTEMPTS: usize = 2;

/// Asks `author` for a spec (of the `python` or `command` template) that provides
/// `capability` and runs the pipeline; when it fails, the author sees why and tries once more.
async fn generate_for(
    hub: &Arc<Hub>,
    author: &Author,
    capability: &str,
) -> Result<super::Generated, Error> {
    let dir = super::template::templates_dir(&hub.generate)?;
    let mut templates = Vec::new();
    for name in GAP_TEMPLATES {
        templates.push(super::template::load(&dir, name)?);
    }
    let programs = if std::path::Path::new("/bin/busybox").is_file() {
        "/bin/busybox (static; its applets run as `/bin/busybox APPLET ARGS`)"
    } else {
        "none known: name executables of this host in `binaries`"
    };
    let mut prompt = format!(
        "A plan needs this capability and no MCP server offers it: \"{capability}\".\n\
         Write the spec of a new server whose tools provide it, for one of these templates:\n\
         - `python`: {}. Each tool's `body` is a Python function body (standard library only, \
         no network) whose arguments are local names; it returns a str or JSON-able value.\n\
         - `command`: {}. Each tool runs one program with argument templates (`{{arg}}`), no \
         shell. Static programs available: {programs}.\n\
         Give each tool an example (arguments and text the result must contain): it is the \
         server's contract test. Answer {{\"template\": \"python\" or \"command\", \"spec\": {{...}}}}.\n",
        templates[0].description, templates[1].description,
    );
    for t in &templates {
        prompt.push_str(&format!(
            "\nThe JSON Schema of a `{}` spec:\n{}\n",
            t.name,
            serde_json::to_string_pretty(&t.schema).unwrap_or_default()
        ));
    }
    let mut last_error = None;
    for attempt in 1..=GAP_ATTEMPTS {
        let answer = author.complete_as(SPEC_SYSTEM, &prompt).await?;
        let answer = json_object_in(&answer).ok_or_else(|| {
            Error::Planning(format!(
                "{} answered without a JSON object for the spec",
                author.label()
            ))
        })?;
        let (template, spec) = template_and_spec(answer);
        let request = super::Request { template, spec };
        let log = |e: super::StageEvent| {
            tracing::info!(stage = %e.stage, done = e.done, attempt, "generate for a gap: {}", e.message);
        };
        match super::generate(&super::pipeline::Context::of(hub), request, &log).await {
            Ok(g) => return Ok(g),
            Err(e @ Error::Generate { .. }) => {
                prompt.push_str(&format!(
                    "\nYour spec was rejected: {e}\nFix it and answer again with the whole object.\n"
                ));
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Planning("no spec was written".into())))
}

/// `{"template": T, "spec": S}`, or a bare spec whose template shows in its tools (`body`:
/// python, else command).
fn template_and_spec(answer: Value) -> (String, Value) {
    if let (Some(template), Some(spec)) = (
        answer.get("template").and_then(Value::as_str),
        answer.get("spec"),
    ) && spec.is_object()
    {
        return (template.to_string(), spec.clone());
    }
    let python = answer
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| tools.iter().any(|t| t.get("body").is_some()));
    let template = if python { "python" } else { "command" };
    (template.to_string(), answer)
}

/// The first JSON object in a model's answer (fenced or not).
fn json_object_in(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    serde_json::from_str(text.get(start..=end)?)
        .ok()
        .filter(Value::is_object)
}

async fn add_entry(hub: &Arc<Hub>, entry: &Entry) -> Result<(), Error> {
    let mut issues = Vec::new();
    let Some(spec) = crate::config::validate_raw(
        &entry.name,
        &entry.server,
        &Interpolator::from_env(),
        &mut issues,
    ) else {
        let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
        return Err(Error::InvalidInput(list.join("; ")));
    };
    match hub.add_server(spec).await {
        Ok(_) => {
            hub.rebuild();
            Ok(())
        }
        Err(e @ Error::DuplicateServer(_)) => Err(e),
        Err(e) => {
            let _ = hub.remove_server(&entry.name).await;
            Err(e)
        }
    }
}

/// The outcomes as JSON, for reports.
#[must_use]
pub fn outcomes_json(outcomes: &[GapOutcome]) -> Value {
    serde_json::to_value(outcomes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_answer_names_its_template_or_shows_it() {
        let spec = serde_json::json!({"name": "x", "tools": [{"body": "return 1"}]});
        let (t, s) = template_and_spec(serde_json::json!({"template": "python", "spec": spec}));
        assert_eq!((t.as_str(), &s), ("python", &spec));
        assert_eq!(template_and_spec(spec.clone()).0, "python");
        let command = serde_json::json!({"name": "x", "tools": [{"command": ["/bin/true"]}]});
        assert_eq!(template_and_spec(command).0, "command");
    }

    #[test]
    fn the_shipped_catalog_parses_and_matches_by_capability() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog/servers.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let catalog = ServerCatalog::parse(&text).unwrap();
        assert!(catalog.entries.len() >= 3);
        let (entry, coverage) = catalog.best("add two numbers").unwrap();
        assert_eq!(entry.name, "calc");
        assert!(coverage >= DEFAULT_CAPABILITY_THRESHOLD);
        assert_eq!(catalog.best("read a file").unwrap().0.name, "files");
        assert!(catalog.best("translate klingon poetry").is_none());
    }
}
