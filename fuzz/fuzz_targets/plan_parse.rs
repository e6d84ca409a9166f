//! Fuzz target: plan text (JSON or YAML) → [`parse_plan`] → [`validate`] against a small
//! synthetic registry → the [`Scheduler`] driven to the end with made-up outcomes.
//!
//! Nothing may panic. Beyond that: a parsed plan serializes to JSON that parses again and is
//! then a fixed point; a validated plan's critical path is a finite number; a run where every
//! step is reported ends (no step left pending or running) with a report of every step.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use polyclaw_planner::{
    Decision, Scheduler, ToolInfo, Tools, Validated, critical_path, parse_plan, validate,
};
use serde_json::{Value, json};

/// A registry of four tools: with and without output schemas, string and integer arguments.
static TOOLS: LazyLock<Tools> = LazyLock::new(|| {
    let text =
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
    Tools::new(vec![
        ToolInfo {
            name: "echo__echo".into(),
            description: "Returns its text argument unchanged.".into(),
            input_schema: text.clone(),
            output_schema: Some(text),
        },
        ToolInfo {
            name: "echo__sleep".into(),
            description: "Waits the given number of milliseconds.".into(),
            input_schema: json!({"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}, "required": ["ms"]}),
            output_schema: None,
        },
        ToolInfo {
            name: "time__get_current_time".into(),
            description: "Get the current time in a timezone.".into(),
            input_schema: json!({"type": "object", "properties": {"timezone": {"type": "string"}}}),
            output_schema: Some(json!({"type": "object", "properties": {
                "timezone": {"type": "string"}, "datetime": {"type": "string"},
                "is_dst": {"type": "boolean"}}})),
        },
        ToolInfo {
            name: "fs__read_file".into(),
            description: "Read a text file under the root.".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            output_schema: None,
        },
    ])
});

/// A `CallToolResult` JSON for a step, with text and structured content to bind.
fn result_for(id: &str) -> Value {
    json!({
        "content": [{"type": "text", "text": format!("result of {id}")}],
        "structuredContent": {"text": id, "datetime": "2026-01-01T00:00:00Z", "timezone": "UTC", "is_dst": false},
        "isError": false
    })
}

/// Whether the made-up outcome of a step's attempt is a failure (a fixed function of its id
/// and attempt, so a crash reproduces).
fn fails(id: &str, attempt: u32) -> bool {
    let h = id.bytes().fold(u32::from(attempt), |h, b| {
        h.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    h % 3 == 0
}

fn run(validated: &Validated) {
    let Ok(mut sched) = Scheduler::new(validated) else {
        return; // gaps
    };
    let mut running: Vec<(String, u32)> = Vec::new();
    // Every attempt is reported, so this ends well before the bound.
    for _ in 0..100_000 {
        for id in sched.next_ready() {
            sched.started(&id).expect("a ready step can start");
            running.push((id, 1));
        }
        let Some((id, attempt)) = running.pop() else {
            break;
        };
        let _ = sched.resolved_args(&id);
        if !fails(&id, attempt) {
            sched
                .succeeded(&id, result_for(&id))
                .expect("a running step can succeed");
            continue;
        }
        match sched
            .failed(&id, "made up")
            .expect("a running step can fail")
        {
            Decision::RetryAfter(_) => {
                sched.started(&id).expect("a retried step can start again");
                running.push((id, attempt + 1));
            }
            Decision::Continue => {}
            Decision::FailRun => {
                for (other, _) in running.drain(..) {
                    sched
                        .cancelled(&other)
                        .expect("a running step can be cancelled");
                }
            }
            Decision::Replan { .. } => {
                // Replace the failed steps with nothing: the kept plan, validated again.
                let kept = sched.kept_plan();
                match validate(&kept, &TOOLS) {
                    Ok(v) if sched.apply_replan(&v).is_ok() => {}
                    _ => {
                        sched.abandon_replan();
                        for (other, _) in running.drain(..) {
                            sched
                                .cancelled(&other)
                                .expect("a running step can be cancelled");
                        }
                    }
                }
            }
        }
    }
    assert!(running.is_empty(), "steps still running: {running:?}");
    assert!(
        sched.is_finished(),
        "nothing runs but the run is not finished: {:?}",
        sched.report()
    );
    let _ = sched.report();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = parse_plan(text) else {
        return;
    };
    let _ = plan.parallelism();
    for step in &plan.steps {
        let _ = step.timeout_duration();
        if let Some(retry) = step.retry {
            for n in 0..=retry.count.min(24) {
                let _ = retry.delay(n);
            }
        }
    }
    let json = serde_json::to_string(&plan).expect("a parsed plan serializes");
    let again = parse_plan(&json).expect("a serialized plan parses");
    let json_again = serde_json::to_string(&again).expect("a parsed plan serializes");
    assert_eq!(json, json_again, "JSON is not a fixed point");
    let Ok(validated) = validate(&plan, &TOOLS) else {
        return;
    };
    let path = critical_path(&validated, |_| 1.0);
    assert!(path.is_finite() && path >= 0.0, "critical path {path}");
    run(&validated);
});
