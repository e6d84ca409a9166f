//! `polyclaw-bench`: the benchmark harness of issue 6.
//!
//! ```text
//! cargo run --release -p polyclaw-tests --bin polyclaw-bench -- [--quick] [--only P5,P7] [--out FILE]
//! ```
//!
//! Builds `polyclaw` and `polyclaw-server-echo` in release mode (and nothing else), measures
//! every figure as a pair or ratio in the same run, prints the markdown report on stdout and
//! writes it to `--out` (default `docs/benchmarks.md` in the workspace). Progress goes to
//! stderr. `--quick` is a smoke run for CI: a few hundred calls per figure, 2 rounds; it exits
//! 0 when every figure produced numbers, whatever they are. A figure that fails makes the exit
//! code 1 and leaves `--out` untouched. `--only` measures some figures; the partial report is
//! then only printed, unless `--out` is given.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use polyclaw_tests::bench::{self, figures::Plan};
use polyclaw_tests::python::workspace_root;

const USAGE: &str = "\
usage: polyclaw-bench [--quick] [--only P1,P5] [--out FILE]

  --quick     smoke run (a few hundred calls per figure, 2 rounds; well under a minute)
  --only LIST measure only these figures (P1 … P7, comma-separated); the report is printed,
              and written only where --out says
  --out FILE  where to write the markdown report (default: docs/benchmarks.md in the workspace)
  -h, --help  print this help";

struct Options {
    quick: bool,
    only: Vec<String>,
    /// `None`: print only (`--only` without `--out`).
    out: Option<PathBuf>,
}

fn parse(workspace: &Path) -> Result<Option<Options>> {
    let mut options = Options {
        quick: false,
        only: Vec::new(),
        out: None,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--quick") => options.quick = true,
            Some("--out") => {
                options.out = Some(
                    args.next()
                        .map(PathBuf::from)
                        .context("--out needs a file")?,
                );
            }
            Some("--only") => {
                let list = args
                    .next()
                    .context("--only needs figures, e.g. P5 or P1,P7")?;
                options.only = list
                    .to_string_lossy()
                    .split(',')
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect();
                if let Some(bad) = options.only.iter().find(|f| {
                    !["P1", "P2", "P3", "P4", "P5", "P6", "P7"].contains(&f.to_uppercase().as_str())
                }) {
                    bail!("--only: unknown figure {bad:?} (P1 … P7)");
                }
            }
            Some("-h" | "--help") => return Ok(None),
            _ => {
                let text = arg.to_string_lossy();
                match text.strip_prefix("--out=") {
                    Some(file) => options.out = Some(PathBuf::from(file)),
                    None => bail!("unknown argument {text:?}"),
                }
            }
        }
    }
    if options.out.is_none() && options.only.is_empty() {
        options.out = Some(workspace.join("docs/benchmarks.md"));
    }
    Ok(Some(options))
}

async fn run(options: Options, workspace: PathBuf) -> Result<()> {
    let mut plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    plan.only = options.only;
    // On SIGINT or SIGTERM the measurement is dropped, and with it every child (see
    // `bench::procs::Proc`), before the process exits.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let outcome = tokio::select! {
        outcome = bench::run(&workspace, &plan) => outcome?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = terminate.recv() => bail!("terminated"),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(outcome.document.as_bytes())?;
    stdout.flush()?;
    if !outcome.failures.is_empty() {
        bail!(
            "{} figure(s) failed; {}:\n  {}",
            outcome.failures.len(),
            options.out.as_ref().map_or_else(
                || "nothing written".to_owned(),
                |out| format!("{} left as it was", out.display())
            ),
            outcome.failures.join("\n  ")
        );
    }
    let Some(out) = options.out else {
        return Ok(());
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The build section (scripts/build-times.sh) is measured separately: keep it.
    let mut document = outcome.document;
    if let Ok(old) = std::fs::read_to_string(&out)
        && let Some(at) = old.find(BUILD_SECTION)
    {
        document.push('\n');
        document.push_str(&old[at..]);
    }
    std::fs::write(&out, &document).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

/// Where the build section of the report begins; from there on the file is
/// scripts/build-times.sh's, and a new benchmark run keeps it as it is.
const BUILD_SECTION: &str = "<!-- build times: scripts/build-times.sh -->";

fn main() -> ExitCode {
    let workspace = workspace_root();
    let options = match parse(&workspace) {
        Ok(Some(options)) => options,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("polyclaw-bench: {e:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("polyclaw-bench: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(options, workspace));
    // Children are stopped by now (or killed from their drop guards); do not wait on
    // anything else that is still pending.
    runtime.shutdown_timeout(std::time::Duration::from_secs(3));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("polyclaw-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
