//! polyclaw's planner: task graphs over MCP tools — the plan format, validation against the
//! registry, capability search, and the scheduler the orchestrator drives.
//!
//! This crate decides; it never acts. It must not depend on tokio, rmcp, bollard, reqwest,
//! axum or anything else doing I/O (`tests/no_io_deps.rs` checks): the orchestrator gives it
//! data — the registry's [`Tools`], a plan's text, each step's outcome — and carries out what
//! it decides.
//!
//! The path of a plan:
//!
//! 1. [`parse_plan`] (JSON or YAML) or [`extract_plan`] (from a model's answer, prompted with
//!    [`plan_prompt`]) gives a [`Plan`].
//! 2. [`validate()`] checks it against the [`Tools`] and reports every [`Issue`] at once, or
//!    returns a [`Validated`] plan: capabilities resolved (or left as [`Gap`]s), dependencies
//!    inferred from bindings, a topological order.
//! 3. A [`Scheduler`] hands out ready steps, up to `max_parallel`; the orchestrator calls the
//!    tools (arguments from [`bindings::resolve`]) and reports outcomes; failures come back as
//!    a [`Decision`]; the [`RunReport`] says what happened.

pub mod bindings;
pub mod error;
pub mod plan;
pub mod propose;
pub mod schedule;
pub mod search;
pub mod tools;
pub mod validate;

pub use bindings::{BindingRef, references, resolve};
pub use error::{BindingError, Error, Format, PlanError};
pub use plan::{OnError, Plan, Retry, Step, parse_plan, plan_schema};
pub use propose::{extract_plan, plan_prompt};
pub use schedule::{
    Decision, RunReport, RunStatus, Scheduler, StepReport, StepStatus, critical_path,
};
pub use tools::{ToolInfo, Tools};
pub use validate::{Gap, Issue, ValidateOptions, Validated, validate, validate_with};
