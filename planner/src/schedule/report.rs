//! The run report: what happened to each step, as data the orchestrator returns as MCP
//! structured content and keeps in its state directory. Serialization only; no decisions.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::Step;

/// A step's state in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started yet.
    Pending,
    /// Handed out by `next_ready` and not finished (including between retries).
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed after its retries.
    Failed,
    /// Not run: a step it depends on did not succeed, or it was replaced by a replan.
    Skipped,
    /// Not run, or stopped, because the run failed.
    Cancelled,
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        })
    }
}

/// The run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Steps are running or ready to run.
    Running,
    /// Nothing can go on until a replan is applied or abandoned.
    AwaitingReplan,
    /// Every step succeeded.
    Succeeded,
    /// Finished; some steps failed with `on_error: continue` and their dependents were skipped.
    CompletedWithErrors,
    /// A step failed with `on_error: fail` (or a replan was abandoned).
    Failed,
}

/// What happened to one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepReport {
    /// The step id.
    pub id: String,
    /// The tool it calls (none for an unresolved capability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Its state.
    pub status: StepStatus,
    /// Attempts begun.
    pub attempts: u32,
    /// When its first attempt started, in ms since the run started (as the caller recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When it finished, in ms since the run started (as the caller recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// Its `CallToolResult` JSON, if it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The last error, or why it was skipped or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// The run's state.
    pub status: RunStatus,
    /// Every step of the current plan, in plan order.
    pub steps: Vec<StepReport>,
    /// Steps replaced by replans, in the order they were replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<StepReport>,
}

/// The JSON Schema of [`RunReport`], for the output schema of tools that return one.
#[must_use]
pub fn report_schema() -> Value {
    schemars::schema_for!(RunReport).to_value()
}

/// The scheduler's state of a step, as reported.
pub(super) struct State {
    pub status: StepStatus,
    pub attempts: u32,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub error: Option<String>,
}

pub(super) fn step_report(step: &Step, state: &State, result: Option<Value>) -> StepReport {
    StepReport {
        id: step.id.clone(),
        tool: step.tool.clone(),
        status: state.status,
        attempts: state.attempts,
        started_ms: state.started_ms,
        finished_ms: state.finished_ms,
        result,
        error: state.error.clone(),
    }
}
