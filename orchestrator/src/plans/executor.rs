//! Runs a validated plan against the mesh. The planner's `Scheduler` decides which steps are
//! ready, when to retry, what to cancel and what to plan again; this module does the waiting
//! and calling: tool calls through the mesh (at most `max_parallel` at once), timeouts,
//! backoff delays, cancellation of everything in flight when the run fails or the client
//! cancels, and replans asked of a model.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use polyclaw_planner::plan::Plan;
use polyclaw_planner::schedule::{Decision, RunReport, Scheduler};
use polyclaw_planner::validate::Validated;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::hub::{CallContext, Hub};

use super::propose;
use crate::hub::author::Author;

/// What happened to a step, for progress reporting.
#[derive(Debug, Clone)]
pub struct StepEvent {
    /// The step id.
    pub step: String,
    /// `started`, `succeeded`, `failed`, `retrying`, `replanned`, `cancelled`.
    pub kind: &'static str,
    /// Steps finished so far (any outcome) and the number of steps.
    pub done: usize,
    /// Number of steps in the current plan.
    pub total: usize,
    /// A line for a person.
    pub message: String,
}

/// How a run may replan.
#[derive(Debug, Clone, Default)]
pub struct Replanning {
    /// Who writes replacement steps; `None` means a `replan` step fails the run.
    pub author: Option<Author>,
    /// Replans allowed in this run.
    pub max_replans: u32,
    /// The goal, given to the author.
    pub goal: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The report.
    pub report: RunReport,
    /// The plan that ran last (after replans).
    pub plan: Plan,
}

type StepFuture = Pin<Box<dyn Future<Output = (String, Result<Value, String>)> + Send>>;

/// Runs `validated` to completion (or failure, or cancellation through `ctx.cancel`).
///
/// # Errors
/// [`Error::Planning`] only for internal inconsistencies; step failures are in the report.
pub async fn execute(
    hub: &Arc<Hub>,
    validated: &Validated,
    ctx: &CallContext,
    replanning: &Replanning,
    on_event: &(dyn Fn(StepEvent) + Send + Sync),
) -> Result<RunOutcome, Error> {
    let planning = |e: polyclaw_planner::Error| Error::Planning(e.to_string());
    // The run's own context: its goal, and the tools a person approved for it, asked once
    // here for every step that would ask (and again after a replan, for what it adds).
    let ctx = &CallContext {
        goal: ctx.goal.clone().or_else(|| validated.plan.goal.clone()),
        preapproved: Some(ctx.preapproved.clone().unwrap_or_default()),
        ..ctx.clone()
    };
    hub.approve_steps(ctx.goal.as_deref(), &guarded_steps(hub, validated), ctx)
        .await?;
    let clock = Instant::now();
    let ms = move || u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut sched = Scheduler::new(validated).map_err(planning)?;
    let mut total = validated.plan.steps.len();
    let mut done = 0usize;
    let mut inflight: FuturesUnordered<StepFuture> = FuturesUnordered::new();
    let mut tokens: HashMap<String, CancellationToken> = HashMap::new();
    let run_cancel = ctx.cancel.child_token();
    let mut replans = 0u32;
    let mut failing = false;
    let emit = |step: &str, kind: &'static str, done: usize, total: usize, message: String| {
        on_event(StepEvent {
            step: step.to_string(),
            kind,
            done,
            total,
            message,
        });
    };

    loop {
        if !failing && !run_cancel.is_cancelled() {
            for id in sched.next_ready() {
                let (fut, token) =
                    launch(hub, &mut sched, &id, Duration::ZERO, ctx, &run_cancel, ms());
                tokens.insert(id.clone(), token);
                let tool = sched
                    .step(&id)
                    .and_then(|s| s.tool.clone())
                    .unwrap_or_default();
                emit(
                    &id,
                    "started",
                    done,
                    total,
                    format!("step {id} started ({tool})"),
                );
                inflight.push(fut);
            }
        }
        if inflight.is_empty() {
            break;
        }
        let next = tokio::select! {
            n = inflight.next() => n,
            () = run_cancel.cancelled(), if !failing => {
                failing = true;
                for t in tokens.values() { t.cancel(); }
                continue;
            }
        };
        let Some((id, outcome)) = next else { break };
        tokens.remove(&id);
        let now = ms();
        match outcome {
            Ok(value) => {
                sched.succeeded(&id, value).map_err(planning)?;
                sched.mark_times(&id, None, Some(now)).map_err(planning)?;
                done += 1;
                emit(
                    &id,
                    "succeeded",
                    done,
                    total,
                    format!("step {id} succeeded"),
                );
            }
            Err(error) if failing => {
                let _ = sched.cancelled(&id);
                sched.mark_times(&id, None, Some(now)).map_err(planning)?;
                done += 1;
                emit(
                    &id,
                    "cancelled",
                    done,
                    total,
                    format!("step {id} cancelled: {error}"),
                );
            }
            Err(error) => {
                let decision = sched.failed(&id, error.clone()).map_err(planning)?;
                sched.mark_times(&id, None, Some(now)).map_err(planning)?;
                match decision {
                    Decision::RetryAfter(delay) => {
                        emit(
                            &id,
                            "retrying",
                            done,
                            total,
                            format!(
                                "step {id} failed ({error}); retrying in {:.1} s",
                                delay.as_secs_f64()
                            ),
                        );
                        let (fut, token) =
                            launch(hub, &mut sched, &id, delay, ctx, &run_cancel, now);
                        tokens.insert(id.clone(), token);
                        inflight.push(fut);
                    }
                    Decision::Continue => {
                        done += 1;
                        emit(
                            &id,
                            "failed",
                            done,
                            total,
                            format!(
                                "step {id} failed ({error}); its dependents are skipped, the run goes on"
                            ),
                        );
                    }
                    Decision::FailRun => {
                        done += 1;
                        emit(
                            &id,
                            "failed",
                            done,
                            total,
                            format!("step {id} failed ({error}); cancelling the run"),
                        );
                        failing = true;
                        for t in tokens.values() {
                            t.cancel();
                        }
                    }
                    Decision::Replan { failed, affected } => {
                        emit(
                            &id,
                            "failed",
                            done,
                            total,
                            format!(
                                "step {id} failed ({error}); planning {} step(s) again",
                                affected.len()
                            ),
                        );
                        let replaced = match &replanning.author {
                            Some(author) if replans < replanning.max_replans => {
                                replans += 1;
                                propose::replan(hub, author, replanning.goal.as_deref(), &sched, &failed, &error, &affected).await
                            }
                            Some(_) => Err(Error::Planning(format!("the run may replan {} time(s) and has", replanning.max_replans))),
                            None => Err(Error::Planning("no model is available to plan again (the client offers no sampling and no [llm] is configured)".into())),
                        };
                        let replaced = match replaced {
                            Ok(v) => hub
                                .approve_steps(ctx.goal.as_deref(), &guarded_steps(hub, &v), ctx)
                                .await
                                .map(|()| v),
                            Err(e) => Err(e),
                        };
                        match replaced
                            .and_then(|v| sched.apply_replan(&v).map(|()| v).map_err(planning))
                        {
                            Ok(v) => {
                                total = v.plan.steps.len();
                                emit(
                                    &failed,
                                    "replanned",
                                    done,
                                    total,
                                    format!("replanned {failed}: the plan now has {total} step(s)"),
                                );
                            }
                            Err(e) => {
                                emit(
                                    &failed,
                                    "failed",
                                    done,
                                    total,
                                    format!("could not replan {failed}: {e}"),
                                );
                                let _ = sched.abandon_replan();
                                failing = true;
                                for t in tokens.values() {
                                    t.cancel();
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(RunOutcome {
        report: sched.report(),
        plan: sched.kept_plan(),
    })
}

/// Each step's id, server, tool and what the server claims about it, for the guardrails.
fn guarded_steps(
    hub: &Hub,
    validated: &Validated,
) -> Vec<(String, String, String, crate::registry::policy::Hints)> {
    let catalog = hub.catalog();
    validated
        .plan
        .steps
        .iter()
        .filter_map(|step| {
            let tool = step.tool.as_ref()?;
            let route = catalog.tool_route(tool)?;
            Some((
                step.id.to_string(),
                route.server.clone(),
                tool.clone(),
                route.hints,
            ))
        })
        .collect()
}

/// Starts one attempt of a step: marks it started, resolves its bindings, and returns the call
/// as a future (after `delay`) with the token that cancels it.
fn launch(
    hub: &Arc<Hub>,
    sched: &mut Scheduler,
    id: &str,
    delay: Duration,
    ctx: &CallContext,
    run_cancel: &CancellationToken,
    now_ms: u64,
) -> (StepFuture, CancellationToken) {
    let token = run_cancel.child_token();
    let _ = sched.started(id);
    let _ = sched.mark_times(
        id,
        Some(now_ms + u64::try_from(delay.as_millis()).unwrap_or(0)),
        None,
    );
    let step = sched.step(id).cloned();
    let args = sched.resolved_args(id);
    let id = id.to_string();
    let hub = hub.clone();
    // The run's client, session, origin, approvals and goal; the step's own cancellation.
    let step_ctx = CallContext {
        client_token: None,
        cancel: token.clone(),
        inline_meta: None,
        retry: None,
        ..ctx.clone()
    };
    let fut = async move {
        let Some(step) = step else {
            return (id, Err("the step vanished from the plan".to_string()));
        };
        let Some(tool) = step.tool.clone() else {
            return (
                id,
                Err("the step has no tool (its capability was not resolved)".to_string()),
            );
        };
        let args = match args {
            Ok(a) => a,
            Err(e) => return (id, Err(format!("its arguments could not be bound: {e}"))),
        };
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = step_ctx.cancel.cancelled() => return (id, Err("cancelled".to_string())),
            }
        }
        let call = hub.call_tool(&tool, Some(args), &step_ctx);
        tokio::pin!(call);
        let outcome = match step.timeout_duration() {
            Some(limit) => match tokio::time::timeout(limit, &mut call).await {
                Ok(r) => r,
                Err(_) => {
                    // Cancel, and let the call tell its server (notifications/cancelled)
                    // before it is dropped.
                    step_ctx.cancel.cancel();
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_secs(1), &mut call).await;
                    return (
                        id,
                        Err(format!(
                            "timed out after {:.1} s (the step's timeout)",
                            limit.as_secs_f64()
                        )),
                    );
                }
            },
            None => (&mut call).await,
        };
        let result = match outcome {
            Ok(r) if r.is_error == Some(true) => {
                let text: Vec<String> = r
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect();
                Err(format!("the tool reported an error: {}", text.join(" ")))
            }
            Ok(r) => serde_json::to_value(&r).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        (id, result)
    };
    (Box::pin(fut), token)
}
