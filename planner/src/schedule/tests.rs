//! Tests of the scheduler: order, parallelism, retries, failure policies and replans.

use super::*;
use crate::plan::parse_plan;
use crate::tools::tests::registry;
use crate::validate::validate;
use serde_json::json;

fn validated(yaml: &str) -> Validated {
    validate(&parse_plan(yaml).unwrap(), &registry()).unwrap()
}

fn scheduler(yaml: &str) -> Scheduler {
    Scheduler::new(&validated(yaml)).unwrap()
}

fn text(t: &str) -> Value {
    json!({"content": [{"type": "text", "text": t}], "isError": false})
}

fn ok(s: &mut Scheduler, id: &str) {
    s.started(id).unwrap();
    s.succeeded(id, text(id)).unwrap();
}

const DIAMOND: &str = "
steps:
  - {id: a, tool: echo__echo, args: {text: start}}
  - {id: b, tool: echo__echo, args: {text: '${steps.a.text} b'}}
  - {id: c, tool: echo__echo, args: {text: x}, depends_on: [a]}
  - {id: d, tool: echo__echo, args: {text: '${steps.b.text}+${steps.c.text}'}}
";

#[test]
fn diamond_runs_middle_steps_together() {
    let mut s = scheduler(DIAMOND);
    assert_eq!(s.next_ready(), ["a"]);
    assert!(s.next_ready().is_empty(), "a is running");
    ok(&mut s, "a");
    assert_eq!(s.next_ready(), ["b", "c"]);
    ok(&mut s, "b");
    assert!(s.next_ready().is_empty(), "d waits for c");
    ok(&mut s, "c");
    assert_eq!(s.next_ready(), ["d"]);
    assert_eq!(
        s.resolved_args("d").unwrap()["text"],
        json!("b+c"),
        "bindings resolve against results"
    );
    ok(&mut s, "d");
    assert!(s.is_finished());
    let report = s.report();
    assert_eq!(report.status, RunStatus::Succeeded);
    assert!(report.steps.iter().all(|r| r.attempts == 1));
    assert_eq!(report.steps[3].result, Some(text("d")));
}

#[test]
fn max_parallel_one_serializes_the_diamond() {
    let mut s = scheduler(&format!("max_parallel: 1\n{DIAMOND}"));
    let mut seen = Vec::new();
    while !s.is_finished() {
        let ready = s.next_ready();
        assert_eq!(ready.len(), 1, "one at a time");
        for id in ready {
            ok(&mut s, &id);
            seen.push(id);
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d"]);
}

#[test]
fn max_parallel_caps_steps_in_flight() {
    let steps: String = (0..5)
        .map(|i| format!("  - {{id: s{i}, tool: echo__echo, args: {{text: x}}}}\n"))
        .collect();
    let mut s = scheduler(&format!("max_parallel: 2\nsteps:\n{steps}"));
    assert_eq!(s.next_ready(), ["s0", "s1"]);
    assert!(s.next_ready().is_empty());
    ok(&mut s, "s1");
    assert_eq!(s.next_ready(), ["s2"]);
    ok(&mut s, "s0");
    ok(&mut s, "s2");
    assert_eq!(s.next_ready(), ["s3", "s4"]);
}

#[test]
fn retries_back_off_then_fail() {
    let mut s = scheduler(
        "steps: [{id: a, tool: echo__echo, args: {text: x}, retry: {count: 2, backoff: 0.5, factor: 3}}]",
    );
    assert_eq!(s.next_ready(), ["a"]);
    s.started("a").unwrap();
    assert_eq!(
        s.failed("a", "boom 1").unwrap(),
        Decision::RetryAfter(Duration::from_millis(500))
    );
    assert_eq!(s.status("a"), Some(StepStatus::Running), "keeps its slot");
    s.started("a").unwrap();
    assert_eq!(
        s.failed("a", "boom 2").unwrap(),
        Decision::RetryAfter(Duration::from_millis(1500))
    );
    s.started("a").unwrap();
    assert_eq!(s.failed("a", "boom 3").unwrap(), Decision::FailRun);
    let report = s.report();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps[0].attempts, 3);
    assert_eq!(report.steps[0].error.as_deref(), Some("boom 3"));
}

#[test]
fn a_retry_can_succeed() {
    let mut s = scheduler("steps: [{id: a, tool: echo__echo, args: {text: x}, retry: {count: 1}}]");
    s.next_ready();
    // attempts are counted even when the caller does not announce them
    assert!(matches!(
        s.failed("a", "flaky"),
        Ok(Decision::RetryAfter(_))
    ));
    s.succeeded("a", text("ok")).unwrap();
    let report = s.report();
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.steps[0].attempts, 2);
    assert_eq!(report.steps[0].error, None);
}

#[test]
fn on_error_fail_cancels_what_has_not_started() {
    let mut s = scheduler(
        "
steps:
  - {id: a, tool: echo__echo, args: {text: x}}
  - {id: b, tool: echo__echo, args: {text: x}}
  - {id: c, tool: echo__echo, args: {text: x}, depends_on: [a]}
  - {id: d, tool: echo__echo, args: {text: x}}
max_parallel: 2
",
    );
    assert_eq!(s.next_ready(), ["a", "b"]);
    assert_eq!(s.failed("a", "no").unwrap(), Decision::FailRun);
    assert!(s.next_ready().is_empty(), "nothing new starts");
    assert_eq!(s.status("c"), Some(StepStatus::Cancelled));
    assert_eq!(s.status("d"), Some(StepStatus::Cancelled));
    assert!(!s.is_finished(), "b is still in flight");
    s.cancelled("b").unwrap();
    assert!(s.is_finished());
    let report = s.report();
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.steps[3].error.as_deref(),
        Some("cancelled: step `a` failed")
    );
}

#[test]
fn on_error_continue_skips_dependents_only() {
    let mut s = scheduler(
        "
steps:
  - {id: a, tool: echo__echo, args: {text: x}, on_error: continue}
  - {id: b, tool: echo__echo, args: {text: x}, depends_on: [a]}
  - {id: c, tool: echo__echo, args: {text: '${steps.b.text}'}}
  - {id: d, tool: echo__echo, args: {text: x}}
",
    );
    assert_eq!(s.next_ready(), ["a", "d"]);
    assert_eq!(s.failed("a", "no").unwrap(), Decision::Continue);
    assert_eq!(
        s.status("b"),
        Some(StepStatus::Skipped),
        "order-only dependents too"
    );
    assert_eq!(s.status("c"), Some(StepStatus::Skipped), "transitively");
    assert!(s.next_ready().is_empty());
    ok(&mut s, "d");
    assert!(s.is_finished());
    let report = s.report();
    assert_eq!(report.status, RunStatus::CompletedWithErrors);
    assert_eq!(
        report.steps[2].error.as_deref(),
        Some("skipped: step `a` failed")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], json!("completed_with_errors"));
    assert_eq!(json["steps"][1]["status"], json!("skipped"));
}

const REPLAN: &str = "
steps:
  - {id: a, tool: echo__echo, args: {text: x}}
  - {id: b, tool: echo__echo, args: {text: '${steps.a.text}'}, on_error: replan}
  - {id: c, tool: echo__echo, args: {text: '${steps.b.text}'}}
  - {id: d, tool: echo__echo, args: {text: y}}
";

#[test]
fn replan_keeps_finished_results() {
    let mut s = scheduler(REPLAN);
    assert_eq!(s.next_ready(), ["a", "d"]);
    ok(&mut s, "a");
    assert_eq!(s.next_ready(), ["b"]);
    s.mark_times("b", Some(10), None).unwrap();
    s.started("b").unwrap();
    assert_eq!(
        s.failed("b", "bad input").unwrap(),
        Decision::Replan {
            failed: "b".into(),
            affected: vec!["b".into(), "c".into()]
        }
    );
    assert!(s.next_ready().is_empty(), "c waits for the replan");
    ok(&mut s, "d");
    assert!(!s.is_finished());
    assert_eq!(s.run_status(), RunStatus::AwaitingReplan);

    let mut plan = s.kept_plan();
    let kept: Vec<&str> = plan.steps.iter().map(|st| st.id.as_str()).collect();
    assert_eq!(kept, ["a", "d"]);
    let replacement = parse_plan(
        "
steps:
  - {id: b2, tool: echo__add, args: {a: 1, b: 2}}
  - {id: c, tool: echo__echo, args: {text: '${steps.a.text} ${steps.b2.text}'}}
",
    )
    .unwrap();
    plan.steps.extend(replacement.steps);
    let v = validate(&plan, &registry()).unwrap();
    s.apply_replan(&v).unwrap();

    assert_eq!(s.status("a"), Some(StepStatus::Succeeded));
    assert_eq!(s.results()["a"], text("a"), "finished results are kept");
    assert_eq!(s.next_ready(), ["b2"]);
    ok(&mut s, "b2");
    assert_eq!(s.next_ready(), ["c"]);
    assert_eq!(s.resolved_args("c").unwrap()["text"], json!("a b2"));
    ok(&mut s, "c");
    assert!(s.is_finished());
    let report = s.report();
    assert_eq!(report.status, RunStatus::Succeeded);
    let ids: Vec<&str> = report.steps.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "d", "b2", "c"]);
    assert_eq!(report.steps[0].attempts, 1);
    let replaced: Vec<(&str, StepStatus)> = report
        .replaced
        .iter()
        .map(|r| (r.id.as_str(), r.status))
        .collect();
    assert_eq!(
        replaced,
        [("b", StepStatus::Failed), ("c", StepStatus::Skipped)]
    );
    assert_eq!(report.replaced[0].started_ms, Some(10));
    assert_eq!(report.replaced[0].error.as_deref(), Some("bad input"));
}

#[test]
fn replan_must_keep_kept_steps() {
    let mut s = scheduler(REPLAN);
    s.next_ready();
    ok(&mut s, "a");
    s.next_ready();
    assert!(matches!(s.failed("b", "x"), Ok(Decision::Replan { .. })));

    let missing = validated("steps: [{id: a, tool: echo__echo, args: {text: x}}]");
    let err = s.apply_replan(&missing).unwrap_err();
    assert!(
        err.to_string()
            .contains("step `d` (running) is kept but missing"),
        "{err}"
    );

    let changed = validated(
        "steps: [{id: a, tool: echo__echo, args: {text: other}}, {id: d, tool: echo__echo, args: {text: y}}]",
    );
    let err = s.apply_replan(&changed).unwrap_err();
    assert!(err.to_string().contains("cannot change"), "{err}");

    let with_gap = validated(
        "steps: [{id: a, tool: echo__echo, args: {text: x}}, {id: d, tool: echo__echo, args: {text: y}}, {id: z, capability: launch rockets}]",
    );
    assert!(matches!(s.apply_replan(&with_gap), Err(Error::Gaps(_))));

    assert_eq!(s.abandon_replan(), Decision::FailRun);
    assert_eq!(s.status("c"), Some(StepStatus::Cancelled));
    assert!(matches!(s.apply_replan(&missing), Err(Error::Replan(_))));
    s.succeeded("d", text("d")).unwrap();
    assert!(s.is_finished());
    assert_eq!(s.run_status(), RunStatus::Failed);
}

#[test]
fn replacement_steps_depending_on_failures_are_skipped() {
    let mut s = scheduler(
        "
steps:
  - {id: a, tool: echo__echo, args: {text: x}, on_error: continue}
  - {id: b, tool: echo__echo, args: {text: x}, on_error: replan}
",
    );
    s.next_ready();
    assert_eq!(s.failed("a", "x").unwrap(), Decision::Continue);
    assert!(matches!(s.failed("b", "y"), Ok(Decision::Replan { .. })));
    let mut plan = s.kept_plan();
    plan.steps.extend(
        parse_plan("steps: [{id: b, tool: echo__echo, args: {text: '${steps.a.text}'}}]")
            .unwrap()
            .steps,
    );
    s.apply_replan(&validate(&plan, &registry()).unwrap())
        .unwrap();
    assert_eq!(s.status("b"), Some(StepStatus::Skipped));
    assert!(s.is_finished());
    assert_eq!(s.run_status(), RunStatus::CompletedWithErrors);
}

#[test]
fn impossible_transitions_are_errors() {
    let mut s = scheduler(DIAMOND);
    assert_eq!(s.started("zz"), Err(Error::UnknownStep("zz".into())));
    assert!(matches!(
        s.succeeded("b", text("b")),
        Err(Error::InvalidTransition {
            status: StepStatus::Pending,
            action: "succeeded",
            ..
        })
    ));
    s.next_ready();
    ok(&mut s, "a");
    assert!(s.failed("a", "late").is_err());
    assert!(s.cancelled("a").is_err());
    assert!(s.resolved_args("b").is_ok());
    assert!(matches!(s.resolved_args("d"), Err(Error::NoResult { .. })));
}

#[test]
fn gaps_must_be_filled_first() {
    let v = validated("steps: [{id: z, capability: launch rockets to mars}]");
    assert!(matches!(Scheduler::new(&v), Err(Error::Gaps(m)) if m.contains("launch rockets")));
}

#[test]
fn times_are_the_callers() {
    let mut s = scheduler(DIAMOND);
    s.next_ready();
    s.mark_times("a", Some(5), None).unwrap();
    s.mark_times("a", Some(9), Some(20)).unwrap();
    let r = &s.report().steps[0];
    assert_eq!((r.started_ms, r.finished_ms), (Some(5), Some(20)));
    assert!(s.mark_times("nope", None, None).is_err());
}

#[test]
fn critical_path_is_the_longest_chain() {
    let v = validated(DIAMOND);
    let cost = |id: &str| match id {
        "a" | "d" => 1.0,
        "b" => 2.0,
        _ => 3.0,
    };
    assert!((critical_path(&v, cost) - 5.0).abs() < 1e-9);
    assert!((critical_path(&v, |_| 1.0) - 3.0).abs() < 1e-9);
}

#[test]
fn report_schema_describes_reports() {
    let schema = report_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut s = scheduler(DIAMOND);
    s.next_ready();
    ok(&mut s, "a");
    let report = serde_json::to_value(s.report()).unwrap();
    assert!(validator.is_valid(&report), "{report:#}");
    let back: RunReport = serde_json::from_value(report).unwrap();
    assert_eq!(back, s.report());
}
