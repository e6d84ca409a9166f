//! Validation: a [`Plan`] checked against the registry's [`Tools`] before anything runs.
//!
//! [`validate`] reports *every* problem at once, each as an [`Issue`] with the path of the
//! offending field (`steps[3].args.path`, `steps[1].depends_on[0]`) and a message saying what
//! is wrong and how to fix it, so a person or a model can fix a plan in one round. It checks:
//! the plan has steps; `max_parallel` ≥ 1; ids are well-formed and unique; each step has a
//! `tool` or a `capability` (not both); tools exist (with "did you mean" names); `depends_on`
//! and binding targets exist; the graph is acyclic (cycles are named); arguments fit the tool's
//! input schema (see `validate/args.rs` for how bound positions are relaxed); `result` binding
//! paths fit the bound tool's output schema (`validate/outputs.rs`); timeout and retry values
//! are in range.
//!
//! Capability steps are resolved here with the search index. A hit counts when its *coverage*
//! of the capability's words ([`crate::search::ToolIndex::coverage`], 0–1, rare words weigh
//! more) reaches [`ValidateOptions::capability_threshold`] (default
//! [`DEFAULT_CAPABILITY_THRESHOLD`] = 0.5: the tool must cover at least half of what the
//! capability says, by weight). Among the hits that count, the best-covering one whose
//! arguments fit wins. A capability with no such hit is a [`Gap`], not an error: the
//! orchestrator may fill it (add a server, generate a tool) and validate again.
//!
//! Validation never runs anything and never asks a server.

mod args;
mod graph;
mod outputs;

use std::collections::HashMap;
use std::fmt;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bindings::{self, BindingRef, Source, is_id_char};
use crate::plan::{Plan, Step};
use crate::tools::Tools;

pub use graph::Edge;

/// The default [`ValidateOptions::capability_threshold`].
pub const DEFAULT_CAPABILITY_THRESHOLD: f64 = 0.5;
/// Longest step id.
pub const MAX_ID_LEN: usize = 64;
/// Most retries a step may ask for.
pub const MAX_RETRIES: u32 = 20;
/// Longest timeout, in seconds (a week).
pub const MAX_TIMEOUT_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// Longest first retry delay, in seconds.
pub const MAX_BACKOFF_SECS: f64 = 3600.0;
/// Largest retry backoff factor.
pub const MAX_BACKOFF_FACTOR: f64 = 10.0;

/// One problem with a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Issue {
    /// The field: `steps[3].args.path`, `steps[1].depends_on[0]`, `steps`, `max_parallel`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Issue {
    /// An issue at `path`.
    #[must_use]
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A capability no tool meets well enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gap {
    /// The step that needs it.
    pub step: String,
    /// What it needs, as written.
    pub capability: String,
    /// The nearest tools with their coverage of the capability (0–1), best first.
    pub candidates: Vec<(String, f64)>,
}

/// A capability step resolved to a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    /// The step.
    pub step: String,
    /// What it asked for.
    pub capability: String,
    /// The tool chosen.
    pub tool: String,
    /// That tool's coverage of the capability (0–1).
    pub coverage: f64,
}

/// Tunables of validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidateOptions {
    /// Least coverage (0–1) for a tool to meet a capability; below it the step is a gap.
    pub capability_threshold: f64,
    /// How many search hits are considered (and reported as gap candidates).
    pub candidates: usize,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            capability_threshold: DEFAULT_CAPABILITY_THRESHOLD,
            candidates: 5,
        }
    }
}

/// A plan that passed validation, ready for [`crate::schedule::Scheduler`].
#[derive(Debug, Clone)]
pub struct Validated {
    /// The plan, with capability steps resolved to tools where possible (their `capability`
    /// cleared, their `tool` set; see `resolved`).
    pub plan: Plan,
    /// Capability steps no tool meets; they still have neither tool nor a result.
    pub gaps: Vec<Gap>,
    /// How capability steps were resolved.
    pub resolved: Vec<Resolution>,
    /// Things worth knowing that do not block the plan (uncompilable tool schemas, bindings
    /// into `structuredContent` of tools without an output schema).
    pub warnings: Vec<Issue>,
    /// Step ids in a topological order (dependencies first, plan order among equals).
    pub order: Vec<String>,
    /// Dependencies: node `i` is `plan.steps[i]`, weighted by its id; an edge `a → b` means
    /// `b` waits for `a`.
    pub graph: DiGraph<String, Edge>,
}

impl Validated {
    /// The position of a step in `plan.steps` (also its node index).
    #[must_use]
    pub fn position(&self, id: &str) -> Option<usize> {
        self.plan.steps.iter().position(|s| s.id == id)
    }

    /// The step with this id.
    #[must_use]
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.plan.step(id)
    }

    /// The ids a step waits for (explicit and bound), in plan order.
    #[must_use]
    pub fn dependencies(&self, id: &str) -> Vec<&str> {
        self.neighbors(id, Direction::Incoming)
    }

    /// The ids that wait for a step, in plan order.
    #[must_use]
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        self.neighbors(id, Direction::Outgoing)
    }

    /// Every dependency as `(from, to, why)`: `to` waits for `from`; in plan order of `to`,
    /// then of `from` (for `polyclaw plan show`).
    #[must_use]
    pub fn edges(&self) -> Vec<(&str, &str, Edge)> {
        let mut edges: Vec<(usize, usize, Edge)> = self
            .graph
            .raw_edges()
            .iter()
            .map(|e| (e.source().index(), e.target().index(), e.weight))
            .collect();
        edges.sort_by_key(|&(from, to, _)| (to, from));
        edges
            .into_iter()
            .filter_map(|(from, to, kind)| {
                let from = self.graph.node_weight(NodeIndex::new(from))?;
                let to = self.graph.node_weight(NodeIndex::new(to))?;
                Some((from.as_str(), to.as_str(), kind))
            })
            .collect()
    }

    fn neighbors(&self, id: &str, direction: Direction) -> Vec<&str> {
        let Some(i) = self.position(id) else {
            return Vec::new();
        };
        let mut nodes: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(NodeIndex::new(i), direction)
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
            .into_iter()
            .filter_map(|n| self.graph.node_weight(n).map(String::as_str))
            .collect()
    }
}

/// [`validate_with`] with the default options.
///
/// # Errors
///
/// Every problem found, in plan order.
pub fn validate(plan: &Plan, tools: &Tools) -> Result<Validated, Vec<Issue>> {
    validate_with(plan, tools, &ValidateOptions::default())
}

/// Checks `plan` against `tools`, resolves capabilities, and builds the dependency graph.
///
/// # Errors
///
/// Every problem found (see the module doc), in plan order; gaps are not errors.
pub fn validate_with(
    plan: &Plan,
    tools: &Tools,
    options: &ValidateOptions,
) -> Result<Validated, Vec<Issue>> {
    let mut plan = plan.clone();
    let mut issues = Vec::new();
    let mut warnings = Vec::new();
    if plan.steps.is_empty() {
        issues.push(Issue::new(
            "steps",
            "the plan has no steps; add at least one step with an `id` and a `tool`",
        ));
    }
    if plan.max_parallel == Some(0) {
        issues.push(Issue::new(
            "max_parallel",
            "must be at least 1; leave it out for the default of 4",
        ));
    }
    let ids = check_ids(&plan, &mut issues);
    for (i, step) in plan.steps.iter().enumerate() {
        check_fields(i, step, tools, &mut issues);
    }
    let mut checker = args::ArgsChecker::default();
    let (resolved, gaps) = resolve_capabilities(&mut plan, tools, options, &mut checker);
    let (graph, refs) = dependencies(&plan, &ids, &mut issues);
    for cycle in graph::cycles(&graph) {
        issues.push(cycle_issue(&plan, &refs, &cycle));
    }
    check_arguments(
        &plan,
        tools,
        &resolved,
        &mut checker,
        &mut issues,
        &mut warnings,
    );
    check_bound_paths(&plan, tools, &ids, &refs, &mut issues, &mut warnings);

    if !issues.is_empty() {
        issues.sort_by_key(|issue| step_number(&issue.path));
        return Err(issues);
    }
    let Some(order) = graph::topological(&graph) else {
        return Err(vec![Issue::new("steps", "the steps form a cycle")]);
    };
    let order = order
        .into_iter()
        .filter_map(|i| plan.steps.get(i).map(|s| s.id.clone()))
        .collect();
    Ok(Validated {
        plan,
        gaps,
        resolved,
        warnings,
        order,
        graph,
    })
}

/// The dependency graph (explicit and through bindings) and each step's bindings; unknown
/// targets and malformed bindings become issues.
fn dependencies(
    plan: &Plan,
    ids: &HashMap<String, usize>,
    issues: &mut Vec<Issue>,
) -> (DiGraph<String, Edge>, Vec<Vec<BindingRef>>) {
    let mut graph: DiGraph<String, Edge> = DiGraph::new();
    for step in &plan.steps {
        graph.add_node(step.id.clone());
    }
    let mut refs: Vec<Vec<BindingRef>> = Vec::with_capacity(plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        for (j, dep) in step.depends_on.iter().enumerate() {
            match ids.get(dep.as_str()) {
                Some(&d) => graph::add_edge(&mut graph, d, i, Edge::DependsOn),
                None => issues.push(Issue::new(
                    format!("steps[{i}].depends_on[{j}]"),
                    unknown_step(dep, ids),
                )),
            }
        }
        let (found, malformed) = bindings::scan(&step.args);
        for error in malformed {
            if let crate::Error::MalformedBinding {
                location,
                text,
                reason,
            } = error
            {
                issues.push(Issue::new(
                    format!("steps[{i}].{location}"),
                    format!("`{text}` is not a valid binding: {reason}"),
                ));
            }
        }
        for r in &found {
            match ids.get(r.step.as_str()) {
                Some(&d) => graph::add_edge(&mut graph, d, i, Edge::Binding),
                None => issues.push(Issue::new(
                    format!("steps[{i}].{}", r.location),
                    format!("binds {}", unknown_step(&r.step, ids)),
                )),
            }
        }
        refs.push(found);
    }
    (graph, refs)
}

/// Arguments against their tool's input schema (relaxed at bindings, see `validate/args.rs`).
fn check_arguments(
    plan: &Plan,
    tools: &Tools,
    resolved: &[Resolution],
    checker: &mut args::ArgsChecker,
    issues: &mut Vec<Issue>,
    warnings: &mut Vec<Issue>,
) {
    for (i, step) in plan.steps.iter().enumerate() {
        let Some(tool) = step.tool.as_deref().and_then(|t| tools.get(t)) else {
            continue;
        };
        match checker.check(tool, &step.args) {
            Ok(found) => {
                let via = resolved
                    .iter()
                    .find(|r| r.step == step.id)
                    .map(|r| format!(" (capability `{}` resolved to it)", r.capability))
                    .unwrap_or_default();
                for a in found {
                    issues.push(Issue::new(
                        format!("steps[{i}].{}", a.location),
                        format!(
                            "{}; tool `{}`{via} takes {}",
                            a.message,
                            tool.name,
                            args::signature(tool)
                        ),
                    ));
                }
            }
            Err(e) => warnings.push(Issue::new(
                format!("steps[{i}].args"),
                format!(
                    "not checked: the input schema of tool `{}` does not compile ({e})",
                    tool.name
                ),
            )),
        }
    }
}

/// `result` binding paths against the bound tool's output schema (see `validate/outputs.rs`).
fn check_bound_paths(
    plan: &Plan,
    tools: &Tools,
    ids: &HashMap<String, usize>,
    refs: &[Vec<BindingRef>],
    issues: &mut Vec<Issue>,
    warnings: &mut Vec<Issue>,
) {
    for (i, found) in refs.iter().enumerate() {
        for r in found.iter().filter(|r| r.source == Source::Result) {
            let Some(bound_tool) = ids
                .get(r.step.as_str())
                .and_then(|&d| plan.steps[d].tool.as_deref())
                .and_then(|t| tools.get(t))
            else {
                continue;
            };
            let output_schema = bound_tool.output_schema.as_ref();
            if let Err(why) = outputs::check_result_path(output_schema, &r.segments) {
                issues.push(Issue::new(
                    format!("steps[{i}].{}", r.location),
                    format!(
                        "`${{steps.{}.{}}}`: {why} (step `{}` calls `{}`)",
                        r.step, r.path, r.step, bound_tool.name
                    ),
                ));
            } else if output_schema.is_none()
                && matches!(r.segments.first(), Some(bindings::Segment::Key(k)) if k == "structuredContent")
            {
                warnings.push(Issue::new(
                    format!("steps[{i}].{}", r.location),
                    format!(
                        "tool `{}` declares no output schema, so `structuredContent` may be \
                         missing; `${{steps.{}.text}}` is its text",
                        bound_tool.name, r.step
                    ),
                ));
            }
        }
    }
}

/// The step number in an issue path, for sorting (plan-level paths first).
fn step_number(path: &str) -> (usize, usize) {
    path.strip_prefix("steps[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
        .map_or((0, 0), |n| (1, n))
}

/// Checks ids; returns id → position of its first step.
fn check_ids(plan: &Plan, issues: &mut Vec<Issue>) -> HashMap<String, usize> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let id = step.id.as_str();
        if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(is_id_char) {
            issues.push(Issue::new(
                format!("steps[{i}].id"),
                format!(
                    "`{id}` is not a valid id: use 1-{MAX_ID_LEN} letters, digits, `_` or `-` \
                     (ids appear in bindings as ${{steps.ID.text}})"
                ),
            ));
        }
        if let Some(&first) = ids.get(id) {
            issues.push(Issue::new(
                format!("steps[{i}].id"),
                format!("`{id}` is already the id of steps[{first}]; give every step its own id"),
            ));
        } else {
            ids.insert(id.to_string(), i);
        }
    }
    ids
}

/// Checks tool/capability, timeout and retry of one step.
fn check_fields(i: usize, step: &Step, tools: &Tools, issues: &mut Vec<Issue>) {
    match (&step.tool, &step.capability) {
        (None, None) => issues.push(Issue::new(
            format!("steps[{i}]"),
            "the step has neither `tool` nor `capability`; name the tool to call, or say what \
             is needed in `capability`",
        )),
        (Some(_), Some(_)) => issues.push(Issue::new(
            format!("steps[{i}]"),
            "the step has both `tool` and `capability`; keep `tool` if it is the right one, \
             otherwise keep only `capability`",
        )),
        (Some(tool), None) => {
            if tools.get(tool).is_none() {
                let similar = tools.similar_names(tool, 3);
                let hint = if similar.is_empty() {
                    "no tool has a similar name; use `capability` to say what is needed instead"
                        .to_string()
                } else {
                    format!(
                        "did you mean {}? (or use `capability` to say what is needed)",
                        similar
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                issues.push(Issue::new(
                    format!("steps[{i}].tool"),
                    format!("unknown tool `{tool}`; {hint}"),
                ));
            }
        }
        (None, Some(capability)) => {
            if capability.trim().is_empty() {
                issues.push(Issue::new(
                    format!("steps[{i}].capability"),
                    "the capability is empty; say in a few words what the step must do",
                ));
            }
        }
    }
    if let Some(t) = step.timeout
        && !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS)
    {
        issues.push(Issue::new(
            format!("steps[{i}].timeout"),
            format!(
                "`{t}` is not a usable timeout: give seconds above 0 and at most {MAX_TIMEOUT_SECS}, \
                 or leave it out"
            ),
        ));
    }
    if let Some(r) = &step.retry {
        if r.count > MAX_RETRIES {
            issues.push(Issue::new(
                format!("steps[{i}].retry.count"),
                format!("{} retries is too many; use at most {MAX_RETRIES}", r.count),
            ));
        }
        if !(r.backoff.is_finite() && (0.0..=MAX_BACKOFF_SECS).contains(&r.backoff)) {
            issues.push(Issue::new(
                format!("steps[{i}].retry.backoff"),
                format!(
                    "`{}` is not a usable backoff: give seconds from 0 to {MAX_BACKOFF_SECS}",
                    r.backoff
                ),
            ));
        }
        if !(r.factor.is_finite() && (1.0..=MAX_BACKOFF_FACTOR).contains(&r.factor)) {
            issues.push(Issue::new(
                format!("steps[{i}].retry.factor"),
                format!(
                    "`{}` is not a usable factor: give a number from 1 to {MAX_BACKOFF_FACTOR}",
                    r.factor
                ),
            ));
        }
    }
}

/// Resolves capability steps in place; returns the resolutions and the gaps.
fn resolve_capabilities(
    plan: &mut Plan,
    tools: &Tools,
    options: &ValidateOptions,
    checker: &mut args::ArgsChecker,
) -> (Vec<Resolution>, Vec<Gap>) {
    let mut resolved = Vec::new();
    let mut gaps = Vec::new();
    for step in &mut plan.steps {
        let (None, Some(capability)) = (&step.tool, &step.capability) else {
            continue;
        };
        if capability.trim().is_empty() {
            continue;
        }
        let mut hits = tools.search_coverage(capability, options.candidates.max(1));
        // Stable: BM25 order breaks ties in coverage.
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        let fitting: Vec<_> = hits
            .iter()
            .filter(|(_, c)| *c >= options.capability_threshold)
            .collect();
        let mut args_fit = |tool| {
            checker
                .check(tool, &step.args)
                .is_ok_and(|issues| issues.is_empty())
        };
        let chosen = fitting
            .iter()
            .find(|(t, _)| args_fit(t))
            .or_else(|| fitting.first())
            .map(|(t, c)| (t.name.clone(), *c));
        let capability = capability.clone();
        match chosen {
            Some((tool, coverage)) => {
                step.tool = Some(tool.clone());
                step.capability = None;
                resolved.push(Resolution {
                    step: step.id.clone(),
                    capability,
                    tool,
                    coverage,
                });
            }
            None => gaps.push(Gap {
                step: step.id.clone(),
                capability,
                candidates: hits.iter().map(|(t, c)| (t.name.clone(), *c)).collect(),
            }),
        }
    }
    (resolved, gaps)
}

fn unknown_step(id: &str, ids: &HashMap<String, usize>) -> String {
    let mut known: Vec<(&str, usize)> = ids.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    known.sort_by_key(|(_, i)| *i);
    let list: Vec<String> = known.iter().map(|(k, _)| format!("`{k}`")).collect();
    if list.is_empty() {
        format!("step `{id}`, which does not exist")
    } else {
        format!(
            "step `{id}`, which does not exist; the steps are {}",
            list.join(", ")
        )
    }
}

fn cycle_issue(plan: &Plan, refs: &[Vec<BindingRef>], cycle: &[usize]) -> Issue {
    let name = |i: usize| plan.steps.get(i).map_or("?", |s| s.id.as_str());
    let first = cycle.first().copied().unwrap_or(0);
    let second = cycle.get(1).copied().unwrap_or(first);
    let target = name(second);
    // Point at the first edge: where `first` depends on `second`.
    let step = &plan.steps[first];
    let path = if let Some(j) = step.depends_on.iter().position(|d| d == target) {
        format!("steps[{first}].depends_on[{j}]")
    } else if let Some(r) = refs
        .get(first)
        .and_then(|rs| rs.iter().find(|r| r.step == target))
    {
        format!("steps[{first}].{}", r.location)
    } else {
        format!("steps[{first}]")
    };
    let message = if cycle.len() == 1 {
        format!(
            "step `{}` depends on itself; remove that dependency or binding",
            name(first)
        )
    } else {
        let chain: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(|&i| format!("`{}`", name(i)))
            .collect();
        format!(
            "dependency cycle: {} (each depends on the next); remove one of these dependencies \
             (a `depends_on` entry or a binding)",
            chain.join(" → ")
        )
    };
    Issue::new(path, message)
}

#[cfg(test)]
mod tests;
