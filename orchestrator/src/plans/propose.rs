//! Plans written by a model: the planner makes the prompt and reads the answer; this module
//! asks the model and loops — an answer that does not validate goes back to the model with
//! the validation errors, a bounded number of times.

use std::sync::Arc;

use polyclaw_planner::plan::Plan;
use polyclaw_planner::propose::{extract_plan, plan_prompt};
use polyclaw_planner::schedule::Scheduler;
use polyclaw_planner::tools::{ToolInfo, Tools};
use polyclaw_planner::validate::{Issue, Validated, validate};
use serde_json::Value;

use crate::error::Error;
use crate::hub::Hub;

use crate::hub::author::Author;

/// The registry's tools as the planner sees them (polyclaw's own tools are left out: a plan
/// never calls the planner).
#[must_use]
pub fn planner_tools(hub: &Hub) -> Tools {
    let catalog = hub.catalog();
    Tools::new(
        catalog
            .tools
            .iter()
            .map(|t| ToolInfo {
                name: t.name.to_string(),
                description: t.description.as_deref().unwrap_or_default().to_string(),
                input_schema: Value::Object((*t.input_schema).clone()),
                output_schema: t
                    .output_schema
                    .as_ref()
                    .map(|s| Value::Object((**s).clone())),
            })
            .collect(),
    )
}

/// Validates a plan against the registry (warming up lazily started servers first).
///
/// # Errors
/// Every validation issue.
pub async fn check(hub: &Arc<Hub>, plan: &Plan) -> Result<Validated, Vec<Issue>> {
    hub.warm_up(crate::hub::LIST_WAIT).await;
    validate(plan, &planner_tools(hub))
}

/// One proposal round, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    /// 1-based.
    pub round: u32,
    /// The issues that made it invalid (empty for the accepted one).
    pub issues: Vec<Issue>,
}

/// Asks `author` for a plan for `goal`, feeding validation errors back up to `max_rounds`
/// times.
///
/// # Errors
/// [`Error::Planning`] with the last issues when no valid plan came back.
pub async fn make_plan(
    hub: &Arc<Hub>,
    author: &Author,
    goal: &str,
    max_rounds: u32,
) -> Result<(Validated, Vec<Attempt>), Error> {
    hub.warm_up(crate::hub::LIST_WAIT).await;
    let tools = planner_tools(hub);
    ask_until_valid(author, goal, &tools, max_rounds.max(1)).await
}

async fn ask_until_valid(
    author: &Author,
    goal: &str,
    tools: &Tools,
    max_rounds: u32,
) -> Result<(Validated, Vec<Attempt>), Error> {
    let mut issues: Vec<Issue> = Vec::new();
    let mut attempts = Vec::new();
    for round in 1..=max_rounds {
        let prompt = plan_prompt(goal, tools, &issues);
        let answer = author.complete(&prompt).await?;
        let plan = match extract_plan(&answer) {
            Ok(p) => p,
            Err(e) => {
                issues = vec![Issue::new(
                    "(answer)",
                    format!("no plan could be read from the answer: {e}"),
                )];
                attempts.push(Attempt {
                    round,
                    issues: issues.clone(),
                });
                continue;
            }
        };
        match validate(&plan, tools) {
            Ok(v) => {
                attempts.push(Attempt {
                    round,
                    issues: Vec::new(),
                });
                return Ok((v, attempts));
            }
            Err(found) => {
                issues = found;
                attempts.push(Attempt {
                    round,
                    issues: issues.clone(),
                });
            }
        }
    }
    let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
    Err(Error::Planning(format!(
        "{} did not produce a valid plan in {max_rounds} round(s); last problems:\n  {}",
        author.label(),
        list.join("\n  ")
    )))
}

/// Asks for replacement steps after `failed` failed: the answer must keep every kept step
/// unchanged and may add new ones.
///
/// # Errors
/// [`Error::Planning`] when no valid replacement came back.
pub async fn replan(
    hub: &Arc<Hub>,
    author: &Author,
    goal: Option<&str>,
    sched: &Scheduler,
    failed: &str,
    error: &str,
    affected: &[String],
) -> Result<Validated, Error> {
    let kept = sched.kept_plan();
    let kept_json = serde_json::to_string_pretty(&kept).unwrap_or_default();
    let failed_step = sched
        .step(failed)
        .and_then(|s| serde_json::to_string(s).ok())
        .unwrap_or_default();
    let goal = format!(
        "{goal}\n\nA run of a plan for this goal is under way. Step `{failed}` ({failed_step}) failed with: {error}\n\
         It and the steps depending on it ({affected}) must be planned again. Answer with the WHOLE plan: \
         these kept steps exactly as they are (same id, tool and args; their results are kept)\n{kept_json}\n\
         plus new steps that reach the goal another way (they may bind the kept steps' results).",
        goal = goal.unwrap_or("(no goal was given; keep the intent of the failed steps)"),
        affected = affected.join(", "),
    );
    let tools = planner_tools(hub);
    ask_until_valid(author, &goal, &tools, 2)
        .await
        .map(|(v, _)| v)
}
