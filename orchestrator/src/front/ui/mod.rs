//! What people see of polyclaw outside their IDE: today the picture of a plan run's task
//! graph (`graph`), drawn by `polyclaw runs show ID --svg FILE`; the dashboard at `/ui` will
//! serve the same picture live.

pub mod graph;

use polyclaw_planner::{Plan, references};
use serde_json::Value;

use graph::{State, Step};

/// The steps of a kept run, for [`graph::svg`]: each step of the plan with what it waits for
/// (`depends_on` and the steps its arguments bind to) and its state in the run's report.
#[must_use]
pub fn run_steps(plan: &Value, report: &Value) -> Vec<Step> {
    let Ok(plan) = serde_json::from_value::<Plan>(plan.clone()) else {
        return Vec::new();
    };
    let status = |id: &str| {
        report["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == id)
            .and_then(|s| s["status"].as_str())
            .map_or(State::Waiting, State::from_status)
    };
    plan.steps
        .iter()
        .map(|s| {
            let mut after = s.depends_on.clone();
            for r in references(&s.args) {
                if !after.contains(&r.step) {
                    after.push(r.step);
                }
            }
            Step {
                id: s.id.clone(),
                tool: s
                    .tool
                    .clone()
                    .or_else(|| s.capability.clone())
                    .unwrap_or_default(),
                state: status(&s.id),
                after,
            }
        })
        .collect()
}
