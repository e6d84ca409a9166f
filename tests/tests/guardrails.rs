//! Guardrails end to end, with real clients: the Python SDK client asked by elicitation (it
//! approves one `add_server` and declines another), a client that cannot be asked (its call
//! waits in the approvals queue until `polyclaw approvals approve` releases it; an
//! unanswered one expires to deny), nothing running on the host before approval (marker
//! files), a destructive tool asking while a read-only one does not, a `deny` rule, a plan
//! asking once for its two destructive steps, a `judge` rule answered by the client's model
//! through sampling, a configured secret never leaving polyclaw, every one of these in
//! `polyclaw audit`, and `serve --http` on a public address refusing to start without a token.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use polyclaw_tests::python::run_mcp_client;
use polyclaw_tests::support::{Polyclaw, TestConfig, bin, first_text, polyclaw_cli};
use serde_json::{Value, json};

fn guarded(policy: &str, servers: &str) -> Result<TestConfig> {
    TestConfig::new(&format!(
        "[policy]\n{policy}\n\n[servers.echo]\ncommand = \"{{bin}}/polyclaw-server-echo\"\n{servers}"
    ))
}

/// The text of a `call_tool` line's result, or its error's message.
fn said(line: &Value) -> String {
    if line["ok"] == true {
        first_text(&line["result"]).to_string()
    } else {
        line["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn is_error(line: &Value) -> bool {
    line["ok"] != true || line["result"]["isError"] == true
}

/// `polyclaw audit --json` as entries.
fn audit(config: &TestConfig) -> Result<Vec<Value>> {
    let out = polyclaw_cli(&config.path, &["audit", "--json"])?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).context("an audit line is JSON"))
        .collect()
}

fn audited<'a>(entries: &'a [Value], kind: &str, tool: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == kind && e["tool"] == tool)
        .collect()
}

fn add_server_args(name: &str, marker: &Path) -> Value {
    json!({"name": name, "command": "sh", "args": ["-c", format!("touch {}", marker.display())]})
}

#[test]
fn a_person_approves_one_add_server_by_elicitation_and_declines_another() -> Result<()> {
    let config = guarded("host_commands = [\"sh\"]", "")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let (yes, no) = (
        config.dir.path().join("approved"),
        config.dir.path().join("declined"),
    );
    let ops = json!([
        {"op": "call_tool", "name": "polyclaw__add_server", "arguments": add_server_args("one", &yes)},
        {"op": "call_tool", "name": "polyclaw__add_server", "arguments": add_server_args("two", &no)},
        {"op": "server_requests"},
    ]);
    let out = run_mcp_client(
        [
            "--http",
            &polyclaw.url,
            "--elicit-replies",
            r#"[{"action": "accept", "content": {}}, {"action": "decline"}]"#,
        ],
        &ops,
    )?;
    // The first was approved: its command ran (it is no MCP server, so the add then fails).
    std::thread::sleep(Duration::from_millis(500));
    ensure!(yes.exists(), "the approved command ran: {}", out[0]);
    ensure!(!no.exists(), "the declined command never ran");
    ensure!(
        is_error(&out[1]) && said(&out[1]).contains("declined"),
        "the model hears it was declined: {}",
        out[1]
    );
    let asked = out[2]["result"].as_array().context("server requests")?;
    ensure!(asked.len() == 2, "asked twice: {asked:?}");
    let message = asked[0]["params"]["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("polyclaw__add_server") && message.contains("touch"),
        "the person sees the tool and its arguments: {message}"
    );
    let entries = audit(&config)?;
    let approvals = audited(&entries, "approval", "polyclaw__add_server");
    ensure!(
        approvals.iter().any(|e| e["decision"] == "approved")
            && approvals.iter().any(|e| e["decision"] == "denied"),
        "both decisions are in the audit trail: {approvals:?}"
    );
    Ok(())
}

#[test]
fn a_client_that_cannot_be_asked_waits_for_polyclaw_approvals() -> Result<()> {
    let config = guarded("host_commands = [\"sh\"]\napproval_timeout = 600", "")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let marker = config.dir.path().join("ran");
    let call = json!([{"op": "call_tool", "name": "polyclaw__add_server",
        "arguments": add_server_args("later", &marker)}]);
    let first = run_mcp_client(["--http", &polyclaw.url], &call)?;
    let text = said(&first[0]);
    ensure!(is_error(&first[0]), "{}", first[0]);
    ensure!(
        text.contains("polyclaw approvals approve"),
        "the model is told what to tell the user: {text}"
    );
    ensure!(!marker.exists(), "nothing ran before approval");
    let listed = polyclaw_cli(&config.path, &["approvals", "list", "--json"])?;
    let pending: Value = serde_json::from_slice(&listed.stdout)?;
    let id = pending[0]["id"].as_str().context("one pending approval")?;
    ensure!(
        text.contains(id),
        "the error names the approval {id}: {text}"
    );
    // Asking again before a decision finds the same approval, still nothing runs.
    let again = run_mcp_client(["--http", &polyclaw.url], &call)?;
    ensure!(said(&again[0]).contains(id) && !marker.exists());
    let approved = polyclaw_cli(&config.path, &["approvals", "approve", id])?;
    ensure!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let released = run_mcp_client(["--http", &polyclaw.url], &call)?;
    std::thread::sleep(Duration::from_millis(500));
    ensure!(marker.exists(), "approved, the call ran: {}", released[0]);
    let twice = polyclaw_cli(&config.path, &["approvals", "approve", id])?;
    ensure!(
        !twice.status.success(),
        "a decided approval cannot be decided again"
    );
    Ok(())
}

#[test]
fn an_undecided_approval_expires_to_deny() -> Result<()> {
    let config = guarded("approval_timeout = 0.5", "")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    // echo__add_tool is not read-only: under the default autonomy it asks.
    let call =
        json!([{"op": "call_tool", "name": "echo__add_tool", "arguments": {"name": "late"}}]);
    let first = run_mcp_client(["--http", &polyclaw.url], &call)?;
    ensure!(
        said(&first[0]).contains("polyclaw approvals approve"),
        "{}",
        first[0]
    );
    std::thread::sleep(Duration::from_millis(800));
    let expired = run_mcp_client(["--http", &polyclaw.url], &call)?;
    ensure!(
        is_error(&expired[0]) && said(&expired[0]).contains("expired"),
        "an expired approval denies: {}",
        expired[0]
    );
    Ok(())
}

#[test]
fn destructive_tools_ask_read_only_ones_run_and_deny_rules_block() -> Result<()> {
    let config = guarded(
        "[[policy.rules]]\ntools = [\"echo__fail\"]\naction = \"deny\"\nreason = \"no failures today\"",
        "",
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "echo__echo", "arguments": {"text": "read-only runs"}},
        {"op": "call_tool", "name": "echo__crash", "arguments": {}},
        {"op": "call_tool", "name": "echo__fail", "arguments": {"message": "x"}},
        {"op": "call_tool", "name": "echo__pid", "arguments": {}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    ensure!(said(&out[0]) == "read-only runs", "{}", out[0]);
    ensure!(
        is_error(&out[1]) && said(&out[1]).contains("approval"),
        "a destructive tool asks (no elicitation here: it waits in the queue): {}",
        out[1]
    );
    ensure!(
        is_error(&out[2]) && said(&out[2]).contains("no failures today"),
        "a deny rule blocks with its reason: {}",
        out[2]
    );
    ensure!(!is_error(&out[3]), "the server never crashed: {}", out[3]);
    let entries = audit(&config)?;
    let decisions: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e["kind"] == "call")
        .map(|e| {
            (
                e["tool"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{}/{}",
                    e["decision"].as_str().unwrap_or("?"),
                    e["outcome"].as_str().unwrap_or("?")
                ),
            )
        })
        .collect();
    for expected in [
        ("echo__echo", "allow/ok"),
        ("echo__crash", "ask/pending"),
        ("echo__fail", "deny/denied"),
    ] {
        ensure!(
            decisions
                .iter()
                .any(|(t, d)| t == expected.0 && d == expected.1),
            "audit has {expected:?}: {decisions:?}"
        );
    }
    Ok(())
}

#[test]
fn a_plan_asks_once_for_all_its_destructive_steps() -> Result<()> {
    let config = guarded("", "")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let plan = json!({
        "goal": "two tools added",
        "steps": [
            {"id": "a", "tool": "echo__add_tool", "args": {"name": "first"}},
            {"id": "b", "tool": "echo__add_tool", "args": {"name": "second"}, "depends_on": ["a"]},
            {"id": "c", "tool": "echo__echo", "args": {"text": "done"}, "depends_on": ["b"]}
        ]
    });
    let ops = json!([
        {"op": "call_tool", "name": "polyclaw__run_plan", "arguments": {"plan": plan}},
        {"op": "server_requests"},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url, "--elicit-reply", "{}"], &ops)?;
    ensure!(!is_error(&out[0]), "the approved plan ran: {}", out[0]);
    let asked = out[1]["result"].as_array().context("server requests")?;
    ensure!(
        asked.len() == 1,
        "one question for the whole plan: {asked:?}"
    );
    let message = asked[0]["params"]["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("echo__add_tool") && message.contains("2 step"),
        "it lists the steps that need approval: {message}"
    );
    Ok(())
}

#[test]
fn a_judge_rule_is_answered_by_the_clients_model() -> Result<()> {
    let config = guarded(
        "[[policy.rules]]\ntools = [\"echo__add_tool\"]\naction = \"judge\"\nreason = \"new tools change the surface\"",
        "",
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let call = json!([
        {"op": "call_tool", "name": "echo__add_tool", "arguments": {"name": "judged"}},
        {"op": "server_requests"},
    ]);
    let allowed = run_mcp_client(
        [
            "--http",
            &polyclaw.url,
            "--sampling-reply",
            "ALLOW\nthe goal needs it",
        ],
        &call,
    )?;
    ensure!(!is_error(&allowed[0]), "{}", allowed[0]);
    let prompt = allowed[1]["result"][0]["params"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(
        prompt.contains("echo__add_tool") && prompt.contains("new tools change the surface"),
        "the model sees the call and the rule: {prompt}"
    );
    let denied = run_mcp_client(
        [
            "--http",
            &polyclaw.url,
            "--sampling-reply",
            "DENY: not needed for the goal",
        ],
        &call,
    )?;
    ensure!(
        is_error(&denied[0]) && said(&denied[0]).contains("not needed for the goal"),
        "the model's reason reaches the caller: {}",
        denied[0]
    );
    Ok(())
}

#[test]
fn a_configured_secret_never_leaves_polyclaw() -> Result<()> {
    let secret = "hunter2-very-secret-value";
    let config = TestConfig::new(&format!(
        "[policy]\nautonomy = \"full\"\n\n[audit]\narguments = true\n\n\
         [servers.echo]\ncommand = \"{{bin}}/polyclaw-server-echo\"\nenv = {{ API_TOKEN = \"{secret}\" }}\n"
    ))?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "echo__env", "arguments": {"name": "API_TOKEN"}},
        {"op": "call_tool", "name": "echo__echo", "arguments": {"text": format!("it is {secret}")}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    for line in &out {
        ensure!(!line.to_string().contains(secret), "leaked: {line}");
    }
    ensure!(said(&out[0]).contains("[redacted:API_TOKEN]"), "{}", out[0]);
    let trail = std::fs::read_to_string(config.dir.path().join("state/polyclaw/audit.jsonl"))
        .or_else(|_| std::fs::read_to_string(config.dir.path().join("state/audit.jsonl")))
        .unwrap_or_default();
    let log = polyclaw.log.lock().map(|l| l.clone()).unwrap_or_default();
    ensure!(!trail.contains(secret), "not in the audit trail");
    ensure!(!log.contains(secret), "not in the log");
    Ok(())
}

#[test]
fn serve_http_on_a_public_address_without_a_token_refuses_to_start() -> Result<()> {
    let config = guarded("", "")?;
    let out = Command::new(bin("polyclaw")?)
        .arg("--config")
        .arg(&config.path)
        .args(["serve", "--http", "0.0.0.0:0"])
        .env("XDG_STATE_HOME", config.dir.path().join("state"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "it must not start: {stderr}");
    ensure!(
        stderr.contains("--token") && stderr.contains("--insecure-no-auth"),
        "the error names the fix: {stderr}"
    );
    Ok(())
}

#[test]
fn a_2026_07_28_client_is_asked_with_input_required() -> Result<()> {
    let config = guarded("", "")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "echo__add_tool", "arguments": {"name": "yes"}},
        {"op": "call_tool", "name": "echo__add_tool", "arguments": {"name": "no"}},
        {"op": "server_requests"},
    ]);
    let out = run_mcp_client(
        [
            "--http",
            &polyclaw.url,
            "--mode",
            "2026-07-28",
            "--elicit-replies",
            r#"[{"action": "accept", "content": {}}, {"action": "decline"}]"#,
        ],
        &ops,
    )?;
    ensure!(!is_error(&out[0]), "approved, it ran: {}", out[0]);
    ensure!(
        is_error(&out[1]) && said(&out[1]).contains("declined"),
        "declined, it did not: {}",
        out[1]
    );
    let asked = out[2]["result"].as_array().context("server requests")?;
    ensure!(asked.len() == 2, "asked once per call: {asked:?}");
    ensure!(
        asked[0]["params"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("echo__add_tool")),
        "{asked:?}"
    );
    let entries = audit(&config)?;
    let calls = audited(&entries, "call", "echo__add_tool");
    ensure!(
        calls.iter().any(|e| e["outcome"] == "ok")
            && calls.iter().any(|e| e["outcome"] == "denied"),
        "{calls:?}"
    );
    Ok(())
}

#[test]
fn a_killed_polyclaw_loses_no_audit_line_of_an_answered_call() -> Result<()> {
    let config = guarded("autonomy = \"full\"", "")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops: Vec<Value> = (0..20)
        .map(|i| json!({"op": "call_tool", "name": "echo__echo", "arguments": {"text": format!("n{i}")}}))
        .collect();
    let out = run_mcp_client(["--http", &polyclaw.url], &Value::Array(ops))?;
    ensure!(out.iter().all(|l| !is_error(l)), "{out:?}");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(polyclaw.pid())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)?;
    std::thread::sleep(Duration::from_millis(200));
    let entries = audit(&config)?;
    let answered = audited(&entries, "call", "echo__echo");
    ensure!(
        answered.len() == 20
            && answered
                .iter()
                .all(|e| e["outcome"] == "ok" && e["ms"].is_number()),
        "every answered call has its line after kill -9: {} of 20",
        answered.len()
    );
    Ok(())
}
