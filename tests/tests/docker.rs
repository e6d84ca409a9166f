//! Container servers end to end, on the real Docker engine of this machine: images built by
//! `polyclaw images build` (no registry), servers listed and called through the front door,
//! hardening observed from inside the container, a killed container restarted, a hung one cut
//! off at its deadline, SIGTERM leaving no container, and an unreachable engine leaving
//! process servers working. These tests need Docker: without it they fail and say why.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use polyclaw_tests::python::run_mcp_client;
use polyclaw_tests::support::{
    Polyclaw, TestConfig, bin, build_images, docker_lines, first_text, ok_result,
};
use serde_json::{Value, json};

/// Builds the images these tests use, once per test process.
fn images() -> Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_images(&["echo", "fs"]))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Containers with polyclaw's label, by name.
fn managed_containers() -> Result<Vec<String>> {
    docker_lines(&[
        "ps",
        "-a",
        "--filter",
        "label=io.polyclaw.managed=true",
        "--format",
        "{{.Names}}",
    ])
}

fn server_entry<'a>(servers: &'a Value, name: &str) -> Result<&'a Value> {
    servers["structuredContent"]["servers"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .with_context(|| format!("{name} not listed: {servers}"))
}

#[test]
fn container_server_through_the_front_door_restart_and_sigterm() -> Result<()> {
    images()?;
    let config = TestConfig::new(
        r#"
[servers.boxed]
image = "polyclaw/echo:latest"
args = ["--name", "boxed"]
start = "boot"

[servers.local]
command = "{bin}/polyclaw-server-echo"
"#,
    )?;
    let mut polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "boxed__echo", "arguments": {"text": "from a container"}},
        {"op": "call_tool", "name": "polyclaw__list_servers", "arguments": {}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let names: Vec<&str> = ok_result(&out[0], "list_tools")?["tools"]
        .as_array()
        .context("tools")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    ensure!(
        names.contains(&"boxed__echo") && names.contains(&"local__echo"),
        "{names:?}"
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "from a container");
    let servers = ok_result(&out[2], "call_tool")?;
    let container = server_entry(servers, "boxed")?["container"]
        .as_str()
        .context("the container is listed")?
        .to_string();

    // Kill the container behind polyclaw's back: it is restarted and the next call works.
    let killed = Command::new("docker").args(["kill", &container]).output()?;
    ensure!(killed.status.success(), "docker kill: {killed:?}");
    std::thread::sleep(Duration::from_secs(3));
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([
            {"op": "call_tool", "name": "boxed__echo", "arguments": {"text": "back again"}},
            {"op": "call_tool", "name": "local__echo", "arguments": {"text": "unaffected"}},
        ]),
    )?;
    ensure!(
        first_text(ok_result(&out[0], "call_tool")?) == "back again",
        "{}",
        out[0]
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "unaffected");

    let mine: Vec<String> = managed_containers()?
        .into_iter()
        .filter(|n| n.contains("boxed"))
        .collect();
    ensure!(!mine.is_empty(), "a container runs while polyclaw does");
    let status = polyclaw.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "{status}");
    let left: Vec<String> = managed_containers()?
        .into_iter()
        .filter(|n| mine.contains(n))
        .collect();
    ensure!(
        left.is_empty(),
        "SIGTERM removes every container polyclaw made: {left:?}"
    );
    Ok(())
}

#[test]
fn hung_container_hits_its_deadline_and_others_are_unaffected() -> Result<()> {
    images()?;
    let config = TestConfig::new(
        r#"
[servers.slow]
image = "polyclaw/echo:latest"
timeout = 1

[servers.fast]
image = "polyclaw/echo:latest"
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([
            {"op": "call_tool", "name": "slow__sleep", "arguments": {"ms": 20000}},
            {"op": "call_tool", "name": "fast__echo", "arguments": {"text": "quick"}},
        ]),
    )?;
    let slow = ok_result(&out[0], "call_tool")?;
    ensure!(
        slow["isError"] == true && first_text(slow).contains("within 1.0 s"),
        "{slow}"
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "quick");
    Ok(())
}

#[test]
fn hardening_is_in_effect_inside_the_container() -> Result<()> {
    images()?;
    let config = TestConfig::new(
        r#"
[servers.look]
image = "polyclaw/fs:latest"
args = ["--root", "/", "--read-only"]

[servers.writer]
image = "polyclaw/fs:latest"
args = ["--root", "/"]
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([
            {"op": "call_tool", "name": "look__read_file", "arguments": {"path": "/proc/self/status"}},
            {"op": "call_tool", "name": "look__read_file", "arguments": {"path": "/proc/net/dev"}},
            {"op": "call_tool", "name": "writer__write_file", "arguments": {"path": "/escape.txt", "content": "x"}},
            {"op": "call_tool", "name": "writer__write_file", "arguments": {"path": "/tmp/ok.txt", "content": "x"}},
            {"op": "call_tool", "name": "look__read_file", "arguments": {"path": "/sys/fs/cgroup/memory.max"}},
            {"op": "call_tool", "name": "look__read_file", "arguments": {"path": "/sys/fs/cgroup/memory/memory.limit_in_bytes"}},
        ]),
    )?;
    let status = first_text(ok_result(&out[0], "call_tool")?).to_string();
    let field = |name: &str| -> String {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    ensure!(
        field("Uid:").starts_with("65534"),
        "runs as nobody: {}",
        field("Uid:")
    );
    ensure!(
        field("CapEff:") == "0000000000000000",
        "no capabilities: {}",
        field("CapEff:")
    );
    ensure!(
        field("NoNewPrivs:") == "1",
        "no new privileges: {}",
        field("NoNewPrivs:")
    );
    let net = first_text(ok_result(&out[1], "call_tool")?);
    let interfaces: Vec<&str> = net
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    ensure!(
        interfaces == ["lo"],
        "network none: only loopback, got {interfaces:?}"
    );
    let root_write = ok_result(&out[2], "call_tool")?;
    ensure!(
        root_write["isError"] == true,
        "the root filesystem is read-only: {root_write}"
    );
    let tmp_write = ok_result(&out[3], "call_tool")?;
    ensure!(
        tmp_write["isError"] == false,
        "a tmpfs /tmp is writable: {tmp_write}"
    );
    let memory: Vec<String> = [&out[4], &out[5]]
        .iter()
        .filter(|o| o["ok"] == true && o["result"]["isError"] == false)
        .map(|o| first_text(&o["result"]).trim().to_string())
        .collect();
    ensure!(
        memory.iter().any(|m| m == "536870912"),
        "memory is limited to 512 MiB: {memory:?}"
    );
    Ok(())
}

#[test]
fn unreachable_docker_leaves_process_servers_working() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.boxed]
image = "polyclaw/echo:latest"

[servers.local]
command = "{bin}/polyclaw-server-echo"
"#,
    )?;
    let out = Command::new(bin("polyclaw")?)
        .arg("--config")
        .arg(&config.path)
        .args([
            "tools",
            "call",
            "local__echo",
            "--args",
            r#"{"text":"still fine"}"#,
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("RUST_LOG", "error")
        .output()?;
    ensure!(out.status.success(), "{out:?}");
    ensure!(String::from_utf8_lossy(&out.stdout).trim() == "still fine");
    let out = Command::new(bin("polyclaw")?)
        .arg("--config")
        .arg(&config.path)
        .args(["servers", "list", "--json"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("RUST_LOG", "error")
        .output()?;
    let servers: Value = serde_json::from_slice(&out.stdout)?;
    let boxed = servers
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "boxed"))
        .context("boxed listed")?;
    let error = boxed["error"].as_str().unwrap_or_default();
    if !(error.contains("Docker") && error.contains("not reachable")) {
        bail!("the error says Docker is unreachable and what to do: {boxed}");
    }
    Ok(())
}

/// Names of the networks polyclaw made (labelled as its own).
fn managed_networks() -> Result<Vec<String>> {
    docker_lines(&[
        "network",
        "ls",
        "--filter",
        "label=io.polyclaw.managed=true",
        "--format",
        "{{.Name}}",
    ])
}

/// Short ids (= host names inside) of one server's containers, by label.
fn containers_of(server: &str) -> Result<Vec<String>> {
    docker_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.polyclaw.server={server}"),
        "--format",
        "{{.ID}}",
    ])
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if ok()? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not happen within {within:?}")
}

#[test]
fn http_server_in_a_container_is_reached_over_a_private_internal_network() -> Result<()> {
    images()?;
    let config = TestConfig::new(
        r#"
[servers.web]
image = "polyclaw/echo:latest"
args = ["--http", "0.0.0.0:8080", "--name", "web"]
port = 8080
"#,
    )?;
    let before = managed_networks()?;
    let mut polyclaw = Polyclaw::start(&config.path, &[])?;
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([
            {"op": "call_tool", "name": "web__echo", "arguments": {"text": "over the network"}},
            {"op": "call_tool", "name": "web__add", "arguments": {"a": 2, "b": 3}},
        ]),
    )?;
    ensure!(
        first_text(ok_result(&out[0], "call_tool")?) == "over the network",
        "{}",
        out[0]
    );
    ensure!(
        first_text(ok_result(&out[1], "call_tool")?) == "5",
        "{}",
        out[1]
    );
    let made: Vec<String> = managed_networks()?
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    ensure!(
        made.len() == 1,
        "one private network while it runs: {made:?}"
    );
    let inspect = Command::new("docker")
        .args(["network", "inspect", "--format", "{{.Internal}}", &made[0]])
        .output()?;
    ensure!(
        String::from_utf8_lossy(&inspect.stdout).trim() == "true",
        "the network is internal (no route out): {inspect:?}"
    );
    let status = polyclaw.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "{status}");
    ensure!(
        !managed_networks()?.contains(&made[0]),
        "SIGTERM removes the private network"
    );
    ensure!(containers_of("web")?.is_empty(), "and the container");
    Ok(())
}

#[test]
fn warm_pool_and_per_client_instances() -> Result<()> {
    images()?;
    let config = TestConfig::new(
        r#"
[servers.pooled]
image = "polyclaw/echo:latest"
warm = 1
per_client = true
"#,
    )?;
    let mut polyclaw = Polyclaw::start(&config.path, &[])?;
    // Nothing was called yet, but a warm container is there.
    wait_for("a warm container", Duration::from_secs(20), || {
        Ok(!containers_of("pooled")?.is_empty())
    })?;
    let host_of = |out: &[Value], i: usize| -> Result<String> {
        Ok(first_text(ok_result(&out[i], "call_tool")?).to_string())
    };
    let ask = json!([
        {"op": "call_tool", "name": "pooled__env", "arguments": {"name": "HOSTNAME"}},
        {"op": "call_tool", "name": "pooled__env", "arguments": {"name": "HOSTNAME"}},
    ]);
    let first = run_mcp_client(["--http", &polyclaw.url], &ask)?;
    let second = run_mcp_client(["--http", &polyclaw.url], &ask)?;
    let (a1, a2, b1) = (
        host_of(&first, 0)?,
        host_of(&first, 1)?,
        host_of(&second, 0)?,
    );
    ensure!(
        !a1.is_empty() && a1 == a2,
        "one instance per session: {a1} {a2}"
    );
    ensure!(a1 != b1, "each session has its own instance: {a1} {b1}");
    // Ended sessions' instances go; the pool is refilled.
    wait_for(
        "ended sessions' containers removed",
        Duration::from_secs(20),
        || {
            let names = containers_of("pooled")?;
            // Left: the shared instance (lists are read from it) and the refilled warm one.
            Ok(!names.contains(&a1) && !names.contains(&b1) && names.len() <= 2)
        },
    )?;
    let status = polyclaw.terminate(Duration::from_secs(10))?;
    ensure!(status.success(), "{status}");
    ensure!(
        containers_of("pooled")?.is_empty(),
        "SIGTERM removes warm containers too"
    );
    Ok(())
}

#[test]
fn image_server_falls_back_to_its_process_without_the_image() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.either]
image = "polyclaw/never-built:latest"
fallback = { command = "{bin}/polyclaw-server-echo", args = ["--name", "either"] }
"#,
    )?;
    for docker_host in [None, Some("unix:///nonexistent/docker.sock")] {
        let mut cmd = Command::new(bin("polyclaw")?);
        cmd.arg("--config").arg(&config.path).args([
            "tools",
            "call",
            "either__echo",
            "--args",
            r#"{"text":"as a process"}"#,
        ]);
        if let Some(host) = docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        let out = cmd.env("RUST_LOG", "error").output()?;
        ensure!(out.status.success(), "{docker_host:?}: {out:?}");
        ensure!(String::from_utf8_lossy(&out.stdout).trim() == "as a process");
    }
    Ok(())
}
