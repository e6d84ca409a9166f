//! The crate's one error type.
//!
//! Every fallible function of the planner returns [`Error`]. Messages carry the context (which
//! step, which path, what was found) and say what to do next; they never embed a `#[source]`'s
//! text as well. Plan *validation* does not use this type: it reports every problem at once as
//! a list of [`crate::Issue`]s.

use std::fmt;

use crate::schedule::StepStatus;

/// The text format a plan was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (the text starts with `{`).
    Json,
    /// YAML (anything else).
    Yaml,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::Yaml => "YAML",
        })
    }
}

/// Everything that can go wrong in the planner outside of validation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A plan's text does not parse or does not have the plan's shape.
    #[error("the plan is not a valid {format} plan (line {line}, column {column}): {message}")]
    Parse {
        /// The detected format.
        format: Format,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A model's answer holds nothing that looks like a plan.
    #[error(
        "no plan found in the answer: {0}; answer with one JSON plan object in a ```json code block"
    )]
    NoPlan(String),
    /// A string starts a binding (`${steps.`) that does not follow the binding syntax.
    #[error("{location}: `{text}` is not a valid binding: {reason}")]
    MalformedBinding {
        /// Where in the arguments (`args.a.b[2]`).
        location: String,
        /// The offending string.
        text: String,
        /// What is wrong, and the accepted forms.
        reason: String,
    },
    /// A binding names a step that has no result.
    #[error(
        "{location}: binds step `{step}`, which has no result; only steps that succeeded can be bound"
    )]
    NoResult {
        /// Where in the arguments.
        location: String,
        /// The bound step.
        step: String,
    },
    /// A binding's path is not in the bound step's result.
    #[error("{location}: step `{step}` has no `{path}` in its result: {found}")]
    MissingPath {
        /// Where in the arguments.
        location: String,
        /// The bound step.
        step: String,
        /// The path as written after the step id (`result.structuredContent.items[0]`).
        path: String,
        /// What is there instead.
        found: String,
    },
    /// A `${steps.ID.json}` binding whose step's text is not JSON.
    #[error(
        "{location}: the text of step `{step}` is not JSON ({message}); bind `${{steps.{step}.text}}` to get it as a string"
    )]
    NotJson {
        /// Where in the arguments.
        location: String,
        /// The bound step.
        step: String,
        /// What the JSON parser said.
        message: String,
    },
    /// The scheduler was told about a step it does not have.
    #[error("no step `{0}` in this run")]
    UnknownStep(String),
    /// The scheduler was told something impossible for a step's state.
    #[error("step `{step}` is {status}, so it cannot be marked {action}")]
    InvalidTransition {
        /// The step.
        step: String,
        /// Its current status.
        status: StepStatus,
        /// What the caller tried (`started`, `succeeded`, `failed`, `cancelled`).
        action: &'static str,
    },
    /// A plan with unfilled capability gaps was given to the scheduler.
    #[error(
        "the plan has capability gaps ({0}); fill them (add a tool, then validate again) or replan before running"
    )]
    Gaps(String),
    /// A replacement plan cannot replace the failed part of a run.
    #[error("the replacement plan cannot be applied: {0}")]
    Replan(String),
}

/// The name the design uses for plan-text errors: the crate's one [`Error`].
pub type PlanError = Error;
/// The name the design uses for binding errors: the crate's one [`Error`].
pub type BindingError = Error;
