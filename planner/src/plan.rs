//! The plan format: what a plan says, parsed from JSON or YAML, and its JSON Schema.
//!
//! A plan is data only. This module parses and describes it; it never checks it against the
//! registry (that is [`crate::validate()`]) and never runs it (that is the orchestrator, driving
//! [`crate::schedule`]). Unknown keys are rejected everywhere so typos surface as errors.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Format};

/// How many steps run at once when a plan does not say.
pub const DEFAULT_MAX_PARALLEL: usize = 4;

/// A task graph over the registry's tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "polyclaw plan",
    description = "A task graph over MCP tools. Steps run as soon as the steps they depend on \
                   (explicitly or through bindings) have succeeded, at most max_parallel at once."
)]
pub struct Plan {
    /// What the plan is for, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// How many steps may run at once (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_parallel: Option<usize>,
    /// The steps, in any order: dependencies decide the order they run in.
    pub steps: Vec<Step>,
}

/// One tool call of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id: 1-64 letters, digits, `_` or `-`. Other steps bind its result as `${steps.ID...}`.
    pub id: String,
    /// The namespaced tool to call, e.g. `time__get_current_time`. Give `tool` or `capability`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// What is needed, in words, when no known tool is named; resolved to a tool at plan time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// Arguments for the tool. Strings may bind earlier results: `"${steps.ID.text}"`,
    /// `"${steps.ID.result.structuredContent.KEY[0]}"`, `"${steps.ID.json.KEY}"`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
    /// Steps that must succeed first, besides those bound in `args`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Seconds one attempt may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub timeout: Option<f64>,
    /// Retries after a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// What a failure (after retries) does to the run.
    #[serde(default, skip_serializing_if = "OnError::is_fail")]
    pub on_error: OnError,
}

/// How a failed attempt is retried.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// How many retries after the first attempt (at most 20).
    pub count: u32,
    /// Seconds before the first retry (default 0.5).
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    /// Each later retry waits this many times longer (default 2.0, at least 1).
    #[serde(default = "default_factor")]
    pub factor: f64,
}

fn default_backoff() -> f64 {
    0.5
}

fn default_factor() -> f64 {
    2.0
}

/// What a step's final failure does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop the run: steps not started are cancelled.
    #[default]
    Fail,
    /// Go on without it: steps that depend on it are skipped, the others run.
    Continue,
    /// Plan the failed step and everything depending on it again; finished results are kept.
    Replan,
}

impl OnError {
    /// Whether this is the default, [`OnError::Fail`].
    #[must_use]
    pub fn is_fail(&self) -> bool {
        *self == Self::Fail
    }
}

impl Plan {
    /// How many steps may run at once: `max_parallel`, or [`DEFAULT_MAX_PARALLEL`]; at least 1.
    #[must_use]
    pub fn parallelism(&self) -> usize {
        self.max_parallel.unwrap_or(DEFAULT_MAX_PARALLEL).max(1)
    }

    /// The step with this id (the first, if ids repeat).
    #[must_use]
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

impl Step {
    /// A step calling `tool` with `args` and every other field at its default.
    #[must_use]
    pub fn call(id: impl Into<String>, tool: impl Into<String>, args: Map<String, Value>) -> Self {
        Self {
            id: id.into(),
            tool: Some(tool.into()),
            capability: None,
            args,
            depends_on: Vec::new(),
            timeout: None,
            retry: None,
            on_error: OnError::Fail,
        }
    }

    /// The timeout of one attempt, if set and representable.
    #[must_use]
    pub fn timeout_duration(&self) -> Option<Duration> {
        self.timeout
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }
}

impl Retry {
    /// How long to wait before retry number `n` (1 for the first retry):
    /// `backoff × factor^(n-1)` seconds. Values out of range give zero or the largest duration.
    #[must_use]
    pub fn delay(&self, n: u32) -> Duration {
        let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.backoff * self.factor.powi(exponent);
        if secs.is_nan() || secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
        }
    }
}

/// Parses a plan written in JSON (text starting with `{`) or YAML (anything else).
///
/// # Errors
///
/// [`Error::Parse`] with the 1-based line and column of the problem, for bad syntax, unknown
/// keys, missing `steps`/`id`, or values of the wrong type.
pub fn parse_plan(text: &str) -> Result<Plan, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| Error::Parse {
            format: Format::Json,
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })
    } else {
        serde_norway::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            Error::Parse {
                format: Format::Yaml,
                line,
                column,
                message: strip_position(&e.to_string()),
            }
        })
    }
}

/// Drops the parsers' own " at line L column C" suffix: [`Error::Parse`] carries both.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// The JSON Schema (draft 2020-12) of [`Plan`], as printed by `polyclaw plan schema`.
#[must_use]
pub fn plan_schema() -> Value {
    let schema = schemars::schema_for!(Plan);
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const YAML: &str = "\
goal: tell the time twice
max_parallel: 2
steps:
  - id: now
    tool: time__get_current_time
    args:
      timezone: Europe/Paris
    timeout: 5
    retry:
      count: 2
  - id: again
    capability: current time
    args:
      timezone: ${steps.now.text}
    depends_on: [now]
    on_error: continue
";

    #[test]
    fn parses_yaml_with_defaults() {
        let plan = parse_plan(YAML).unwrap();
        assert_eq!(plan.goal.as_deref(), Some("tell the time twice"));
        assert_eq!(plan.parallelism(), 2);
        let now = &plan.steps[0];
        assert_eq!(now.tool.as_deref(), Some("time__get_current_time"));
        assert_eq!(now.args["timezone"], json!("Europe/Paris"));
        assert_eq!(now.timeout_duration(), Some(Duration::from_secs(5)));
        let retry = now.retry.unwrap();
        assert_eq!((retry.count, retry.backoff, retry.factor), (2, 0.5, 2.0));
        assert_eq!(now.on_error, OnError::Fail);
        let again = &plan.steps[1];
        assert_eq!(again.capability.as_deref(), Some("current time"));
        assert_eq!(again.args["timezone"], json!("${steps.now.text}"));
        assert_eq!(again.depends_on, ["now"]);
        assert_eq!(again.on_error, OnError::Continue);
    }

    #[test]
    fn parses_json_and_round_trips() {
        let text = r#"{
            "steps": [
                {"id": "a", "tool": "echo__echo", "args": {"text": "hi"}, "on_error": "replan"}
            ]
        }"#;
        let plan = parse_plan(text).unwrap();
        assert_eq!(plan.parallelism(), DEFAULT_MAX_PARALLEL);
        assert_eq!(plan.steps[0].on_error, OnError::Replan);
        let again = parse_plan(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(again, plan);
        let yaml = serde_norway::to_string(&plan).unwrap();
        assert_eq!(parse_plan(&yaml).unwrap(), plan);
    }

    #[test]
    fn json_errors_have_positions() {
        let err = parse_plan(
            "{\n  \"steps\": [\n    {\"id\": \"a\", \"tool\": \"x\", \"oops\": 1}\n  ]\n}",
        )
        .unwrap_err();
        let Error::Parse {
            format,
            line,
            column,
            message,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*format, Format::Json);
        assert_eq!(*line, 3);
        assert!(*column > 0);
        assert!(message.contains("unknown field `oops`"), "{message}");
        assert!(!message.contains(" at line "), "{message}");
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn yaml_errors_have_positions() {
        let err =
            parse_plan("steps:\n  - id: a\n    tool: x\n    on_error: explode\n").unwrap_err();
        let Error::Parse {
            format,
            line,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*format, Format::Yaml);
        assert_eq!(*line, 4, "{err}");
        assert!(message.contains("explode"), "{message}");
        let err = parse_plan("goal: x\n").unwrap_err();
        assert!(err.to_string().contains("missing field `steps`"), "{err}");
        assert!(matches!(
            parse_plan("steps: [a: b: c]"),
            Err(Error::Parse { line: 1, .. })
        ));
    }

    #[test]
    fn retry_delays_grow_and_saturate() {
        let retry = Retry {
            count: 3,
            backoff: 0.5,
            factor: 2.0,
        };
        assert_eq!(retry.delay(1), Duration::from_millis(500));
        assert_eq!(retry.delay(2), Duration::from_secs(1));
        assert_eq!(retry.delay(3), Duration::from_secs(2));
        let huge = Retry {
            count: 1,
            backoff: 1e300,
            factor: 1e300,
        };
        assert_eq!(huge.delay(5), Duration::MAX);
        let negative = Retry {
            count: 1,
            backoff: -1.0,
            factor: 2.0,
        };
        assert_eq!(negative.delay(1), Duration::ZERO);
    }

    #[test]
    fn schema_describes_the_plan() {
        let schema = plan_schema();
        assert_eq!(schema["title"], json!("polyclaw plan"));
        assert_eq!(schema["required"], json!(["steps"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        let step = &schema["$defs"]["Step"];
        assert_eq!(step["required"], json!(["id"]));
        assert!(step["properties"]["depends_on"].is_object());
        let on_error: Vec<&Value> = schema["$defs"]["OnError"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| &v["const"])
            .collect();
        assert_eq!(
            on_error,
            [&json!("fail"), &json!("continue"), &json!("replan")]
        );
        let validator = jsonschema::validator_for(&schema).unwrap();
        let plan = parse_plan(YAML).unwrap();
        assert!(validator.is_valid(&serde_json::to_value(&plan).unwrap()));
        assert!(!validator.is_valid(&json!({"steps": [{"id": "a", "bogus": 1}]})));
    }
}
