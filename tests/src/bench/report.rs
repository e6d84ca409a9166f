//! The machine a run was on, and the markdown document a run writes.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::figures::{Figure, Plan};

/// What the numbers were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs (`processor` lines), and the ones this process may use.
    pub cores: String,
    /// `uname -r`.
    pub kernel: String,
    /// Docker server version, or "none".
    pub docker: String,
    /// `date -u`.
    pub date: String,
    /// `git rev-parse --short HEAD`, with "+ uncommitted changes" when the tree is dirty.
    pub commit: String,
    /// `rustc -V`.
    pub rustc: String,
    /// Load averages when the run started and ended (other tenants show up here).
    pub load: String,
}

/// `/proc/loadavg`'s 1, 5 and 15-minute averages.
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// Runs a program and returns its trimmed stdout, or `None` if it failed or took over 10 s.
async fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let mut c = tokio::process::Command::new(program);
    c.args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(10), c.output())
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

impl Machine {
    /// Finds out; every field falls back to "unknown" (Docker to "none"). `load_at_start` is
    /// [`load_average`] when the run started.
    pub async fn probe(workspace: &Path, load_at_start: &str) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let logical = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let usable = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let cores = if logical == usable || logical == 0 {
            format!("{usable}")
        } else {
            format!("{logical} ({usable} usable by this process)")
        };
        let unknown = || "unknown".to_owned();
        let kernel = output("uname", &["-r"], workspace)
            .await
            .unwrap_or_else(unknown);
        let docker = output(
            "docker",
            &["version", "--format", "{{.Server.Version}}"],
            workspace,
        )
        .await
        .unwrap_or_else(|| "none".to_owned());
        let date = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"], workspace)
            .await
            .unwrap_or_else(unknown);
        let mut commit = output("git", &["rev-parse", "--short", "HEAD"], workspace)
            .await
            .unwrap_or_else(unknown);
        if output(
            "git",
            &["status", "--porcelain", "--untracked-files=no"],
            workspace,
        )
        .await
        .is_some()
        {
            commit.push_str(" + uncommitted changes");
        }
        let rustc = output("rustc", &["-V"], workspace)
            .await
            .unwrap_or_else(unknown);
        let load = format!("{load_at_start} at start, {} at end", load_average());
        Self {
            cpu,
            cores,
            kernel,
            docker,
            date,
            commit,
            rustc,
            load,
        }
    }
}

/// The whole markdown document: how to run, the machine, the summary table, the details.
#[must_use]
pub fn render(machine: &Machine, plan: &Plan, figures: &[Figure], took: Duration) -> String {
    let mut doc = String::from(
        "# polyclaw benchmarks\n\n\
         Written by `cargo run --release -p polyclaw-tests --bin polyclaw-bench` \
         (`-- --quick` for a smoke run, `-- --out FILE` to write elsewhere); see issue 6. \
         Each figure is a pair or a ratio measured in the same run: warm-up, then rounds that \
         alternate between the two sides, and the median over rounds (for \"added\" and \
         ratios, the median of the per-round differences or quotients), because the machines \
         are shared and noisy. The client is an rmcp 3.11 client in the bench process; the \
         downstream is `polyclaw-server-echo`; all binaries are release builds.\n\n",
    );
    let _ = write!(
        doc,
        "## Machine\n\n\
         | | |\n|---|---|\n\
         | CPU | {} |\n| cores | {} |\n| kernel | {} |\n| Docker | {} |\n\
         | date | {} |\n| commit | {} |\n| rustc | {} |\n| load average (1/5/15 min) | {} |\n\
         | mode | {} ({} rounds per side; whole run {:.0} s) |\n\n",
        machine.cpu,
        machine.cores,
        machine.kernel,
        machine.docker,
        machine.date,
        machine.commit,
        machine.rustc,
        machine.load,
        if plan.quick {
            "`--quick` (smoke run: figures are indicative only)"
        } else {
            "full"
        },
        plan.rounds,
        took.as_secs_f64(),
    );
    doc.push_str(&summary_table(figures));
    for detail in figures.iter().filter_map(|f| f.detail.as_deref()) {
        doc.push('\n');
        doc.push_str(detail);
    }
    doc
}

/// The summary table alone.
#[must_use]
pub fn summary_table(figures: &[Figure]) -> String {
    let mut t = String::from(
        "## Summary\n\n| # | figure | measured | target | result |\n|---|---|---|---|---|\n",
    );
    for r in figures.iter().flat_map(|f| &f.rows) {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            r.figure, r.what, r.measured, r.target, r.verdict
        );
    }
    t
}
