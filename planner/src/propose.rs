//! Helpers for plans written by a model: the prompt that asks for one, and finding the plan in
//! the model's answer.
//!
//! Pure text in, text or a [`Plan`] out. Asking the model (MCP sampling, an OpenAI-compatible
//! endpoint) and bounding the retries is the orchestrator's job: it calls [`plan_prompt`] with
//! the previous round's [`Issue`]s until [`crate::validate()`] accepts the [`extract_plan`] result.

use std::fmt::Write as _;

use crate::error::{Error, Format};
use crate::plan::{Plan, parse_plan, plan_schema};
use crate::tools::{ToolInfo, Tools};
use crate::validate::Issue;

/// Most tools described in a prompt: the best matches for the goal first, then the others in
/// registry order. A registry this small or smaller is shown whole.
pub const PROMPT_TOOLS: usize = 20;

const INSTRUCTIONS: &str = r#"You write plans for polyclaw, which runs MCP tools as a task graph.
Answer with one JSON object that matches the plan schema below, in a ```json code block, and nothing else.

How plans work:
- Each step calls one tool: `tool` is an exact name from the tool list, `args` must match that tool's input schema.
- If no listed tool does what a step needs, leave out `tool` and write `capability`: a few words saying what is needed.
- Steps run in parallel unless one depends on another. A step depends on every step it binds in `args` and on the ids in its `depends_on`.
- Bind an earlier step's result inside `args` strings:
  - "${steps.ID.text}" is the step's text output (a string);
  - "${steps.ID.result.structuredContent.KEY}" is a value of its structured output (for tools with an output schema); `[0]` indexes arrays, e.g. "${steps.search.result.structuredContent.items[0].url}";
  - "${steps.ID.json.KEY}" is its text output parsed as JSON.
  A string that is exactly one binding takes the bound value with its JSON type; a binding inside a longer string is inserted as text.
- Optional per step: `timeout` (seconds), `retry` ({"count": 2, "backoff": 0.5, "factor": 2}), `on_error`: "fail" (stop the run, the default), "continue" (skip what depends on it), "replan" (plan that part again).
- Step ids are short and unique: letters, digits, `_` or `-`.

Example:
```json
{"goal": "say the time in Paris", "steps": [
  {"id": "now", "tool": "time__get_current_time", "args": {"timezone": "Europe/Paris"}},
  {"id": "say", "tool": "echo__echo", "args": {"text": "It is ${steps.now.text}"}}
]}
```
"#;

/// The prompt asking a model for a plan: instructions, the goal, the most relevant tools with
/// their schemas, the plan JSON Schema, and the problems of the previous answer to fix.
#[must_use]
pub fn plan_prompt(goal: &str, tools: &Tools, previous_errors: &[Issue]) -> String {
    let mut out = String::from(INSTRUCTIONS);
    let _ = write!(out, "\nGoal: {goal}\n");

    let mut shown: Vec<&ToolInfo> = tools
        .search(goal, PROMPT_TOOLS)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for t in tools.iter() {
        if shown.len() >= PROMPT_TOOLS {
            break;
        }
        if !shown.iter().any(|s| s.name == t.name) {
            shown.push(t);
        }
    }
    if shown.is_empty() {
        out.push_str("\nNo tools are available: describe every step with `capability`.\n");
    } else {
        let _ = writeln!(
            out,
            "\nTools ({} of {}, best matches for the goal first):",
            shown.len(),
            tools.len()
        );
        for t in shown {
            let _ = writeln!(out, "\n### {}", t.name);
            if !t.description.trim().is_empty() {
                let _ = writeln!(out, "{}", t.description.trim());
            }
            let _ = writeln!(out, "Input schema: {}", t.input_schema);
            if let Some(output) = &t.output_schema {
                let _ = writeln!(out, "Output schema (of structuredContent): {output}");
            }
        }
    }

    let schema = serde_json::to_string_pretty(&plan_schema()).unwrap_or_default();
    let _ = write!(out, "\nPlan schema:\n```json\n{schema}\n```\n");

    if !previous_errors.is_empty() {
        out.push_str("\nYour previous plan had these problems. Fix every one and answer with the whole corrected plan:\n");
        for issue in previous_errors {
            let _ = writeln!(out, "- {issue}");
        }
    }
    out
}

/// Finds the plan in a model's answer: a fenced code block (```json, ```yaml or bare), the
/// whole answer, or the first balanced `{…}` object in it, in that order.
///
/// # Errors
///
/// [`Error::NoPlan`] when nothing looks like a plan; when candidates were found but none parses,
/// the parse error of the most plausible one (so it can be sent back to the model).
pub fn extract_plan(text: &str) -> Result<Plan, Error> {
    let mut first_error: Option<Error> = None;
    let attempt = |candidate: &str, first_error: &mut Option<Error>| -> Option<Plan> {
        match parse_plan(candidate) {
            Ok(plan) => Some(plan),
            Err(e) => {
                if first_error.is_none() {
                    *first_error = Some(e);
                }
                None
            }
        }
    };
    for block in fenced_blocks(text) {
        if let Some(plan) = attempt(block, &mut first_error) {
            return Ok(plan);
        }
    }
    let trimmed = text.trim();
    let looks_whole =
        trimmed.starts_with('{') || trimmed.starts_with("steps:") || trimmed.starts_with("goal:");
    if looks_whole && let Some(plan) = attempt(trimmed, &mut first_error) {
        return Ok(plan);
    }
    let mut from = 0;
    while let Some(offset) = text[from..].find('{') {
        let start = from + offset;
        if let Some(end) = balanced_end(&text[start..]) {
            let candidate = &text[start..start + end];
            if candidate.contains("\"steps\"")
                && let Some(plan) = attempt(candidate, &mut first_error)
            {
                return Ok(plan);
            }
            from = start + end;
        } else {
            from = start + 1;
        }
    }
    Err(first_error.unwrap_or_else(|| {
        Error::NoPlan("the answer holds no code block and no JSON object with \"steps\"".into())
    }))
}

/// The contents of fenced code blocks tagged `json`, `yaml`, `yml` or nothing, in order. Fences
/// are lines starting with three backticks (after indentation).
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    // (tag accepted, start of the body) while inside a block
    let mut open: Option<(bool, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(tag) = trimmed.strip_prefix("```") {
            match open.take() {
                Some((accepted, body)) => {
                    if accepted {
                        blocks.push(&text[body..offset]);
                    }
                }
                None => {
                    let tag = tag.trim().to_ascii_lowercase();
                    let accepted = matches!(
                        tag.as_str(),
                        "" | "json" | "yaml" | "yml" | "jsonc" | "json5"
                    );
                    open = Some((accepted, offset + line.len()));
                }
            }
        }
        offset += line.len();
    }
    blocks
}

/// The length of the balanced JSON object at the start of `s` (strings and escapes honoured).
fn balanced_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The format a text would be parsed as by [`parse_plan`].
#[must_use]
pub fn detect_format(text: &str) -> Format {
    if text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        Format::Json
    } else {
        Format::Yaml
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::registry;

    #[test]
    fn prompt_has_tools_schema_and_errors() {
        let tools = registry();
        let errors = vec![Issue::new("steps[0].tool", "unknown tool `x`")];
        let prompt = plan_prompt("what time is it in Tokyo", &tools, &errors);
        assert!(prompt.contains("Goal: what time is it in Tokyo"));
        let time = prompt.find("### time__get_current_time").unwrap();
        let echo = prompt.find("### echo__echo").unwrap();
        assert!(time < echo, "best match first");
        assert!(prompt.contains("Tools (5 of 5"));
        assert!(prompt.contains("Input schema: {"), "{prompt}");
        assert!(prompt.contains("IANA timezone name"), "{prompt}");
        assert!(prompt.contains("Output schema (of structuredContent)"));
        assert!(prompt.contains("\"title\": \"polyclaw plan\""));
        assert!(prompt.contains("- steps[0].tool: unknown tool `x`"));
        assert!(!plan_prompt("x", &tools, &[]).contains("previous plan"));
        assert!(plan_prompt("x", &Tools::default(), &[]).contains("No tools are available"));
    }

    #[test]
    fn prompt_example_is_a_valid_plan() {
        let example = fenced_blocks(INSTRUCTIONS);
        assert_eq!(example.len(), 1);
        let plan = parse_plan(example[0]).unwrap();
        crate::validate::validate(&plan, &registry()).unwrap();
    }

    #[test]
    fn extracts_from_fenced_blocks() {
        let answer = "Here is the plan:\n\n```json\n{\"steps\": [{\"id\": \"a\", \"tool\": \"echo__echo\", \"args\": {\"text\": \"}{\"}}]}\n```\nDone.";
        let plan = extract_plan(answer).unwrap();
        assert_eq!(plan.steps[0].args["text"], "}{");
        let yaml = "Sure.\n```yaml\nsteps:\n  - id: a\n    tool: echo__echo\n```\n";
        assert_eq!(extract_plan(yaml).unwrap().steps[0].id, "a");
        let python_first = "```python\nprint(1)\n```\n```\n{\"steps\": []}\n```";
        assert!(extract_plan(python_first).unwrap().steps.is_empty());
    }

    #[test]
    fn extracts_bare_objects() {
        let answer = "I think {this} is it: {\"goal\": \"g\", \"steps\": [{\"id\": \"a\", \"tool\": \"t\"}]} — enjoy";
        assert_eq!(extract_plan(answer).unwrap().goal.as_deref(), Some("g"));
        let whole = "  {\"steps\": [{\"id\": \"b\", \"tool\": \"t\"}]}  ";
        assert_eq!(extract_plan(whole).unwrap().steps[0].id, "b");
        let yaml = "steps:\n  - id: c\n    tool: t\n";
        assert_eq!(extract_plan(yaml).unwrap().steps[0].id, "c");
    }

    #[test]
    fn reports_why_nothing_was_found() {
        assert!(matches!(
            extract_plan("I cannot help with that."),
            Err(Error::NoPlan(_))
        ));
        let bad = "```json\n{\"steps\": [{\"id\": \"a\", \"tool\": \"t\", \"bogus\": 1}]}\n```";
        assert!(matches!(
            extract_plan(bad),
            Err(Error::Parse { line: 1, .. })
        ));
        assert_eq!(detect_format(" {}"), Format::Json);
        assert_eq!(detect_format("steps: []"), Format::Yaml);
    }
}
