//! Tests of plan validation against the shared test registry.

use super::*;
use crate::plan::parse_plan;
use crate::tools::tests::registry;

fn check(yaml: &str) -> Result<Validated, Vec<Issue>> {
    validate(&parse_plan(yaml).unwrap(), &registry())
}

fn issues(yaml: &str) -> Vec<Issue> {
    match check(yaml) {
        Ok(v) => panic!("expected issues, got a valid plan: {:?}", v.plan),
        Err(issues) => issues,
    }
}

fn paths(issues: &[Issue]) -> Vec<&str> {
    issues.iter().map(|i| i.path.as_str()).collect()
}

#[test]
fn valid_plan_infers_dependencies_and_orders() {
    let v = check(
        "
steps:
  - id: total
    tool: echo__add
    args: {a: '${steps.one.result.structuredContent.sum}', b: 2}
  - id: say
    tool: echo__echo
    args: {text: 'sum ${steps.total.text}'}
    depends_on: [one]
  - id: one
    tool: echo__add
    args: {a: 1, b: 0}
",
    )
    .unwrap();
    assert_eq!(v.order, ["one", "total", "say"]);
    assert_eq!(v.dependencies("say"), ["total", "one"]);
    assert_eq!(v.dependents("one"), ["total", "say"]);
    assert!(v.gaps.is_empty() && v.warnings.is_empty());
    let one = NodeIndex::new(2);
    let say = NodeIndex::new(1);
    let edge = v.graph.find_edge(one, say).unwrap();
    assert_eq!(v.graph[edge], Edge::DependsOn);
    assert_eq!(
        v.edges(),
        [
            ("one", "total", Edge::Binding),
            ("total", "say", Edge::Binding),
            ("one", "say", Edge::DependsOn)
        ]
    );
}

#[test]
fn empty_plan_and_bad_ids() {
    assert_eq!(paths(&issues("steps: []")), ["steps"]);
    let found = issues(
        "
max_parallel: 0
steps:
  - {id: 'a b', tool: echo__echo, args: {text: x}}
  - {id: a, tool: echo__echo, args: {text: x}}
  - {id: a, tool: echo__echo, args: {text: x}}
  - {id: '', tool: echo__echo, args: {text: x}}
",
    );
    assert_eq!(
        paths(&found),
        ["max_parallel", "steps[0].id", "steps[2].id", "steps[3].id"]
    );
    assert!(found[2].message.contains("already the id of steps[1]"));
}

#[test]
fn tool_or_capability_exactly_one() {
    let found = issues(
        "
steps:
  - {id: a}
  - {id: b, tool: echo__echo, capability: echo, args: {text: x}}
  - {id: c, capability: '  '}
",
    );
    assert_eq!(
        paths(&found),
        ["steps[0]", "steps[1]", "steps[2].capability"]
    );
    assert!(found[0].message.contains("neither"));
    assert!(found[1].message.contains("both"));
}

#[test]
fn unknown_tools_suggest_close_names() {
    let found = issues(
        "
steps:
  - {id: a, tool: time__get_curent_time, args: {timezone: UTC}}
  - {id: b, tool: kubernetes__apply}
",
    );
    assert_eq!(paths(&found), ["steps[0].tool", "steps[1].tool"]);
    assert!(
        found[0]
            .message
            .contains("did you mean `time__get_current_time`"),
        "{}",
        found[0].message
    );
    assert!(found[1].message.contains("no tool has a similar name"));
}

#[test]
fn cycles_name_their_steps() {
    let found = issues(
        "
steps:
  - {id: a, tool: echo__echo, args: {text: '${steps.c.text}'}}
  - {id: b, tool: echo__echo, args: {text: x}, depends_on: [a]}
  - {id: c, tool: echo__echo, args: {text: x}, depends_on: [b]}
  - {id: d, tool: echo__echo, args: {text: x}, depends_on: [d]}
  - {id: e, tool: echo__echo, args: {text: x}, depends_on: [a]}
",
    );
    assert_eq!(
        paths(&found),
        ["steps[0].args.text", "steps[3].depends_on[0]"]
    );
    assert!(
        found[0]
            .message
            .contains("dependency cycle: `a` → `c` → `b` → `a`"),
        "{}",
        found[0].message
    );
    assert!(found[1].message.contains("`d` depends on itself"));
}

#[test]
fn bad_arguments_point_at_the_field() {
    let found = issues(
        "
steps:
  - {id: a, tool: echo__add, args: {a: one, extra: 1}}
  - {id: b, tool: web__search, args: {query: rust, limit: 0}}
  - {id: c, tool: time__get_current_time}
",
    );
    assert_eq!(
        paths(&found),
        [
            "steps[0].args",
            "steps[0].args",
            "steps[0].args.a",
            "steps[1].args.limit",
            "steps[2].args"
        ]
    );
    let step0: String = found[..3].iter().map(|i| i.message.clone()).collect();
    assert!(step0.contains("\"b\" is a required property"), "{step0}");
    assert!(
        found[0]
            .message
            .contains("tool `echo__add` takes a: integer (required), b: integer (required)"),
        "{}",
        found[0].message
    );
    assert!(
        found[4]
            .message
            .contains("\"timezone\" is a required property")
    );
}

#[test]
fn bad_bindings_are_reported() {
    let found = issues(
        "
steps:
  - {id: a, tool: echo__echo, args: {text: hi}}
  - id: b
    tool: echo__echo
    args: {text: '${steps.nope.text}'}
    depends_on: [ghost]
  - {id: c, tool: echo__echo, args: {text: '${steps.a.output}'}}
  - {id: d, tool: echo__echo, args: {text: '${steps.a.result.structured}'}}
",
    );
    assert_eq!(
        paths(&found),
        [
            "steps[1].depends_on[0]",
            "steps[1].args.text",
            "steps[2].args.text",
            "steps[3].args.text"
        ]
    );
    assert!(
        found[0]
            .message
            .contains("step `ghost`, which does not exist; the steps are `a`, `b`, `c`, `d`")
    );
    assert!(found[1].message.starts_with("binds step `nope`"));
    assert!(
        found[2]
            .message
            .contains("must be `text`, `result` or `json`")
    );
    assert!(
        found[3].message.contains("not `structured`"),
        "{}",
        found[3].message
    );
}

#[test]
fn binding_paths_must_fit_output_schemas() {
    let found = issues(
        "
steps:
  - {id: search, tool: web__search, args: {query: rust}}
  - {id: ok, tool: fetch__fetch, args: {url: '${steps.search.result.structuredContent.items[0].url}'}}
  - {id: typo, tool: fetch__fetch, args: {url: '${steps.search.result.structuredContent.items[0].link}'}}
  - {id: sum, tool: echo__add, args: {a: '${steps.sum0.result.structuredContent.total}', b: 1}}
  - {id: sum0, tool: echo__add, args: {a: 1, b: 1}}
",
    );
    assert_eq!(paths(&found), ["steps[2].args.url", "steps[3].args.a"]);
    assert!(
        found[0]
            .message
            .contains("no `link` in `structuredContent.items[0]`; it has title, url"),
        "{}",
        found[0].message
    );
    assert!(
        found[1].message.contains("it has sum"),
        "{}",
        found[1].message
    );
    assert!(found[1].message.contains("step `sum0` calls `echo__add`"));
}

#[test]
fn structured_bindings_into_tools_without_output_schema_warn() {
    let v = check(
        "
steps:
  - {id: t, tool: time__get_current_time, args: {timezone: UTC}}
  - {id: e, tool: echo__echo, args: {text: '${steps.t.result.structuredContent.time}'}}
",
    )
    .unwrap();
    assert_eq!(paths(&v.warnings), ["steps[1].args.text"]);
}

#[test]
fn timeouts_and_retries_in_range() {
    let found = issues(
        "
steps:
  - {id: a, tool: echo__echo, args: {text: x}, timeout: 0}
  - {id: b, tool: echo__echo, args: {text: x}, timeout: 5, retry: {count: 100, backoff: -1, factor: 0.5}}
  - {id: c, tool: echo__echo, args: {text: x}, timeout: 2.5, retry: {count: 3}}
",
    );
    assert_eq!(
        paths(&found),
        [
            "steps[0].timeout",
            "steps[1].retry.count",
            "steps[1].retry.backoff",
            "steps[1].retry.factor"
        ]
    );
}

#[test]
fn capabilities_resolve_or_become_gaps() {
    let v = check(
        "
steps:
  - {id: now, capability: current time in a timezone, args: {timezone: UTC}}
  - {id: mail, capability: send an email to someone, args: {to: x}}
  - {id: say, tool: echo__echo, args: {text: '${steps.now.text}'}}
",
    )
    .unwrap();
    assert_eq!(
        v.plan.steps[0].tool.as_deref(),
        Some("time__get_current_time")
    );
    assert_eq!(v.plan.steps[0].capability, None);
    assert_eq!(v.resolved.len(), 1);
    assert_eq!(v.resolved[0].tool, "time__get_current_time");
    assert!(v.resolved[0].coverage >= DEFAULT_CAPABILITY_THRESHOLD);
    assert_eq!(v.gaps.len(), 1);
    assert_eq!(v.gaps[0].step, "mail");
    assert_eq!(v.gaps[0].capability, "send an email to someone");
    assert!(v.plan.steps[1].tool.is_none());
    assert_eq!(v.order, ["now", "mail", "say"]);

    // The threshold is a parameter: at 1.0 a partial match is a gap too.
    let plan =
        parse_plan("steps: [{id: now, capability: current time on mars, args: {timezone: UTC}}]")
            .unwrap();
    let strict = ValidateOptions {
        capability_threshold: 1.0,
        ..ValidateOptions::default()
    };
    let v = validate_with(&plan, &registry(), &strict).unwrap();
    assert_eq!(v.gaps.len(), 1);
    assert_eq!(v.gaps[0].candidates[0].0, "time__get_current_time");
    assert!(v.gaps[0].candidates[0].1 < 1.0);
    let lax = ValidateOptions {
        capability_threshold: 0.1,
        ..ValidateOptions::default()
    };
    assert!(
        validate_with(&plan, &registry(), &lax)
            .unwrap()
            .gaps
            .is_empty()
    );
}

#[test]
fn capabilities_prefer_tools_whose_arguments_fit() {
    // "echo text add" covers both echo tools as well; only echo__add takes {a, b}.
    let v = check("steps: [{id: x, capability: echo text add, args: {a: 1, b: 2}}]").unwrap();
    assert_eq!(v.plan.steps[0].tool.as_deref(), Some("echo__add"));
    let v = check("steps: [{id: x, capability: echo text add, args: {text: hi}}]").unwrap();
    assert_eq!(v.plan.steps[0].tool.as_deref(), Some("echo__echo"));
}

#[test]
fn uncompilable_input_schemas_warn() {
    let tools = Tools::new(vec![crate::tools::ToolInfo {
        name: "r__remote".into(),
        description: "remote schema".into(),
        input_schema: serde_json::json!({"$ref": "https://example.invalid/s.json"}),
        output_schema: None,
    }]);
    let plan = parse_plan("steps: [{id: a, tool: r__remote, args: {x: 1}}]").unwrap();
    let v = validate(&plan, &tools).unwrap();
    assert_eq!(paths(&v.warnings), ["steps[0].args"]);
    assert!(v.warnings[0].message.contains("does not compile"));
}
