//! The Docker runtime against the real engine on this machine: image build from a cargo-built
//! binary (with its shared libraries), a stdio MCP server in a hardened container spoken to
//! through rmcp, every hardening option checked on the container, stop and removal, and the
//! reaper.
//!
//! These tests need Docker and FAIL (they never skip) when it is unreachable, printing why.
//! They build `polyclaw-server-echo` with the README's `cargo build` once (a no-op when the
//! suite's build made it) and keep the image `polyclaw-test/echo:dev`; every container they
//! create is removed.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, DownloadFromContainerOptions};
use futures::StreamExt;
use polyclaw::runtime::docker::{self, ContainerSpec, Engine, labels};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

const TAG: &str = "polyclaw-test/echo:dev";
const WAIT: Duration = Duration::from_secs(20);

/// Connects, or fails the test loudly with the cause.
async fn engine() -> Engine {
    init_logs();
    match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            panic!("these tests need a reachable Docker engine; {text}");
        }
    }
}

/// Builds the echo binary and its image once per test run.
async fn echo_image(engine: &Engine) {
    static BUILT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            let binary = tokio::task::spawn_blocking(built_echo)
                .await
                .expect("the build task panicked");
            let started = Instant::now();
            let mut log = Vec::new();
            docker::build_scratch_image(
                engine,
                TAG,
                &binary,
                &[(labels::IMAGE_SOURCE, "polyclaw-server-echo (tests)")],
                |line| log.push(line.to_string()),
            )
            .await
            .unwrap_or_else(|e| panic!("building {TAG} failed: {e}"));
            eprintln!(
                "built {TAG} in {:?} ({} lines of output)",
                started.elapsed(),
                log.len()
            );
            assert!(
                log.iter().any(|l| l.contains("Successfully tagged")),
                "{log:?}"
            );
        })
        .await;
}

fn built_echo() -> PathBuf {
    // The build `polyclaw images build` makes, in this test's own profile (so the suite's
    // build already made it).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let profile = docker::cargo::own_profile();
    let built = docker::cargo::build(&root, &profile, docker::cargo::Output::Quiet)
        .unwrap_or_else(|e| panic!("cargo build failed: {e}"));
    built
        .get("polyclaw-server-echo")
        .cloned()
        .unwrap_or_else(|| panic!("cargo build built no echo server: {built:?}"))
}

/// Captured log output (all tests share one subscriber).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    &LOGS
}

struct LogWriter;
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        logs()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(|| LogWriter)
        .try_init();
}

fn logged(needle: &str) -> bool {
    let logs = logs()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    String::from_utf8_lossy(&logs).contains(needle)
}

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(args)
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

async fn container_exists(engine: &Engine, id: &str) -> bool {
    engine.docker().inspect_container(id, None).await.is_ok()
}

/// Reads one file out of a container (as `docker cp` does): (content, mode, uid).
async fn read_file(engine: &Engine, id: &str, path: &str) -> (String, u32, u64) {
    let options = DownloadFromContainerOptions {
        path: path.to_string(),
    };
    let mut tar = Vec::new();
    let mut stream = engine.docker().download_from_container(id, Some(options));
    while let Some(chunk) = stream.next().await {
        tar.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("cannot read {path}: {e}")));
    }
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut entry = archive
        .entries()
        .ok()
        .and_then(|mut e| e.next())
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no file in the archive of {path}"));
    let mode = entry.header().mode().unwrap_or(0);
    let uid = entry.header().uid().unwrap_or(u64::MAX);
    let mut content = String::new();
    std::io::Read::read_to_string(&mut entry, &mut content).unwrap_or_default();
    (content, mode, uid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_server_runs_hardened_and_is_removed() {
    let engine = engine().await;
    echo_image(&engine).await;
    assert_eq!(
        engine.api_version, "1.41",
        "negotiated with {}",
        engine.server_version
    );

    let mut spec = ContainerSpec::new(TAG);
    spec.env.push(("GREETING".into(), "hello from env".into()));
    spec.env.push(("RUST_LOG".into(), "info".into()));
    spec.secret_files
        .push(("api_token".into(), "s3cret-value".into()));
    let instance = labels::instance_id();
    let (container, stdout, stdin) = docker::run_stdio(&engine, "hardened-echo", instance, &spec)
        .await
        .unwrap_or_else(|e| panic!("run_stdio: {e}"));
    let id = container.id.clone();

    let client = tokio::time::timeout(WAIT, rmcp::serve_client((), (stdout, stdin)))
        .await
        .expect("initialize timed out")
        .expect("initialize failed");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let result = client
        .call_tool(params("echo", json!({"text": "hi"})))
        .await
        .expect("tools/call echo");
    assert_eq!(text(&result), "hi");
    let result = client
        .call_tool(params("env", json!({"name": "GREETING"})))
        .await
        .expect("tools/call env");
    assert_eq!(text(&result), "hello from env");

    // Every hardening option, as the engine applied it.
    let info = engine
        .docker()
        .inspect_container(&id, None)
        .await
        .expect("inspect");
    let host = info.host_config.clone().unwrap_or_default();
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
    assert_eq!(
        host.security_opt,
        Some(vec!["no-new-privileges".to_string()])
    );
    assert_eq!(host.memory, Some(512 << 20));
    assert_eq!(host.memory_swap, Some(512 << 20));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.pids_limit, Some(128));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    let tmp = host.tmpfs.unwrap_or_default();
    assert!(
        tmp.get("/tmp").is_some_and(|o| o.contains("size=64m")),
        "{tmp:?}"
    );
    let config = info.config.clone().unwrap_or_default();
    assert_eq!(config.user.as_deref(), Some("65534:65534"));
    assert_eq!(config.tty, Some(false));
    let l = config.labels.unwrap_or_default();
    assert_eq!(l.get(labels::MANAGED).map(String::as_str), Some("true"));
    assert_eq!(l.get(labels::OWNER).map(String::as_str), Some(instance));
    assert_eq!(
        l.get(labels::SERVER).map(String::as_str),
        Some("hardened-echo")
    );
    let pid = std::process::id().to_string();
    assert_eq!(l.get(labels::OWNER_PID), Some(&pid));
    let state = container.inspect_state(&engine).await.expect("state");
    assert_eq!(state.running, Some(true));
    // Nothing of the env or secrets leaks into the Debug form used in logs.
    assert!(!format!("{spec:?}").contains("s3cret"));

    // The secret file, written before start, readable only by the container's user.
    let (content, mode, uid) = read_file(&engine, &id, "/run/secrets/api_token").await;
    assert_eq!(content, "s3cret-value");
    assert_eq!((mode & 0o777, uid), (0o400, 65534));

    // Closing the client closes the container's stdin: the server exits by itself.
    client.cancel().await.expect("cancel");
    let started = Instant::now();
    let ended = container.stop(&engine).await;
    eprintln!("stopped in {:?}: {ended}", started.elapsed());
    assert_eq!(ended, "exited with code 0");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        !container_exists(&engine, &id).await,
        "container still exists"
    );
    let volumes = engine
        .docker()
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{}=hardened-echo", labels::SERVER)],
            )])),
        }))
        .await
        .expect("list volumes");
    assert!(
        volumes.volumes.unwrap_or_default().is_empty(),
        "the secrets volume is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_reported_and_stderr_is_logged() {
    let engine = engine().await;
    echo_image(&engine).await;
    let spec = ContainerSpec::new(TAG);
    let (container, stdout, stdin) =
        docker::run_stdio(&engine, "crashing-echo", labels::instance_id(), &spec)
            .await
            .unwrap_or_else(|e| panic!("run_stdio: {e}"));
    let client = rmcp::serve_client((), (stdout, stdin))
        .await
        .expect("initialize");
    assert!(client.call_tool(params("crash", json!({}))).await.is_err());
    let how = tokio::time::timeout(WAIT, container.wait_exit(&engine))
        .await
        .expect("the container did not exit");
    assert_eq!(how, "exited with code 3");
    let id = container.id.clone();
    container.stop(&engine).await;
    assert!(!container_exists(&engine, &id).await);
    // The server's stderr line arrived through the attach stream, tagged with its name.
    assert!(
        logged("crash tool called") && logged("crashing-echo"),
        "stderr was not logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_says_how_to_build_it() {
    let engine = engine().await;
    let spec = ContainerSpec::new("polyclaw-test/never-built:nope");
    let err = match docker::run_stdio(&engine, "ghost", labels::instance_id(), &spec).await {
        Ok((c, _, _)) => {
            c.stop(&engine).await;
            panic!("a container started from a missing image");
        }
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("never-built:nope") && err.contains("polyclaw images build"),
        "{err}"
    );
    assert!(
        !engine
            .image_exists("polyclaw-test/never-built:nope")
            .await
            .unwrap_or(true)
    );
    let left = engine
        .managed_containers(Some(labels::instance_id()))
        .await
        .expect("list");
    assert!(
        left.iter()
            .all(|(_, l)| l.get(labels::SERVER).map(String::as_str) != Some("ghost")),
        "a container was left behind"
    );
}

/// Creates a stopped container with `labels`.
async fn create_labelled(engine: &Engine, labels: HashMap<String, String>) -> String {
    let body = ContainerCreateBody {
        image: Some(TAG.to_string()),
        labels: Some(labels),
        ..Default::default()
    };
    engine
        .docker()
        .create_container(None::<CreateContainerOptions>, body)
        .await
        .expect("create")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaper_removes_dead_owners_containers_only() {
    let engine = engine().await;
    echo_image(&engine).await;
    // A dead owner: same host, a pid that cannot exist (above the kernel's pid_max).
    let mut dead = labels::container_labels("deadbeefdeadbeef", "reap-dead");
    dead.insert(labels::OWNER_PID.into(), "2147483646".into());
    // A live owner: another instance id, but this very process.
    let alive = labels::container_labels("0123456789abcdef", "reap-alive");
    // Not ours at all, though it looks similar.
    let foreign = HashMap::from([(labels::SERVER.to_string(), "reap-foreign".to_string())]);

    let dead_id = create_labelled(&engine, dead).await;
    let alive_id = create_labelled(&engine, alive).await;
    let foreign_id = create_labelled(&engine, foreign).await;

    let removed = engine
        .reap_leftovers(labels::instance_id())
        .await
        .expect("reap");
    let dead_gone = !container_exists(&engine, &dead_id).await;
    let alive_kept = container_exists(&engine, &alive_id).await;
    let foreign_kept = container_exists(&engine, &foreign_id).await;
    for id in [&dead_id, &alive_id, &foreign_id] {
        let options = bollard::query_parameters::RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        let _ = engine.docker().remove_container(id, Some(options)).await;
    }
    assert!(
        removed >= 1 && dead_gone,
        "the dead owner's container was not reaped"
    );
    assert!(alive_kept, "a live owner's container was reaped");
    assert!(foreign_kept, "an unlabelled container was reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_owned_leaves_nothing_of_an_instance() {
    let engine = engine().await;
    echo_image(&engine).await;
    let instance = "feedfacefeedface";
    let spec = ContainerSpec::new(TAG);
    let (a, _out_a, _in_a) = docker::run_stdio(&engine, "owned-a", instance, &spec)
        .await
        .unwrap_or_else(|e| panic!("run_stdio: {e}"));
    let (b, _out_b, _in_b) = docker::run_stdio(&engine, "owned-b", instance, &spec)
        .await
        .unwrap_or_else(|e| panic!("run_stdio: {e}"));
    let started = Instant::now();
    let removed = engine.remove_owned(instance).await.expect("remove_owned");
    eprintln!(
        "removed {removed} running containers in {:?}",
        started.elapsed()
    );
    assert_eq!(removed, 2);
    assert!(!container_exists(&engine, &a.id).await && !container_exists(&engine, &b.id).await);
    assert!(
        engine
            .managed_containers(Some(instance))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Container create → first `tools/list` answered, a few times; prints p50 (run with
/// `--nocapture`). Speed targets belong to the benchmark, so nothing is asserted about them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_latency() {
    let engine = engine().await;
    echo_image(&engine).await;
    let spec = ContainerSpec::new(TAG);
    let mut times = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let (container, stdout, stdin) =
            docker::run_stdio(&engine, "latency-echo", labels::instance_id(), &spec)
                .await
                .unwrap_or_else(|e| panic!("run_stdio: {e}"));
        let running = started.elapsed();
        let client = rmcp::serve_client((), (stdout, stdin))
            .await
            .expect("initialize");
        let tools = client.list_all_tools().await.expect("tools/list");
        let listed = started.elapsed();
        assert!(!tools.is_empty());
        times.push((listed, running));
        let stopping = Instant::now();
        client.cancel().await.expect("cancel");
        container.stop(&engine).await;
        stops.push(stopping.elapsed());
    }
    times.sort();
    stops.sort();
    let (p50, running) = times[times.len() / 2];
    eprintln!(
        "container create → first tools/list: p50 {p50:?} (create+attach+start {running:?}); all {:?}; stop+remove p50 {:?}",
        times.iter().map(|t| t.0).collect::<Vec<_>>(),
        stops[stops.len() / 2]
    );
    let _ = std::io::stderr().flush();
}

/// Every future of the API can run in a spawned task (compile-time check).
#[allow(dead_code)]
fn futures_are_send(engine: std::sync::Arc<Engine>, spec: ContainerSpec) {
    let e = engine.clone();
    tokio::spawn(async move { docker::run_stdio(&e, "s", "i", &spec).await.map(|_| ()) });
    let e = engine.clone();
    tokio::spawn(async move { e.reap_leftovers("i").await });
    let e = engine.clone();
    tokio::spawn(async move { e.remove_owned("i").await });
    let e = engine.clone();
    tokio::spawn(async move { e.image_exists("i").await });
    tokio::spawn(async move {
        docker::build_scratch_image(&engine, "t", std::path::Path::new("/x"), &[], |_| {}).await
    });
}

/// The shape of a supervisor: futures awaited inside `&self` methods of a spawned task.
#[allow(dead_code)]
struct Sup {
    engine: std::sync::Arc<Engine>,
    spec: ContainerSpec,
    name: String,
}
#[allow(dead_code)]
impl Sup {
    async fn start(&self) -> Result<(), polyclaw::Error> {
        let (c, _o, _i) = docker::run_stdio(&self.engine, &self.name, "i", &self.spec).await?;
        let _ = c.wait_exit(&self.engine).await;
        c.stop(&self.engine).await;
        self.engine.reap_leftovers("i").await?;
        self.engine.remove_owned("i").await?;
        docker::build_scratch_image(&self.engine, "t", std::path::Path::new("/x"), &[], |_| {})
            .await
    }
    fn spawn(self: std::sync::Arc<Self>) {
        tokio::spawn(async move { self.start().await });
    }
}
