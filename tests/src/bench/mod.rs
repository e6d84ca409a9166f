//! The benchmark harness of issue 6, run by the `polyclaw-bench` binary.
//!
//! - [`procs`]: the processes (echo server, `polyclaw serve`) and the rmcp clients on them;
//!   every child is stopped on every path.
//! - [`stats`]: percentiles, rates, medians of rounds, paired differences and ratios.
//! - [`containers`]: P3, container starts cold and from the warm pool.
//! - [`dag`]: P5, a 100-step DAG through polyclaw's plan executor vs its critical path.
//! - [`figures`]: P1 … P7, one function each ([`figures::Plan`] says how much to measure).
//! - [`synthetic`]: the tools and queries P7 searches.
//! - [`report`]: the machine and the markdown document.

pub mod containers;
pub mod dag;
pub mod figures;
pub mod procs;
pub mod report;
pub mod stats;
pub mod synthetic;

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use figures::{Figure, Plan};
use procs::Bins;

/// What a run produced.
pub struct Outcome {
    /// The markdown document (machine, summary, details).
    pub document: String,
    /// Figures that failed, with why; the document says so too.
    pub failures: Vec<String>,
}

/// Builds the binaries, measures every figure and renders the document. A figure that fails is
/// reported (in `failures` and in the table) and the others still run.
///
/// # Errors
/// When the binaries cannot be built.
pub async fn run(workspace: &Path, plan: &Plan) -> Result<Outcome> {
    let bins = Bins::build()?;
    let started = Instant::now();
    let load_at_start = report::load_average();
    let mut figures = Vec::new();
    let mut failures = Vec::new();
    let mut failed = |name: &str, err: &anyhow::Error, figures: &mut Vec<Figure>| {
        eprintln!("bench: {name} failed: {err:#}");
        failures.push(format!("{name}: {err:#}"));
        figures.push(Figure {
            rows: vec![figures::Row {
                figure: name.to_owned(),
                what: "(failed)".to_owned(),
                measured: format!("error: {err}"),
                target: "—".to_owned(),
                verdict: "error".to_owned(),
            }],
            measured: true,
            ..Figure::default()
        });
    };
    if plan.wants("P1") || plan.wants("P2") {
        match figures::p1_and_p2(&bins, plan).await {
            Ok((p1, p2)) => figures.extend([p1, p2]),
            Err(e) => failed("P1/P2", &e, &mut figures),
        }
    }
    if plan.wants("P3") {
        match containers::p3_container_start(&bins, plan).await {
            Ok(f) => figures.push(f),
            Err(e) => failed("P3", &e, &mut figures),
        }
    }
    if plan.wants("P4") {
        match figures::p4_generated_server(&bins, plan).await {
            Ok(f) => figures.push(f),
            Err(e) => failed("P4", &e, &mut figures),
        }
    }
    if plan.wants("P5") {
        match dag::p5_dag_overhead(&bins, plan).await {
            Ok(f) => figures.push(f),
            Err(e) => failed("P5", &e, &mut figures),
        }
    }
    if plan.wants("P6") {
        match figures::p6_rss(&bins, plan).await {
            Ok(f) => figures.push(f),
            Err(e) => failed("P6", &e, &mut figures),
        }
    }
    if plan.wants("P7") {
        match figures::p7_find_tools(&bins, plan).await {
            Ok(f) => figures.push(f),
            Err(e) => failed("P7", &e, &mut figures),
        }
    }
    for (i, f) in figures.iter().enumerate() {
        if !f.is_sane() {
            failures.push(format!("figure {i} produced no (or non-finite) numbers"));
        }
    }
    let machine = report::Machine::probe(workspace, &load_at_start).await;
    let document = report::render(&machine, plan, &figures, started.elapsed());
    Ok(Outcome { document, failures })
}
