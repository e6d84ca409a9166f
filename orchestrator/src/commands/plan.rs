//! `polyclaw plan validate|show|run FILE` and `polyclaw runs list|show`.

use std::path::Path;
use std::process::ExitCode;

use polyclaw_planner::plan::{Plan, parse_plan};
use polyclaw_planner::schedule::RunStatus;
use polyclaw_planner::validate::Validated;

use crate::config::Config;
use crate::error::Error;
use crate::hub::CallContext;
use crate::hub::author::Author;
use crate::plans::executor::{self, Replanning};
use crate::plans::{propose, store};

use super::inspect::with_hub;
use super::out;

fn read_plan(file: &Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        context: format!("cannot read the plan {}", file.display()),
        source,
    })?;
    parse_plan(&text).map_err(|e| Error::InvalidInput(format!("{}: {e}", file.display())))
}

fn print_issues(file: &Path, issues: &[polyclaw_planner::validate::Issue]) {
    out(&format!(
        "{} has {} problem(s):",
        file.display(),
        issues.len()
    ));
    for i in issues {
        out(&format!("  - {i}"));
    }
}

async fn checked(
    config: &Config,
    file: &Path,
) -> Result<Result<Validated, Vec<polyclaw_planner::validate::Issue>>, Error> {
    let plan = read_plan(file)?;
    Ok(with_hub(config, async |m| propose::check(m, &plan).await).await)
}

/// `plan validate FILE`
pub async fn validate(config: &Config, file: &Path) -> Result<ExitCode, Error> {
    match checked(config, file).await? {
        Ok(v) => {
            out(&format!(
                "{} is valid: {} step(s), order {}",
                file.display(),
                v.plan.steps.len(),
                v.order.join(" → ")
            ));
            for g in &v.gaps {
                out(&format!(
                    "  gap: step `{}` needs \"{}\", which no tool offers",
                    g.step, g.capability
                ));
            }
            for w in &v.warnings {
                out(&format!("  warning: {w}"));
            }
            Ok(if v.gaps.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(issues) => {
            print_issues(file, &issues);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `plan show FILE`: the graph, level by level.
pub async fn show(config: &Config, file: &Path) -> Result<ExitCode, Error> {
    let v = match checked(config, file).await? {
        Ok(v) => v,
        Err(issues) => {
            print_issues(file, &issues);
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(goal) = &v.plan.goal {
        out(&format!("goal: {goal}"));
    }
    out(&format!("max_parallel: {}", v.plan.parallelism()));
    let mut level: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for id in &v.order {
        let l = v
            .dependencies(id)
            .iter()
            .filter_map(|d| level.get(d).copied())
            .max()
            .map_or(0, |m| m + 1);
        level.insert(id.as_str(), l);
    }
    let depth = level.values().copied().max().unwrap_or(0);
    for l in 0..=depth {
        out(&format!("level {l}:"));
        for id in v
            .order
            .iter()
            .filter(|id| level.get(id.as_str()) == Some(&l))
        {
            let step = v.step(id);
            let tool = step
                .and_then(|s| s.tool.clone())
                .unwrap_or_else(|| "(gap)".into());
            let deps = v.dependencies(id);
            let after = if deps.is_empty() {
                String::new()
            } else {
                format!("  ← {}", deps.join(", "))
            };
            out(&format!("  {id:<16} {tool}{after}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan run FILE`: live progress on stderr, the report on stdout, the run kept.
pub async fn run(config: &Config, file: &Path, json: bool) -> Result<ExitCode, Error> {
    let plan = read_plan(file)?;
    let dir = config.plans.state_dir();
    let result = with_hub(config, async |m| {
        let v = match propose::check(m, &plan).await {
            Ok(v) => v,
            Err(issues) => return Err(issues),
        };
        let replanning = Replanning {
            author: Author::choose(None, config.llm.as_ref()),
            max_replans: config.plans.max_replans,
            goal: plan.goal.clone(),
        };
        let on_event = |e: executor::StepEvent| eprintln!("[{}/{}] {}", e.done, e.total, e.message);
        let operator = CallContext {
            origin: crate::hub::Origin::Operator,
            ..CallContext::default()
        };
        Ok(executor::execute(m, &v, &operator, &replanning, &on_event).await)
    })
    .await;
    let outcome = match result {
        Err(issues) => {
            print_issues(file, &issues);
            return Ok(ExitCode::FAILURE);
        }
        Ok(r) => r?,
    };
    let record = store::RunRecord::new(plan.goal.clone(), &outcome);
    match store::save(&dir, &record) {
        Ok(path) => eprintln!("run {} kept in {}", record.id, path.display()),
        Err(e) => eprintln!("warning: the run was not kept: {e}"),
    }
    if json {
        out(&serde_json::to_string_pretty(&outcome.report).unwrap_or_default());
    } else {
        print_report(&record.report);
    }
    Ok(if outcome.report.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &serde_json::Value) {
    out(&format!(
        "status: {}",
        report["status"].as_str().unwrap_or("?")
    ));
    for s in report["steps"].as_array().into_iter().flatten() {
        let took = match (s["started_ms"].as_u64(), s["finished_ms"].as_u64()) {
            (Some(a), Some(b)) => format!("{} ms", b.saturating_sub(a)),
            _ => String::new(),
        };
        let detail = s["error"]
            .as_str()
            .map(|e| format!("  {e}"))
            .unwrap_or_default();
        out(&format!(
            "  {:<16} {:<10} {:>8}  {}{detail}",
            s["id"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("?"),
            took,
            s["tool"].as_str().unwrap_or("")
        ));
    }
}

/// `runs list`
pub fn runs_list(config: &Config) -> Result<ExitCode, Error> {
    let dir = config.plans.state_dir();
    let runs = store::list(&dir)?;
    if runs.is_empty() {
        out(&format!("no runs kept in {}", dir.display()));
    }
    for r in runs {
        out(&format!(
            "{}  {:<10} {:>3} steps  {}",
            r.id,
            r.report["status"].as_str().unwrap_or("?"),
            r.report["steps"].as_array().map_or(0, Vec::len),
            r.goal.as_deref().unwrap_or("")
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `runs show ID`
pub fn runs_show(
    config: &Config,
    id: &str,
    svg: Option<&std::path::Path>,
) -> Result<ExitCode, Error> {
    let r = store::find(&config.plans.state_dir(), id)?;
    out(&format!("run {}", r.id));
    if let Some(goal) = &r.goal {
        out(&format!("goal: {goal}"));
    }
    print_report(&r.report);
    if let Some(path) = svg {
        let picture =
            crate::front::ui::graph::svg(&crate::front::ui::run_steps(&r.plan, &r.report));
        std::fs::write(path, picture).map_err(|source| Error::Io {
            context: format!("cannot write {}", path.display()),
            source,
        })?;
        eprintln!("wrote the run's task graph to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
