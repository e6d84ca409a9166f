//! The CLI as a user runs it (config errors, doctor, import, tools call) and faults a user
//! meets: a server that cannot start, a server that is too slow, a remote HTTP server.

use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use polyclaw_tests::python::run_mcp_client;
use polyclaw_tests::support::{Polyclaw, TestConfig, bin, first_text, free_port, ok_result};
use serde_json::json;

fn polyclaw(config: &std::path::Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(bin("polyclaw")?)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .output()?)
}

#[test]
fn broken_config_names_the_file_the_key_and_the_fix() -> Result<()> {
    let config = TestConfig::new(
        "[servers.a]\ncommand = \"x\"\nenv = { K = \"${env:POLYCLAW_TEST_SURELY_UNSET}\" }\n[servers.b]\nurl = \"not a url\"\n",
    )?;
    let out = polyclaw(&config.path, &["tools", "list"])?;
    ensure!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(err.contains(&config.path.display().to_string()), "{err}");
    ensure!(
        err.contains("servers.a.env.K") && err.contains("POLYCLAW_TEST_SURELY_UNSET"),
        "{err}"
    );
    ensure!(err.contains("servers.b.url"), "{err}");
    ensure!(!err.contains("panicked"), "{err}");
    Ok(())
}

#[test]
fn a_server_that_cannot_start_only_takes_its_own_tools_down() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.echo]
command = "{bin}/polyclaw-server-echo"

[servers.ghost]
command = "/nonexistent/ghost-mcp-server"
"#,
    )?;
    let out = polyclaw(
        &config.path,
        &[
            "tools",
            "call",
            "echo__echo",
            "--args",
            r#"{"text":"still here"}"#,
        ],
    )?;
    ensure!(out.status.success(), "{out:?}");
    ensure!(
        String::from_utf8_lossy(&out.stdout).trim() == "still here",
        "{out:?}"
    );

    let out = polyclaw(&config.path, &["doctor"])?;
    ensure!(
        !out.status.success(),
        "doctor fails when a server is broken"
    );
    let report = String::from_utf8_lossy(&out.stdout);
    ensure!(report.contains("ok    server echo"), "{report}");
    ensure!(
        report.contains("FAIL  server ghost") && report.contains("program not found"),
        "{report}"
    );

    let out = polyclaw(&config.path, &["servers", "list", "--json"])?;
    let servers: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let ghost = servers
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "ghost"))
        .cloned()
        .unwrap_or_default();
    ensure!(ghost["status"] == "down", "{servers}");
    ensure!(
        ghost["error"]
            .as_str()
            .unwrap_or_default()
            .contains("servers.ghost.command"),
        "{ghost}"
    );
    Ok(())
}

#[test]
fn slow_server_hits_its_deadline_and_others_are_unaffected() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.slow]
command = "{bin}/polyclaw-server-echo"
timeout = 1

[servers.echo]
command = "{bin}/polyclaw-server-echo"
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    // The Python client's venv may have to be built first (by this or another test process):
    // that is not part of the time the deadline is checked against.
    polyclaw_tests::python::python()?;
    let started = std::time::Instant::now();
    let ops = json!([
        {"op": "call_tool", "name": "slow__sleep", "arguments": {"ms": 30000}},
        {"op": "call_tool", "name": "echo__echo", "arguments": {"text": "fine"}},
        {"op": "call_tool", "name": "slow__echo", "arguments": {"text": "recovered"}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let slow = ok_result(&out[0], "call_tool")?;
    ensure!(slow["isError"] == true, "{slow}");
    ensure!(
        first_text(slow).contains("did not answer within 1.0 s"),
        "{slow}"
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "fine");
    ensure!(
        first_text(ok_result(&out[2], "call_tool")?) == "recovered",
        "{}",
        out[2]
    );
    ensure!(
        started.elapsed().as_secs() < 25,
        "the deadline cut the call short"
    );
    // The server was told to stop working on it (notifications/cancelled reached it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !polyclaw
        .log
        .lock()
        .is_ok_and(|l| l.contains("sleep cancelled by the client"))
    {
        ensure!(
            std::time::Instant::now() < deadline,
            "the timed-out request was cancelled at the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn remote_http_server_sampling_elicitation_and_logs() -> Result<()> {
    let port = free_port()?;
    let mut remote = Command::new(bin("polyclaw-server-echo")?)
        .args(["--name", "remote", "--http", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let config = TestConfig::new(&format!(
        "[servers.remote]\nurl = \"http://127.0.0.1:{port}/mcp\"\nheaders = {{ X-Test = \"yes\" }}\n"
    ))?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "remote__echo", "arguments": {"text": "over http"}},
        {"op": "call_tool", "name": "remote__sample", "arguments": {"prompt": "hi"}},
        {"op": "call_tool", "name": "remote__elicit", "arguments": {"message": "name?"}},
        {"op": "call_tool", "name": "remote__log", "arguments": {"message": "hello log"}},
        {"op": "sleep", "seconds": 0.5},
        {"op": "logs"},
    ]);
    let result = run_mcp_client(
        [
            "--http",
            &polyclaw.url,
            "--sampling-reply",
            "sampled!",
            "--elicit-reply",
            r#"{"answer": "Ada"}"#,
        ],
        &ops,
    );
    let _ = remote.kill();
    let _ = remote.wait();
    let out = result?;
    ensure!(first_text(ok_result(&out[0], "call_tool")?) == "over http");
    ensure!(
        first_text(ok_result(&out[1], "call_tool")?).contains("sampled!"),
        "{}",
        out[1]
    );
    ensure!(
        first_text(ok_result(&out[2], "call_tool")?).contains("Ada"),
        "{}",
        out[2]
    );
    let logs = ok_result(&out[5], "logs")?;
    ensure!(
        logs.to_string().contains("hello log"),
        "logs pass through: {logs}"
    );
    Ok(())
}

#[test]
fn import_turns_a_claude_desktop_file_into_a_working_config() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("claude_desktop_config.json");
    let echo = bin("polyclaw-server-echo")?;
    std::fs::write(
        &input,
        serde_json::to_string_pretty(&json!({
            "mcpServers": {
                "echo": {"command": echo, "args": ["--name", "imported"]},
                "docs": {"url": "http://127.0.0.1:9/mcp", "type": "http"}
            }
        }))?,
    )?;
    let output = dir.path().join("polyclaw.toml");
    let out = Command::new(bin("polyclaw")?)
        .args(["import"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()?;
    ensure!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&output)?;
    ensure!(
        text.contains("[servers.echo]") && text.contains("[servers.docs]"),
        "{text}"
    );
    let out = polyclaw(&output, &["config", "check"])?;
    ensure!(out.status.success(), "{out:?}");
    let out = polyclaw(
        &output,
        &[
            "tools",
            "call",
            "echo__echo",
            "-a",
            r#"{"text":"imported ok"}"#,
        ],
    )?;
    ensure!(
        String::from_utf8_lossy(&out.stdout).trim() == "imported ok",
        "{out:?}"
    );
    let again = Command::new(bin("polyclaw")?)
        .args(["import"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()?;
    ensure!(
        !again.status.success(),
        "import does not overwrite without --force"
    );
    Ok(())
}

#[test]
fn idle_servers_stop_and_unhealthy_ones_restart() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.idle]
command = "{bin}/polyclaw-server-echo"
idle_timeout = 1

[servers.frozen]
command = "{bin}/polyclaw-server-echo"
health_interval = 0.5
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "idle__pid", "arguments": {}},
        {"op": "call_tool", "name": "frozen__pid", "arguments": {}},
        {"op": "call_tool", "name": "frozen__freeze", "arguments": {"ms": 8000}},
        {"op": "sleep", "seconds": 2.5},
        {"op": "call_tool", "name": "polyclaw__list_servers", "arguments": {}},
        {"op": "call_tool", "name": "idle__pid", "arguments": {}},
        {"op": "call_tool", "name": "frozen__pid", "arguments": {}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let idle_before = first_text(ok_result(&out[0], "call_tool")?).to_string();
    let frozen_before = first_text(ok_result(&out[1], "call_tool")?).to_string();
    let frozen = ok_result(&out[2], "call_tool")?;
    ensure!(
        frozen["isError"] == true,
        "the frozen server was restarted under the call: {frozen}"
    );
    // (Had it not been restarted, the freeze would have ended after 8 s with "thawed".)
    let servers = ok_result(&out[4], "call_tool")?["structuredContent"]["servers"].clone();
    let idle = servers
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "idle"))
        .cloned()
        .unwrap_or_default();
    ensure!(
        idle["status"] == "stopped",
        "stopped after its idle timeout: {idle}"
    );
    let idle_after = first_text(ok_result(&out[5], "call_tool")?).to_string();
    ensure!(idle_after != idle_before, "started again on the next use");
    let frozen_after = first_text(ok_result(&out[6], "call_tool")?).to_string();
    ensure!(
        frozen_after != frozen_before,
        "a new process serves after the restart"
    );
    Ok(())
}
