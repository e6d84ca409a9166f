//! P3: container create → first `tools/list`, cold and from the warm pool, measured in
//! process with polyclaw's own runtime (the same code `polyclaw serve` runs).
//!
//! Each round starts a fresh private instance of two `image` servers (one without a pool,
//! one with `warm = 1`) and times [`Downstream::peer`]: from "start it" to ready, which is
//! after `initialize` and the first `tools/list`. Rounds alternate cold and warm; before each
//! warm round the pool is given time to refill, so a warm start never pays for a cold one.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use polyclaw::config::{Config, ConfigSource, Interpolator};
use polyclaw::hub::Hub;
use polyclaw::runtime::downstream::START_TIMEOUT;
use tokio_util::sync::CancellationToken;

use super::figures::{Figure, Plan, Row, fmt_us};
use super::procs::Bins;
use super::stats::Summary;

const CONFIG: &str = r#"
[servers.p3cold]
image = "polyclaw/echo:latest"

[servers.p3warm]
image = "polyclaw/echo:latest"
warm = 1
"#;

/// Targets of issue 3: p50 ≤ 250 ms cold, ≤ 20 ms from the warm pool.
const COLD_TARGET_US: f64 = 250_000.0;
const WARM_TARGET_US: f64 = 20_000.0;

/// P3.
///
/// # Errors
/// When Docker or the echo image is missing, or a start fails.
pub async fn p3_container_start(bins: &Bins, plan: &Plan) -> Result<Figure> {
    eprintln!("bench: P3 building the echo image (polyclaw images build --only echo)");
    super::procs::echo_image(bins, "P3").await?;
    let config = Config::parse(CONFIG, ConfigSource::Embedded, &Interpolator::from_env())?;
    let root = CancellationToken::new();
    let mesh = Hub::start(&config, root.clone());
    let result = measure(&mesh, &root, plan).await;
    root.cancel();
    mesh.shutdown().await;
    // The safety net `polyclaw serve` has too: a warm container the pool was starting while
    // it stopped would outlive the bench.
    if let Ok(engine) = polyclaw::runtime::docker::Engine::connect().await {
        let _ = engine
            .remove_owned(polyclaw::runtime::docker::labels::instance_id())
            .await;
    }
    result
}

async fn measure(mesh: &Hub, root: &CancellationToken, plan: &Plan) -> Result<Figure> {
    let cold_server = mesh.server("p3cold").context("p3cold")?;
    let warm_server = mesh.server("p3warm").context("p3warm")?;
    let rounds = if plan.quick { 2 } else { 12 };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    // Round 0 warms the engine's caches and is not counted.
    for r in 0..=rounds {
        eprintln!("bench: P3 round {r}/{rounds}");
        let t = start_instance(&cold_server, root).await?;
        let pool = wait_for_pool(&warm_server).await?;
        let w = start_instance(&warm_server, root).await?;
        ensure!(pool, "the warm pool never filled");
        if r > 0 {
            cold.push(t);
            warm.push(w);
        }
    }
    let wall = Duration::from_secs(1);
    let c = Summary::of(&mut cold, wall).context("no cold starts")?;
    let w = Summary::of(&mut warm, wall).context("no warm starts")?;
    let verdict = |pass: bool| {
        match (pass, plan.quick) {
            (true, false) => "pass",
            (false, false) => "**miss**",
            (true, true) => "pass (quick run, indicative)",
            (false, true) => "miss (quick run, indicative)",
        }
        .to_owned()
    };
    let rows = vec![
        Row {
            figure: "P3".into(),
            what: "container create → first `tools/list`, cold: p50 / p95".into(),
            measured: format!("{} / {}", fmt_us(c.p50), fmt_us(c.p95)),
            target: "p50 ≤ 250 ms".into(),
            verdict: verdict(c.p50 <= COLD_TARGET_US),
        },
        Row {
            figure: "P3".into(),
            what: "the same from the warm pool (`warm = 1`): p50 / p95".into(),
            measured: format!("{} / {}", fmt_us(w.p50), fmt_us(w.p95)),
            target: "p50 ≤ 20 ms".into(),
            verdict: verdict(w.p50 <= WARM_TARGET_US),
        },
    ];
    let detail = format!(
        "### P3 — container start to first `tools/list`\n\n\
         {rounds} alternating rounds; each starts a new private instance of an `image` server \
         (polyclaw/echo, hardened defaults: network none, read-only root, limits) through \
         polyclaw's runtime and times it until ready (after `initialize` and `tools/list`). \
         The warm side takes a container the pool created, attached and started beforehand.\n\n\
         | start | p50 | p95 | max |\n|---|---|---|---|\n\
         | cold (create, attach, start, initialize, tools/list) | {} | {} | {} |\n\
         | warm pool (initialize, tools/list) | {} | {} | {} |\n",
        fmt_us(c.p50),
        fmt_us(c.p95),
        fmt_us(c.max),
        fmt_us(w.p50),
        fmt_us(w.p95),
        fmt_us(w.max),
    );
    Ok(Figure {
        rows,
        detail: Some(detail),
        numbers: vec![c.p50, c.p95, w.p50, w.p95],
        measured: true,
    })
}

/// Starts a private instance of `server`, times it until ready, then stops it.
async fn start_instance(
    server: &std::sync::Arc<polyclaw::runtime::downstream::Downstream>,
    root: &CancellationToken,
) -> Result<Duration> {
    let instance = server.instance(root);
    let t = Instant::now();
    let ready = instance.peer(START_TIMEOUT).await;
    let took = t.elapsed();
    instance.shutdown().await;
    ready.with_context(|| format!("starting {}", server.spec.name))?;
    Ok(took)
}

/// Waits (up to 30 s) until the server's warm pool holds a container.
async fn wait_for_pool(
    server: &std::sync::Arc<polyclaw::runtime::downstream::Downstream>,
) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if server.warm_pool().is_some_and(|p| !p.is_empty()) {
            // Let the engine settle after the refill before timing the next start.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_parses() {
        let c = polyclaw::config::Config::parse(
            super::CONFIG,
            polyclaw::config::ConfigSource::Embedded,
            &polyclaw::config::Interpolator::from_env(),
        )
        .expect("valid");
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.servers[1].warm, 1);
    }
}
