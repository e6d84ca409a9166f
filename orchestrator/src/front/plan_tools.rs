//! The plan tools of the front door: `polyclaw__plan` (goal → validated plan, not run),
//! `polyclaw__run_plan` (plan → run report) and `polyclaw__achieve` (goal → plan → run, with
//! replans). Step progress goes to the caller as MCP progress notifications, in order; every
//! run is kept in the state folder.

use std::sync::Arc;

use polyclaw_planner::plan::Plan;
use polyclaw_planner::schedule::RunStatus;
use polyclaw_planner::validate::Validated;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use serde_json::{Value, json};

use crate::error::Error;
use crate::generate::catalog;
use crate::hub::{CallContext, Hub};

use crate::hub::author::Author;
use crate::plans::executor::{self, Replanning, StepEvent};
use crate::plans::{propose, store};

fn structured(summary: String, v: Value, is_error: bool) -> CallToolResult {
    let mut r = if is_error {
        CallToolResult::error(vec![ContentBlock::text(summary)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(summary)])
    };
    r.structured_content = Some(v);
    r
}

fn failure(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn author_for(hub: &Hub, ctx: &CallContext) -> Option<Author> {
    Author::choose(ctx.client.as_ref(), hub.llm.as_ref())
}

const NO_AUTHOR: &str = "no model is available to write a plan: the client does not offer MCP sampling and no [llm] endpoint is configured in polyclaw.toml. Write the plan yourself (see `polyclaw plan schema`) and call polyclaw__run_plan.";

/// `polyclaw__plan {goal}`
pub async fn plan(hub: &Arc<Hub>, goal: &str, ctx: &CallContext) -> CallToolResult {
    let Some(author) = author_for(hub, ctx) else {
        return failure(NO_AUTHOR.into());
    };
    match propose::make_plan(hub, &author, goal, hub.plans.max_proposals).await {
        Ok((v, attempts)) => {
            let summary = format!(
                "a valid plan with {} step(s) (written by {} in {} round(s)); run it with polyclaw__run_plan",
                v.plan.steps.len(),
                author.label(),
                attempts.len()
            );
            structured(
                summary,
                json!({"plan": v.plan, "gaps": v.gaps, "order": v.order, "rounds": attempts}),
                !v.gaps.is_empty(),
            )
        }
        Err(e) => failure(e.to_string()),
    }
}

/// `polyclaw__run_plan {plan}`
pub async fn run_plan(hub: &Arc<Hub>, plan: Value, ctx: &CallContext) -> CallToolResult {
    let plan: Plan = match serde_json::from_value(plan) {
        Ok(p) => p,
        Err(e) => {
            return failure(format!(
                "the plan does not fit the plan format ({e}); `polyclaw plan schema` prints it"
            ));
        }
    };
    match propose::check(hub, &plan).await {
        Ok(v) => match fill_gaps(hub, v, ctx).await {
            Ok(v) => run_validated(hub, &v, ctx).await,
            Err(report) => report,
        },
        Err(issues) => {
            let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
            structured(
                format!("the plan is invalid, nothing ran:\n{}", list.join("\n")),
                json!({"issues": issues}),
                true,
            )
        }
    }
}

/// `polyclaw__achieve {goal}`
pub async fn achieve(hub: &Arc<Hub>, goal: &str, ctx: &CallContext) -> CallToolResult {
    let Some(author) = author_for(hub, ctx) else {
        return failure(NO_AUTHOR.into());
    };
    let v = match propose::make_plan(hub, &author, goal, hub.plans.max_proposals).await {
        Ok((v, _)) => v,
        Err(e) => return failure(e.to_string()),
    };
    match fill_gaps(hub, v, ctx).await {
        Ok(v) => run_validated(hub, &v, ctx).await,
        Err(report) => report,
    }
}

/// Fills a validated plan's gaps (catalog, else generation with approval, else a report) and
/// validates it again. `Err` is the report to return when gaps remain.
async fn fill_gaps(
    hub: &Arc<Hub>,
    v: Validated,
    ctx: &CallContext,
) -> Result<Validated, CallToolResult> {
    if v.gaps.is_empty() {
        return Ok(v);
    }
    let author = author_for(hub, ctx);
    let outcomes = catalog::fill_gaps(hub, &v.gaps, author.as_ref()).await;
    let mut v = v;
    if outcomes
        .iter()
        .any(|o| o.filled_by == "catalog" || o.filled_by == "generated")
    {
        // Validate the original plan again, now that the mesh has more servers.
        let mut plan = v.plan.clone();
        for step in &mut plan.steps {
            if let Some(gap) = v.gaps.iter().find(|g| g.step == step.id) {
                step.tool = None;
                step.capability = Some(gap.capability.clone());
            }
        }
        match propose::check(hub, &plan).await {
            Ok(again) => v = again,
            Err(issues) => {
                let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                return Err(structured(
                    format!(
                        "servers were added for the plan's gaps but the plan is invalid now, nothing ran:\n{}",
                        list.join("\n")
                    ),
                    json!({"issues": issues, "filled": catalog::outcomes_json(&outcomes)}),
                    true,
                ));
            }
        }
    }
    if v.gaps.is_empty() {
        return Ok(v);
    }
    let notes: Vec<String> = outcomes
        .iter()
        .filter(|o| v.gaps.iter().any(|g| g.step == o.step))
        .map(|o| format!("step `{}` needs \"{}\": {}", o.step, o.capability, o.note))
        .collect();
    Err(structured(
        format!(
            "the plan needs capabilities no server offers, nothing ran:\n{}",
            notes.join("\n")
        ),
        json!({"plan": v.plan, "gaps": v.gaps, "filled": catalog::outcomes_json(&outcomes)}),
        true,
    ))
}

async fn run_validated(hub: &Arc<Hub>, v: &Validated, ctx: &CallContext) -> CallToolResult {
    if !v.gaps.is_empty() {
        return structured(
            "the plan has unresolved capabilities (gaps); nothing ran".into(),
            json!({"gaps": v.gaps}),
            true,
        );
    }
    let replanning = Replanning {
        author: author_for(hub, ctx),
        max_replans: hub.plans.max_replans,
        goal: v.plan.goal.clone(),
    };
    // Progress notifications leave in order through one forwarder.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StepEvent>();
    let forwarder = match (ctx.client.clone(), ctx.client_token.clone()) {
        (Some(peer), Some(token)) => Some(tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                #[expect(clippy::cast_precision_loss, reason = "step counts are small")]
                let mut p = ProgressNotificationParam::new(token.clone(), e.done as f64)
                    .with_total(e.total as f64);
                p.message = Some(e.message);
                let _ = peer.notify_progress(p).await;
            }
        })),
        _ => None,
    };
    let on_event = move |e: StepEvent| {
        let _ = tx.send(e);
    };
    let step_ctx = CallContext {
        client_token: None,
        ..ctx.clone()
    };
    let outcome = executor::execute(hub, v, &step_ctx, &replanning, &on_event).await;
    drop(on_event);
    if let Some(f) = forwarder {
        let _ = f.await;
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return failure(e.to_string()),
    };
    let record = store::RunRecord::new(v.plan.goal.clone(), &outcome);
    let kept = store::save(&hub.plans.state_dir(), &record).map_err(|e: Error| e.to_string());
    let ok = outcome.report.status == RunStatus::Succeeded;
    let counts = outcome
        .report
        .steps
        .iter()
        .fold(std::collections::BTreeMap::new(), |mut m, s| {
            *m.entry(format!("{:?}", s.status).to_lowercase())
                .or_insert(0) += 1;
            m
        });
    let summary = format!(
        "run {} {}: {}",
        record.id,
        if ok { "succeeded" } else { "did not succeed" },
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut report = record.report.clone();
    report["run_id"] = json!(record.id);
    if let Err(e) = kept {
        report["not_kept"] = json!(e);
    }
    structured(summary, report, !ok)
}
