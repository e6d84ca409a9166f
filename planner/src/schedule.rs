//! The scheduler: a pure, deterministic state machine over a validated plan.
//!
//! The orchestrator drives it and does all the waiting and calling:
//!
//! ```text
//! let mut s = Scheduler::new(&validated)?;
//! while !s.is_finished() {
//!     for id in s.next_ready() { s.started(&id)?; /* call the tool with s.resolved_args(&id)? */ }
//!     /* when a call ends */ s.succeeded(&id, result)? or match s.failed(&id, error)? {
//!         Decision::RetryAfter(d) => /* wait d, call again after s.started(&id) */,
//!         Decision::Continue => {}
//!         Decision::FailRun => /* cancel calls in flight, report each with s.cancelled(&id) */,
//!         Decision::Replan { failed, affected } => /* build a replacement, s.apply_replan(&v)? */,
//!     }
//! }
//! s.report()
//! ```
//!
//! Rules, all deterministic (ready steps come in topological order, plan order among equals):
//!
//! - A step is ready when every step it depends on has succeeded; at most `max_parallel` steps
//!   are in flight. A step handed out by [`Scheduler::next_ready`] is `running` until its
//!   outcome is reported, including while it waits to be retried (it keeps its slot).
//! - [`Scheduler::failed`] retries first: while `attempts ≤ retry.count` it returns
//!   [`Decision::RetryAfter`] (`backoff × factor^(attempt-1)`). Then the step's `on_error`:
//!   - `fail` → [`Decision::FailRun`]: every step not started is `cancelled`, nothing new starts;
//!     steps in flight should be cancelled by the caller and reported (any outcome is recorded).
//!   - `continue` → [`Decision::Continue`]: every step depending on it, transitively, is
//!     `skipped` — whether it binds the failed result or only lists it in `depends_on`: a
//!     dependency is a precondition, and a failed precondition is never assumed. Steps that do
//!     not depend on it run on.
//!   - `replan` → [`Decision::Replan`]: the failed step and its transitive dependents wait (they
//!     stay `pending`) until [`Scheduler::apply_replan`] replaces them, or
//!     [`Scheduler::abandon_replan`] gives up (which fails the run). Independent steps run on.
//! - The scheduler keeps no clock: the caller gives times in milliseconds since the run started
//!   with [`Scheduler::mark_times`], and waits the delays it is given.
//!
//! A `CallToolResult` with `isError: true` is a failure: the caller reports it with `failed`.

mod report;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde_json::{Map, Value};

use crate::bindings;
use crate::error::Error;
use crate::plan::{OnError, Plan, Step};
use crate::validate::Validated;

pub use report::{RunReport, RunStatus, StepReport, StepStatus, report_schema};

/// What to do after a step's attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Call the step again after this delay (call [`Scheduler::started`] when you do).
    RetryAfter(Duration),
    /// The step failed for good; its dependents were skipped; the run goes on.
    Continue,
    /// The run failed: steps not started were cancelled; cancel those in flight.
    FailRun,
    /// Plan `affected` again: the failed step and every step depending on it, transitively.
    Replan {
        /// The failed step.
        failed: String,
        /// The failed step first, then its transitive dependents in topological order.
        affected: Vec<String>,
    },
}

/// One step's state during a run.
#[derive(Debug, Clone)]
struct Entry {
    step: Step,
    status: StepStatus,
    /// Attempts begun (counted by `started`, or when an outcome arrives for an unannounced one).
    attempts: u32,
    /// Whether an attempt was announced by `started` and has no outcome yet.
    attempt_open: bool,
    /// Pending because a replan of this step (or one it depends on) is awaited.
    awaiting_replan: bool,
    started_ms: Option<u64>,
    finished_ms: Option<u64>,
    error: Option<String>,
}

impl Entry {
    fn new(step: Step) -> Self {
        Self {
            step,
            status: StepStatus::Pending,
            attempts: 0,
            attempt_open: false,
            awaiting_replan: false,
            started_ms: None,
            finished_ms: None,
            error: None,
        }
    }

    /// Closes the current attempt, counting it if it was never announced.
    fn close_attempt(&mut self) {
        if !self.attempt_open {
            self.attempts += 1;
        }
        self.attempt_open = false;
    }
}

/// Drives one run of a validated plan. See the module doc for the rules.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// The plan's goal, kept for [`Scheduler::kept_plan`].
    goal: Option<String>,
    /// The plan's own `max_parallel`, kept for [`Scheduler::kept_plan`].
    plan_max_parallel: Option<usize>,
    /// Steps in flight at most.
    max_parallel: usize,
    /// One entry per step, in plan order.
    entries: Vec<Entry>,
    /// id → position in `entries`.
    index: HashMap<String, usize>,
    /// Positions each step depends on.
    deps: Vec<Vec<usize>>,
    /// Positions depending on each step.
    dependents: Vec<Vec<usize>>,
    /// Positions in topological order.
    order: Vec<usize>,
    /// Results of the steps that succeeded, for bindings.
    results: HashMap<String, Value>,
    /// Set by a `fail` failure: nothing new starts.
    run_failed: bool,
    /// Failed steps whose replan is awaited.
    replan_pending: BTreeSet<usize>,
    /// Steps replaced by replans, for the report.
    replaced: Vec<StepReport>,
}

impl Scheduler {
    /// A scheduler with every step pending.
    ///
    /// # Errors
    ///
    /// [`Error::Gaps`] if the plan has unresolved capability steps: fill them first.
    pub fn new(validated: &Validated) -> Result<Self, Error> {
        check_gaps(validated)?;
        let mut s = Self {
            goal: None,
            plan_max_parallel: None,
            max_parallel: 1,
            entries: Vec::new(),
            index: HashMap::new(),
            deps: Vec::new(),
            dependents: Vec::new(),
            order: Vec::new(),
            results: HashMap::new(),
            run_failed: false,
            replan_pending: BTreeSet::new(),
            replaced: Vec::new(),
        };
        let entries = validated
            .plan
            .steps
            .iter()
            .cloned()
            .map(Entry::new)
            .collect();
        s.install(validated, entries);
        Ok(s)
    }

    /// Takes `validated`'s shape (graph, order, parallelism) with these entries.
    fn install(&mut self, validated: &Validated, entries: Vec<Entry>) {
        let n = entries.len();
        self.goal.clone_from(&validated.plan.goal);
        self.plan_max_parallel = validated.plan.max_parallel;
        self.max_parallel = validated.plan.parallelism();
        self.index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.step.id.clone(), i))
            .collect();
        self.entries = entries;
        let neighbors = |i: usize, d: Direction| -> Vec<usize> {
            let mut v: Vec<usize> = validated
                .graph
                .neighbors_directed(NodeIndex::new(i), d)
                .map(NodeIndex::index)
                .filter(|&j| j < n)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        self.deps = (0..n).map(|i| neighbors(i, Direction::Incoming)).collect();
        self.dependents = (0..n).map(|i| neighbors(i, Direction::Outgoing)).collect();
        self.order = validated
            .order
            .iter()
            .filter_map(|id| self.index.get(id).copied())
            .collect();
    }

    fn position(&self, id: &str) -> Result<usize, Error> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| Error::UnknownStep(id.to_string()))
    }

    fn expect_running(&self, i: usize, action: &'static str) -> Result<(), Error> {
        let e = &self.entries[i];
        if e.status == StepStatus::Running {
            Ok(())
        } else {
            Err(Error::InvalidTransition {
                step: e.step.id.clone(),
                status: e.status,
                action,
            })
        }
    }

    /// Hands out the steps that may start now (they become `running`): every dependency
    /// succeeded, and at most `max_parallel` in flight counting those already running.
    pub fn next_ready(&mut self) -> Vec<String> {
        if self.run_failed {
            return Vec::new();
        }
        let mut in_flight = self
            .entries
            .iter()
            .filter(|e| e.status == StepStatus::Running)
            .count();
        let mut ready = Vec::new();
        for &i in &self.order {
            if in_flight >= self.max_parallel {
                break;
            }
            let e = &self.entries[i];
            let free = e.status == StepStatus::Pending
                && !e.awaiting_replan
                && self.deps[i]
                    .iter()
                    .all(|&d| self.entries[d].status == StepStatus::Succeeded);
            if free {
                self.entries[i].status = StepStatus::Running;
                ready.push(self.entries[i].step.id.clone());
                in_flight += 1;
            }
        }
        ready
    }

    /// An attempt of a running step begins (the first, or a retry).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`], or [`Error::InvalidTransition`] if the step is not running.
    pub fn started(&mut self, id: &str) -> Result<(), Error> {
        let i = self.position(id)?;
        self.expect_running(i, "started")?;
        let e = &mut self.entries[i];
        if !e.attempt_open {
            e.attempts += 1;
            e.attempt_open = true;
        }
        Ok(())
    }

    /// A running step succeeded with this `CallToolResult` JSON.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`], or [`Error::InvalidTransition`] if the step is not running.
    pub fn succeeded(&mut self, id: &str, result: Value) -> Result<(), Error> {
        let i = self.position(id)?;
        self.expect_running(i, "succeeded")?;
        let e = &mut self.entries[i];
        e.close_attempt();
        e.status = StepStatus::Succeeded;
        e.error = None;
        self.results.insert(id.to_string(), result);
        Ok(())
    }

    /// An attempt of a running step failed; says what to do next (see the module doc).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`], or [`Error::InvalidTransition`] if the step is not running.
    pub fn failed(&mut self, id: &str, error: impl Into<String>) -> Result<Decision, Error> {
        let i = self.position(id)?;
        self.expect_running(i, "failed")?;
        let run_failed = self.run_failed;
        let e = &mut self.entries[i];
        e.close_attempt();
        e.error = Some(error.into());
        if !run_failed
            && let Some(retry) = e.step.retry
            && e.attempts <= retry.count
        {
            return Ok(Decision::RetryAfter(retry.delay(e.attempts)));
        }
        e.status = StepStatus::Failed;
        if run_failed {
            return Ok(Decision::FailRun);
        }
        Ok(match e.step.on_error {
            OnError::Fail => {
                self.fail_run(id);
                Decision::FailRun
            }
            OnError::Continue => {
                self.skip_dependents(i, &format!("skipped: step `{id}` failed"));
                Decision::Continue
            }
            OnError::Replan => {
                let mut affected = vec![id.to_string()];
                let below = self.transitive_dependents(i);
                for &j in &below {
                    self.entries[j].awaiting_replan = true;
                }
                affected.extend(
                    self.order
                        .iter()
                        .filter(|j| below.contains(j))
                        .map(|&j| self.entries[j].step.id.clone()),
                );
                self.replan_pending.insert(i);
                Decision::Replan {
                    failed: id.to_string(),
                    affected,
                }
            }
        })
    }

    /// A running step was cancelled by the caller (after [`Decision::FailRun`], or on the
    /// client's request); steps depending on it are skipped.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`], or [`Error::InvalidTransition`] if the step is not running.
    pub fn cancelled(&mut self, id: &str) -> Result<(), Error> {
        let i = self.position(id)?;
        self.expect_running(i, "cancelled")?;
        let e = &mut self.entries[i];
        e.attempt_open = false;
        e.status = StepStatus::Cancelled;
        self.skip_dependents(i, &format!("skipped: step `{id}` was cancelled"));
        Ok(())
    }

    /// Records when a step started and finished, in milliseconds since the run started; a
    /// `None` leaves that time as it is, and the first start given is kept (retries do not
    /// move it).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`].
    pub fn mark_times(
        &mut self,
        id: &str,
        started_ms: Option<u64>,
        finished_ms: Option<u64>,
    ) -> Result<(), Error> {
        let i = self.position(id)?;
        let e = &mut self.entries[i];
        if e.started_ms.is_none() {
            e.started_ms = started_ms;
        }
        if finished_ms.is_some() {
            e.finished_ms = finished_ms;
        }
        Ok(())
    }

    /// Gives up an awaited replan: the run fails as if the steps had `on_error: fail`.
    pub fn abandon_replan(&mut self) -> Decision {
        let failed = self
            .replan_pending
            .first()
            .map(|&i| self.entries[i].step.id.clone())
            .unwrap_or_default();
        self.replan_pending.clear();
        for e in &mut self.entries {
            e.awaiting_replan = false;
        }
        self.fail_run(&failed);
        Decision::FailRun
    }

    /// Replaces the steps awaiting a replan (every failed `replan` step and its dependents)
    /// with `replacement`, keeping everything else — results, states, attempts, times.
    ///
    /// `replacement` is a whole plan, validated: start from [`Scheduler::kept_plan`] and add
    /// the new steps. Every kept step must be in it under the same id with the same tool and
    /// arguments; new steps may reuse the replaced ids and may bind kept results. The replaced
    /// steps move to the report's `replaced` list. A new step that depends on a kept step which
    /// did not succeed is skipped at once.
    ///
    /// # Errors
    ///
    /// [`Error::Gaps`] if the replacement has gaps; [`Error::Replan`] if the run already
    /// failed, or a kept step is missing or changed.
    pub fn apply_replan(&mut self, replacement: &Validated) -> Result<(), Error> {
        if self.run_failed {
            return Err(Error::Replan(
                "the run has already failed; nothing can be replanned".to_string(),
            ));
        }
        check_gaps(replacement)?;
        let affected: BTreeSet<usize> = self
            .replan_pending
            .iter()
            .copied()
            .chain((0..self.entries.len()).filter(|&i| self.entries[i].awaiting_replan))
            .collect();
        let new_ids: HashMap<&str, &Step> = replacement
            .plan
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s))
            .collect();
        for (i, e) in self.entries.iter().enumerate() {
            if affected.contains(&i) {
                continue;
            }
            let id = &e.step.id;
            let Some(new) = new_ids.get(id.as_str()) else {
                return Err(Error::Replan(format!(
                    "step `{id}` ({}) is kept but missing from the replacement; start from the \
                     kept plan and add steps to it",
                    e.status
                )));
            };
            if new.tool != e.step.tool || new.args != e.step.args {
                return Err(Error::Replan(format!(
                    "step `{id}` is kept and cannot change its tool or arguments; give the new \
                     step another id"
                )));
            }
        }
        let mut old: Vec<Option<Entry>> = std::mem::take(&mut self.entries)
            .into_iter()
            .map(Some)
            .collect();
        for &i in &affected {
            if let Some(mut e) = old[i].take() {
                if e.status == StepStatus::Pending {
                    e.status = StepStatus::Skipped;
                    e.error = Some("replaced by a new plan".to_string());
                }
                self.results.remove(&e.step.id);
                self.replaced
                    .push(report::step_report(&e.step, &e.state(), None));
            }
        }
        let entries: Vec<Entry> = replacement
            .plan
            .steps
            .iter()
            .map(|s| {
                let kept = self
                    .index
                    .get(&s.id)
                    .and_then(|&i| old.get_mut(i))
                    .and_then(Option::take);
                match kept {
                    Some(mut e) => {
                        e.step = s.clone();
                        e
                    }
                    None => Entry::new(s.clone()),
                }
            })
            .collect();
        self.install(replacement, entries);
        self.replan_pending.clear();
        for i in self.order.clone() {
            let blocked_by = self.deps[i].iter().find(|&&d| {
                matches!(
                    self.entries[d].status,
                    StepStatus::Failed | StepStatus::Skipped | StepStatus::Cancelled
                )
            });
            if let Some(&d) = blocked_by
                && self.entries[i].status == StepStatus::Pending
            {
                let reason = format!(
                    "skipped: step `{}` is {}",
                    self.entries[d].step.id, self.entries[d].status
                );
                let e = &mut self.entries[i];
                e.status = StepStatus::Skipped;
                e.error = Some(reason);
            }
        }
        Ok(())
    }

    /// The plan without the steps awaiting a replan: the base of a replacement for
    /// [`Scheduler::apply_replan`].
    #[must_use]
    pub fn kept_plan(&self) -> Plan {
        Plan {
            goal: self.goal.clone(),
            max_parallel: self.plan_max_parallel,
            steps: self
                .entries
                .iter()
                .enumerate()
                .filter(|(i, e)| !self.replan_pending.contains(i) && !e.awaiting_replan)
                .map(|(_, e)| e.step.clone())
                .collect(),
        }
    }

    /// The step with this id.
    #[must_use]
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.index.get(id).map(|&i| &self.entries[i].step)
    }

    /// A step's status.
    #[must_use]
    pub fn status(&self, id: &str) -> Option<StepStatus> {
        self.index.get(id).map(|&i| self.entries[i].status)
    }

    /// The `CallToolResult` JSON of every step that succeeded, by id.
    #[must_use]
    pub fn results(&self) -> &HashMap<String, Value> {
        &self.results
    }

    /// A step's arguments with its bindings resolved against the results so far.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`], or the binding error.
    pub fn resolved_args(&self, id: &str) -> Result<Map<String, Value>, Error> {
        let i = self.position(id)?;
        bindings::resolve(&self.entries[i].step.args, &self.results)
    }

    /// Whether nothing is running or left to run (an awaited replan is something left).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.entries
            .iter()
            .all(|e| !matches!(e.status, StepStatus::Pending | StepStatus::Running))
    }

    /// The run's status now.
    #[must_use]
    pub fn run_status(&self) -> RunStatus {
        let running = self.entries.iter().any(|e| e.status == StepStatus::Running);
        let pending: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.status == StepStatus::Pending)
            .collect();
        if running {
            RunStatus::Running
        } else if !pending.is_empty() {
            if pending.iter().all(|e| e.awaiting_replan) {
                RunStatus::AwaitingReplan
            } else {
                RunStatus::Running
            }
        } else if !self.replan_pending.is_empty() {
            RunStatus::AwaitingReplan
        } else if self.run_failed {
            RunStatus::Failed
        } else if self
            .entries
            .iter()
            .all(|e| e.status == StepStatus::Succeeded)
        {
            RunStatus::Succeeded
        } else {
            RunStatus::CompletedWithErrors
        }
    }

    /// The run report: the run's status and every step's, in plan order.
    #[must_use]
    pub fn report(&self) -> RunReport {
        RunReport {
            status: self.run_status(),
            steps: self
                .entries
                .iter()
                .map(|e| {
                    report::step_report(&e.step, &e.state(), self.results.get(&e.step.id).cloned())
                })
                .collect(),
            replaced: self.replaced.clone(),
        }
    }

    fn fail_run(&mut self, failed: &str) {
        self.run_failed = true;
        for e in &mut self.entries {
            if e.status == StepStatus::Pending {
                e.status = StepStatus::Cancelled;
                e.error = Some(format!("cancelled: step `{failed}` failed"));
            }
        }
    }

    fn skip_dependents(&mut self, i: usize, reason: &str) {
        for j in self.transitive_dependents(i) {
            let e = &mut self.entries[j];
            if e.status == StepStatus::Pending {
                e.status = StepStatus::Skipped;
                e.error = Some(reason.to_string());
            }
        }
    }

    fn transitive_dependents(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([i]);
        while let Some(k) = queue.pop_front() {
            for &d in &self.dependents[k] {
                if seen.insert(d) {
                    queue.push_back(d);
                }
            }
        }
        seen
    }
}

impl Entry {
    fn state(&self) -> report::State {
        report::State {
            status: self.status,
            attempts: self.attempts,
            started_ms: self.started_ms,
            finished_ms: self.finished_ms,
            error: self.error.clone(),
        }
    }
}

fn check_gaps(validated: &Validated) -> Result<(), Error> {
    if validated.gaps.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = validated
        .gaps
        .iter()
        .map(|g| format!("step `{}` needs \"{}\"", g.step, g.capability))
        .collect();
    Err(Error::Gaps(list.join("; ")))
}

/// The ideal wall time of a plan: the longest chain of dependent steps, each costing
/// `step_cost(id)`, with unlimited parallelism and no overhead. Benchmarks divide the measured
/// wall time by it.
pub fn critical_path(validated: &Validated, step_cost: impl Fn(&str) -> f64) -> f64 {
    let n = validated.plan.steps.len();
    let mut finish = vec![0.0_f64; n];
    let mut longest = 0.0_f64;
    for id in &validated.order {
        let Some(i) = validated.position(id) else {
            continue;
        };
        let start = validated
            .graph
            .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
            .map(|d| finish.get(d.index()).copied().unwrap_or(0.0))
            .fold(0.0, f64::max);
        finish[i] = start + step_cost(id);
        longest = longest.max(finish[i]);
    }
    longest
}

#[cfg(test)]
mod tests;
