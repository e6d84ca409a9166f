//! Plans end to end, through the front door with real downstream servers: parallel steps
//! observed to overlap, bindings across servers, timeouts, retries, replans that keep
//! finished work, plans written by the client's model (MCP sampling, answered by the real
//! Python SDK client) and by an OpenAI-compatible endpoint, and the CLI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use polyclaw_tests::python::run_mcp_client;
use polyclaw_tests::support::{Polyclaw, TestConfig, bin, first_text, ok_result, polyclaw_cli};
use serde_json::{Value, json};

fn two_echo_servers(extra: &str) -> Result<TestConfig> {
    TestConfig::new(&format!(
        r#"{extra}
[servers.echo]
command = "{{bin}}/polyclaw-server-echo"
start = "boot"

[servers.other]
command = "{{bin}}/polyclaw-server-echo"
args = ["--name", "other"]
start = "boot"

[servers.time]
command = "{{python}}"
args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
"#
    ))
}

fn step<'a>(report: &'a Value, id: &str) -> Result<&'a Value> {
    report["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .with_context(|| format!("no step {id} in {report}"))
}

fn ms(step: &Value, key: &str) -> Result<u64> {
    step[key]
        .as_u64()
        .with_context(|| format!("no {key} in {step}"))
}

#[test]
fn diamond_runs_middle_steps_in_parallel_and_binds_across_servers() -> Result<()> {
    let config = two_echo_servers("")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let plan = json!({
        "goal": "diamond",
        "max_parallel": 4,
        "steps": [
            {"id": "now", "tool": "time__get_current_time", "args": {"timezone": "UTC"}},
            {"id": "left", "tool": "echo__sleep", "args": {"ms": 700}, "depends_on": ["now"]},
            {"id": "right", "tool": "other__sleep", "args": {"ms": 700}, "depends_on": ["now"]},
            {"id": "join", "tool": "other__echo",
             "args": {"text": "${steps.now.result.structuredContent.datetime}"},
             "depends_on": ["left", "right"]}
        ]
    });
    let ops = json!([
        {"op": "call_tool", "name": "polyclaw__run_plan", "arguments": {"plan": plan}, "progress": true},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let result = ok_result(&out[0], "call_tool")?;
    ensure!(result["isError"] == false, "{result}");
    let report = &result["structuredContent"];
    ensure!(report["status"] == "succeeded", "{report}");
    let (left, right, join) = (
        step(report, "left")?,
        step(report, "right")?,
        step(report, "join")?,
    );
    ensure!(
        ms(left, "started_ms")? < ms(right, "finished_ms")?
            && ms(right, "started_ms")? < ms(left, "finished_ms")?,
        "the two middle steps must overlap in time: left {left} right {right}"
    );
    ensure!(
        ms(join, "started_ms")? >= ms(left, "finished_ms")?.max(ms(right, "finished_ms")?),
        "{join}"
    );
    let now = step(report, "now")?["result"]["structuredContent"]["datetime"]
        .as_str()
        .context("datetime")?;
    ensure!(
        join["result"]["structuredContent"]["text"] == now,
        "the binding carries time's output into echo's input: {join}"
    );
    let progress = out[0]["progress"].as_array().context("progress")?;
    ensure!(
        progress.len() >= 8,
        "progress for each step start and end: {progress:?}"
    );
    ensure!(report["run_id"].is_string(), "{report}");
    Ok(())
}

#[test]
fn timeout_retry_and_continue_on_the_raw_route() -> Result<()> {
    timeout_retry_and_continue("")
}

/// The executor's calls behave the same on the typed route.
#[test]
fn timeout_retry_and_continue_on_the_typed_route() -> Result<()> {
    timeout_retry_and_continue("[front]\nforward_raw = false\n")
}

fn timeout_retry_and_continue(front: &str) -> Result<()> {
    let config = two_echo_servers(front)?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let plan = json!({
        "steps": [
            {"id": "slow", "tool": "echo__sleep", "args": {"ms": 10000}, "timeout": 0.5, "on_error": "continue"},
            {"id": "after_slow", "tool": "echo__echo", "args": {"text": "${steps.slow.text}"}},
            {"id": "flaky", "tool": "other__flaky", "args": {"key": "k1", "failures": 2},
             "retry": {"count": 3, "backoff": 0.1, "factor": 2.0}},
            {"id": "independent", "tool": "echo__echo", "args": {"text": "fine"}}
        ]
    });
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([{"op": "call_tool", "name": "polyclaw__run_plan", "arguments": {"plan": plan}}]),
    )?;
    let report = &ok_result(&out[0], "call_tool")?["structuredContent"];
    let slow = step(report, "slow")?;
    ensure!(slow["status"] == "failed", "{slow}");
    ensure!(
        slow["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{slow}"
    );
    ensure!(
        step(report, "after_slow")?["status"] == "skipped",
        "{report}"
    );
    let flaky = step(report, "flaky")?;
    ensure!(
        flaky["status"] == "succeeded" && flaky["attempts"] == 3,
        "retried until it worked: {flaky}"
    );
    ensure!(
        first_text(&flaky["result"]).contains("ok after 2 failures"),
        "{flaky}"
    );
    ensure!(step(report, "independent")?["status"] == "succeeded");
    // The timeout cut the slow step short: the server was told to stop (no wall-clock bound,
    // which a loaded CI machine can break).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !polyclaw
        .log
        .lock()
        .is_ok_and(|l| l.contains("sleep cancelled by the client"))
    {
        ensure!(
            std::time::Instant::now() < deadline,
            "the timeout cut the slow step short (cancelled at the server)"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn replan_keeps_finished_steps_and_uses_the_clients_model() -> Result<()> {
    let config = two_echo_servers("")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let plan = json!({
        "goal": "say hello twice",
        "steps": [
            {"id": "first", "tool": "echo__echo", "args": {"text": "kept"}},
            {"id": "second", "tool": "echo__fail", "args": {"message": "boom"}, "depends_on": ["first"], "on_error": "replan"},
            {"id": "third", "tool": "echo__echo", "args": {"text": "${steps.second.text}"}}
        ]
    });
    // The client's model (answered by the SDK's sampling callback) proposes the replacement.
    let replacement = json!({
        "goal": "say hello twice",
        "steps": [
            {"id": "first", "tool": "echo__echo", "args": {"text": "kept"}},
            {"id": "second", "tool": "other__echo", "args": {"text": "plan B"}, "depends_on": ["first"]},
            {"id": "third", "tool": "echo__echo", "args": {"text": "${steps.second.text} after ${steps.first.text}"}}
        ]
    });
    let reply = format!("Here is the new plan:\n```json\n{replacement}\n```");
    let out = run_mcp_client(
        ["--http", &polyclaw.url, "--sampling-reply", &reply],
        &json!([{"op": "call_tool", "name": "polyclaw__run_plan", "arguments": {"plan": plan}}]),
    )?;
    let report = &ok_result(&out[0], "call_tool")?["structuredContent"];
    ensure!(report["status"] == "succeeded", "{report}");
    let first = step(report, "first")?;
    ensure!(
        first["attempts"] == 1,
        "the finished step was kept, not run again: {first}"
    );
    ensure!(
        step(report, "third")?["result"]["structuredContent"]["text"] == "plan B after kept",
        "{report}"
    );
    let replaced = report["replaced"]
        .as_array()
        .context("replaced steps are reported")?;
    ensure!(
        replaced
            .iter()
            .any(|s| s["id"] == "second" && s["status"] == "failed"),
        "{report}"
    );
    Ok(())
}

#[test]
fn achieve_with_a_plan_written_through_sampling() -> Result<()> {
    let config = two_echo_servers("")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let proposal = json!({
        "steps": [
            {"id": "sum", "tool": "echo__add", "args": {"a": 20, "b": 22}},
            {"id": "say", "tool": "other__echo", "args": {"text": "the answer is ${steps.sum.result.structuredContent.sum}"}}
        ]
    });
    let ops = json!([
        {"op": "call_tool", "name": "polyclaw__plan", "arguments": {"goal": "add 20 and 22 and say it"}},
        {"op": "call_tool", "name": "polyclaw__achieve", "arguments": {"goal": "add 20 and 22 and say it"}},
    ]);
    let out = run_mcp_client(
        [
            "--http",
            &polyclaw.url,
            "--sampling-reply",
            &proposal.to_string(),
        ],
        &ops,
    )?;
    let planned = ok_result(&out[0], "call_tool")?;
    ensure!(planned["isError"] == false, "{planned}");
    ensure!(
        planned["structuredContent"]["plan"]["steps"][1]["id"] == "say",
        "{planned}"
    );
    let report = &ok_result(&out[1], "call_tool")?["structuredContent"];
    ensure!(report["status"] == "succeeded", "{report}");
    ensure!(
        step(report, "say")?["result"]["structuredContent"]["text"] == "the answer is 42",
        "{report}"
    );
    Ok(())
}

/// A one-shot-per-connection OpenAI-compatible chat endpoint on loopback: the first answer
/// is an invalid plan (unknown tool), later answers a valid one. Returns its base URL and the
/// request bodies it saw.
fn fake_chat_endpoint(
    bad: Value,
    good: Value,
) -> Result<(String, std::sync::Arc<std::sync::Mutex<Vec<String>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock()
                .expect("log")
                .push(String::from_utf8_lossy(&body).into_owned());
            let plan = if n == 0 { &bad } else { &good };
            let answer = json!({"choices": [{"message": {"role": "assistant", "content": plan.to_string()}}]}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    Ok((url, seen))
}

#[test]
fn achieve_with_an_openai_compatible_endpoint_that_gets_the_errors_back() -> Result<()> {
    let bad = json!({"steps": [{"id": "x", "tool": "echo__nonexistent", "args": {}}]});
    let good =
        json!({"steps": [{"id": "x", "tool": "echo__echo", "args": {"text": "from the llm"}}]});
    let (url, seen) = fake_chat_endpoint(bad, good)?;
    let config = two_echo_servers(&format!(
        "[llm]\nbase_url = \"{url}\"\nmodel = \"test-model\"\n"
    ))?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([{"op": "call_tool", "name": "polyclaw__achieve", "arguments": {"goal": "echo something"}}]),
    )?;
    let report = &ok_result(&out[0], "call_tool")?["structuredContent"];
    ensure!(report["status"] == "succeeded", "{report}");
    let bodies = seen.lock().map(|b| b.clone()).unwrap_or_default();
    ensure!(
        bodies.len() == 2,
        "one bad proposal, then a good one: {}",
        bodies.len()
    );
    ensure!(bodies[0].contains("test-model"), "{}", bodies[0]);
    ensure!(
        bodies[1].contains("echo__nonexistent"),
        "the second request carries the validation errors of the first proposal"
    );
    Ok(())
}

#[test]
fn cli_validates_shows_runs_and_keeps_plans() -> Result<()> {
    let state = tempfile::tempdir()?;
    let config = two_echo_servers(&format!(
        "[plans]\nstate_dir = \"{}\"\n",
        state.path().display()
    ))?;
    let dir = tempfile::tempdir()?;
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "steps:\n  - id: a\n    tool: echo__echo\n    args: {text: hi}\n    depends_on: [b]\n  - id: b\n    tool: echo__echo\n    args: {text: \"${steps.a.text}\"}\n  - id: c\n    tool: echo__nope\n  - id: d\n    tool: echo__add\n    args: {a: one, b: 2}\n",
    )?;
    let polyclaw = |args: &[&str]| -> Result<std::process::Output> {
        Ok(Command::new(bin("polyclaw")?)
            .arg("--config")
            .arg(&config.path)
            .args(args)
            .env("RUST_LOG", "error")
            .output()?)
    };
    let out = polyclaw(&["plan", "validate", &broken.to_string_lossy()])?;
    ensure!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(text.contains("cycle") || text.contains("Cycle"), "{text}");
    ensure!(
        text.contains("steps[2].tool") && text.contains("echo__nope"),
        "{text}"
    );
    ensure!(text.contains("steps[3].args"), "{text}");

    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        json!({"goal": "cli run", "steps": [
            {"id": "a", "tool": "echo__add", "args": {"a": 1, "b": 2}},
            {"id": "b", "tool": "other__echo", "args": {"text": "sum ${steps.a.result.structuredContent.sum}"}}
        ]})
        .to_string(),
    )?;
    let out = polyclaw(&["plan", "show", &good.to_string_lossy()])?;
    ensure!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    ensure!(
        shown.contains("level 1") && shown.contains("← a"),
        "{shown}"
    );
    let out = polyclaw(&["plan", "run", &good.to_string_lossy(), "--json"])?;
    ensure!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(
        step(&report, "b")?["result"]["structuredContent"]["text"] == "sum 3",
        "{report}"
    );
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("step a started"),
        "live progress on stderr"
    );
    let out = polyclaw(&["runs", "list"])?;
    let listed = String::from_utf8_lossy(&out.stdout);
    ensure!(
        listed.contains("succeeded") && listed.contains("cli run"),
        "{listed}"
    );
    let id = listed
        .split_whitespace()
        .next()
        .context("a run id")?
        .to_string();
    let out = polyclaw(&["runs", "show", &id])?;
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("other__echo"),
        "{out:?}"
    );
    Ok(())
}

/// `polyclaw runs show ID --svg FILE` draws a kept run: a box per step coloured by its state,
/// an edge per dependency (`depends_on` and bindings alike).
#[test]
fn a_kept_run_is_drawn_as_svg() -> Result<()> {
    let config = TestConfig::new("[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n")?;
    let plan = config.dir.path().join("plan.json");
    std::fs::write(
        &plan,
        serde_json::json!({
            "goal": "draw me",
            "steps": [
                {"id": "first", "tool": "echo__echo", "args": {"text": "one"}},
                {"id": "second", "tool": "echo__echo", "args": {"text": "${steps.first.text}"}},
                {"id": "broken", "tool": "echo__fail", "args": {"message": "no"}, "depends_on": ["first"]},
                {"id": "after_broken", "tool": "echo__echo", "args": {"text": "x"}, "depends_on": ["broken"]}
            ]
        })
        .to_string(),
    )?;
    let ran = polyclaw_cli(&config.path, &["plan", "run", &plan.to_string_lossy()])?;
    let stderr = String::from_utf8_lossy(&ran.stderr);
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .with_context(|| format!("the run is kept: {stderr}"))?
        .to_string();
    let svg = config.dir.path().join("run.svg");
    let shown = polyclaw_cli(
        &config.path,
        &["runs", "show", &id, "--svg", &svg.to_string_lossy()],
    )?;
    ensure!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let picture = std::fs::read_to_string(&svg)?;
    ensure!(picture.starts_with("<svg") && picture.ends_with("</svg>"));
    ensure!(picture.matches("<g class=\"step").count() == 4, "{picture}");
    ensure!(picture.matches("class=\"edge\"").count() == 3, "{picture}");
    for (step, state) in [
        ("first", "succeeded"),
        ("second", "succeeded"),
        ("broken", "failed"),
        ("after_broken", "skipped"),
    ] {
        ensure!(
            picture.contains(&format!("<g class=\"step {state}\" data-step=\"{step}\">")),
            "{step} is drawn {state}: {picture}"
        );
    }
    Ok(())
}
