//! The mesh end to end: a real Python MCP client (the official SDK) talks to `polyclaw serve`
//! over stdio and over HTTP, in front of real downstream servers: our rmcp echo server and the
//! PyPI servers `mcp-server-time` and `mcp-server-git`.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use polyclaw_tests::python::run_mcp_client;
use polyclaw_tests::support::{
    Polyclaw, TestConfig, bin, first_text, git_repo, ok_result, process_alive, tool_names,
};
use serde_json::{Value, json};

fn three_servers(repo: &std::path::Path) -> Result<TestConfig> {
    TestConfig::new(&format!(
        r#"
[servers.echo]
command = "{{bin}}/polyclaw-server-echo"

[servers.time]
command = "{{python}}"
args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]

[servers.git]
command = "{{python}}"
args = ["-m", "mcp_server_git", "--repository", "{}"]
"#,
        repo.display()
    ))
}

fn stdio_front(config: &TestConfig, extra: &[&str]) -> Result<Vec<String>> {
    let mut args: Vec<String> = extra.iter().map(|s| (*s).to_string()).collect();
    args.extend([
        "--stdio".into(),
        "--".into(),
        bin("polyclaw")?.to_string_lossy().into_owned(),
        "--config".into(),
        config.path.to_string_lossy().into_owned(),
        "serve".into(),
    ]);
    Ok(args)
}

#[test]
fn stdio_front_lists_and_routes_across_servers() -> Result<()> {
    let repo = git_repo()?;
    let config = three_servers(repo.path())?;
    let repo_path = repo.path().to_string_lossy().into_owned();
    let ops = json!([
        {"op": "session"},
        {"op": "list_tools"},
        {"op": "call_tool", "name": "echo__echo", "arguments": {"text": "hi there"}},
        {"op": "call_tool", "name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
        {"op": "call_tool", "name": "git__git_status", "arguments": {"repo_path": repo_path}},
        {"op": "call_tool", "name": "nope__nothing", "arguments": {}},
        {"op": "call_tool", "name": "polyclaw__find_tools", "arguments": {"query": "current time in a timezone"}},
        {"op": "call_tool", "name": "echo__progress", "arguments": {"steps": 3}, "progress": true},
        {"op": "list_resources"},
        {"op": "read_resource", "uri": "echo://items/7"},
        {"op": "list_prompts"},
        {"op": "get_prompt", "name": "echo__greet", "arguments": {"name": "Ada"}},
        {"op": "call_tool", "name": "echo__sample", "arguments": {"prompt": "plan my day"}},
        {"op": "call_tool", "name": "echo__add", "arguments": {"a": "one", "b": 2}},
    ]);
    let out = run_mcp_client(
        stdio_front(&config, &["--sampling-reply", "a day well planned"])?,
        &ops,
    )?;
    let session = ok_result(&out[0], "session")?;
    ensure!(session["serverInfo"]["name"] == "polyclaw", "{session}");

    let names = tool_names(ok_result(&out[1], "list_tools")?);
    for expected in [
        "echo__echo",
        "time__get_current_time",
        "git__git_status",
        "polyclaw__find_tools",
        "polyclaw__list_servers",
        "polyclaw__add_server",
        "polyclaw__remove_server",
        "polyclaw__call_tool",
    ] {
        ensure!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    ensure!(
        first_text(ok_result(&out[2], "call_tool")?) == "hi there",
        "{}",
        out[2]
    );
    let time = ok_result(&out[3], "call_tool")?;
    ensure!(time["structuredContent"]["timezone"] == "UTC", "{time}");
    let status = first_text(ok_result(&out[4], "call_tool")?);
    ensure!(
        status.contains("new.txt"),
        "git status should show the untracked file: {status}"
    );

    ensure!(out[5]["ok"] == false, "unknown tool must fail: {}", out[5]);
    ensure!(out[5]["error"]["code"] == -32602, "{}", out[5]);
    let message = out[5]["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("nope__nothing") && message.contains("find_tools"),
        "{message}"
    );

    let found = ok_result(&out[6], "call_tool")?;
    ensure!(
        found["structuredContent"]["tools"][0]["name"] == "time__get_current_time",
        "{found}"
    );

    let progress = &out[7];
    ensure!(progress["ok"] == true, "{progress}");
    let values: Vec<f64> = progress["progress"]
        .as_array()
        .context("no progress list")?
        .iter()
        .filter_map(|p| p["progress"].as_f64())
        .collect();
    ensure!(
        values == [1.0, 2.0, 3.0],
        "all progress arrives, in order, before the result: {progress}"
    );

    let resources = ok_result(&out[8], "list_resources")?;
    ensure!(resources.to_string().contains("echo://info"), "{resources}");
    let item = ok_result(&out[9], "read_resource")?;
    ensure!(item["contents"][0]["text"] == "item 7", "{item}");

    let prompts = ok_result(&out[10], "list_prompts")?;
    ensure!(prompts.to_string().contains("echo__greet"), "{prompts}");
    let prompt = ok_result(&out[11], "get_prompt")?;
    ensure!(prompt.to_string().contains("Hello, Ada!"), "{prompt}");

    let sampled = ok_result(&out[12], "call_tool")?;
    ensure!(
        first_text(sampled).contains("a day well planned"),
        "sampling must reach the client through the mesh: {sampled}"
    );
    let bad = &out[13];
    let rejected = bad["ok"] == false || bad["result"]["isError"] == true;
    ensure!(rejected, "wrong argument types must be rejected: {bad}");
    Ok(())
}

#[test]
fn http_front_serves_both_protocol_eras() -> Result<()> {
    let repo = git_repo()?;
    let config = three_servers(repo.path())?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "session"},
        {"op": "list_tools"},
        {"op": "call_tool", "name": "time__get_current_time", "arguments": {"timezone": "Europe/Paris"}},
        {"op": "call_tool", "name": "echo__add", "arguments": {"a": 2, "b": 40}},
    ]);
    for mode in ["legacy", "auto"] {
        let out = run_mcp_client(["--mode", mode, "--http", &polyclaw.url], &ops)?;
        let session = ok_result(&out[0], "session")?;
        if mode == "legacy" {
            ensure!(session["protocolVersion"] == "2025-11-25", "{session}");
        } else {
            ensure!(session["protocolVersion"] == "2026-07-28", "{session}");
        }
        let names = tool_names(ok_result(&out[1], "list_tools")?);
        ensure!(names.contains(&"git__git_log"), "{mode}: {names:?}");
        let time = ok_result(&out[2], "call_tool")?;
        ensure!(
            time["structuredContent"]["timezone"] == "Europe/Paris",
            "{mode}: {time}"
        );
        let sum = ok_result(&out[3], "call_tool")?;
        ensure!(
            sum["structuredContent"]["sum"].as_f64() == Some(42.0),
            "{mode}: {sum}"
        );
    }
    Ok(())
}

#[test]
fn crashed_server_is_restarted_and_others_keep_working() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.echo]
command = "{bin}/polyclaw-server-echo"

[servers.time]
command = "{python}"
args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "echo__pid", "arguments": {}},
        {"op": "call_tool", "name": "echo__crash", "arguments": {}},
        {"op": "call_tool", "name": "echo__echo", "arguments": {"text": "too soon"}},
        {"op": "call_tool", "name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
        {"op": "sleep", "seconds": 2.0},
        {"op": "call_tool", "name": "echo__pid", "arguments": {}},
        {"op": "call_tool", "name": "polyclaw__list_servers", "arguments": {}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let pid_before = first_text(ok_result(&out[0], "call_tool")?).to_string();
    let crash = ok_result(&out[1], "call_tool")?;
    ensure!(
        crash["isError"] == true,
        "a crash mid-call is a tool error: {crash}"
    );
    let message = first_text(crash);
    ensure!(
        message.contains("echo") && message.contains("crash"),
        "{message}"
    );
    let time = ok_result(&out[3], "call_tool")?;
    ensure!(
        time["isError"] == false,
        "the time server is unaffected: {time}"
    );
    let soon = ok_result(&out[2], "call_tool")?;
    ensure!(
        soon["isError"] == true && first_text(soon).contains("restarts it"),
        "a call while the server restarts says so: {soon}"
    );
    let pid_after = first_text(ok_result(&out[5], "call_tool")?).to_string();
    ensure!(
        pid_before != pid_after,
        "a new process serves after the restart ({pid_before})"
    );
    ensure!(
        !process_alive(pid_before.parse()?),
        "the crashed process was reaped"
    );
    let servers = ok_result(&out[6], "call_tool")?;
    let echo = servers["structuredContent"]["servers"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "echo"))
        .context("echo listed")?;
    ensure!(echo["status"] == "ready", "{echo}");
    Ok(())
}

#[test]
fn runtime_add_remove_and_downstream_list_changes_reach_the_client() -> Result<()> {
    // A client may add a server that runs on the host only when the policy names its command.
    let config = TestConfig::new(
        r#"
[policy]
autonomy = "full"
host_commands = ["{bin}/polyclaw-server-echo"]

[servers.echo]
command = "{bin}/polyclaw-server-echo"
start = "boot"
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let echo_bin = bin("polyclaw-server-echo")?.to_string_lossy().into_owned();
    let ops = json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "polyclaw__add_server", "arguments": {"name": "extra", "command": echo_bin, "args": ["--name", "extra"]}},
        {"op": "wait_tools_changed", "timeout": 10},
        {"op": "list_tools"},
        {"op": "call_tool", "name": "extra__echo", "arguments": {"text": "from extra"}},
        {"op": "call_tool", "name": "polyclaw__remove_server", "arguments": {"name": "extra"}},
        {"op": "wait_tools_changed", "timeout": 10},
        {"op": "list_tools"},
        {"op": "call_tool", "name": "echo__add_tool", "arguments": {"name": "shiny"}},
        {"op": "wait_tools_changed", "timeout": 10},
        {"op": "list_tools"},
        {"op": "call_tool", "name": "echo__shiny", "arguments": {"x": 1}},
        {"op": "call_tool", "name": "polyclaw__add_server", "arguments": {"name": "echo", "command": echo_bin}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let before = tool_names(ok_result(&out[0], "list_tools")?);
    ensure!(!before.contains(&"extra__echo"), "{before:?}");
    let added = ok_result(&out[1], "call_tool")?;
    ensure!(added["isError"] == false, "{added}");
    ok_result(&out[2], "wait_tools_changed")?;
    ensure!(tool_names(ok_result(&out[3], "list_tools")?).contains(&"extra__echo"));
    ensure!(first_text(ok_result(&out[4], "call_tool")?) == "from extra");
    ensure!(
        ok_result(&out[5], "call_tool")?["isError"] == false,
        "{}",
        out[5]
    );
    ok_result(&out[6], "wait_tools_changed")?;
    ensure!(!tool_names(ok_result(&out[7], "list_tools")?).contains(&"extra__echo"));
    ok_result(&out[9], "wait_tools_changed")?;
    ensure!(
        tool_names(ok_result(&out[10], "list_tools")?).contains(&"echo__shiny"),
        "{}",
        out[10]
    );
    ensure!(
        ok_result(&out[11], "call_tool")?["isError"] == false,
        "{}",
        out[11]
    );
    let dup = ok_result(&out[12], "call_tool")?;
    ensure!(
        dup["isError"] == true && first_text(dup).contains("already exists"),
        "{dup}"
    );
    Ok(())
}

#[test]
fn sigterm_stops_every_child() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.echo]
command = "{bin}/polyclaw-server-echo"
start = "boot"

[servers.time]
command = "{python}"
args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
start = "boot"
"#,
    )?;
    let mut polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "call_tool", "name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
        {"op": "call_tool", "name": "polyclaw__list_servers", "arguments": {}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let servers = ok_result(&out[1], "call_tool")?["structuredContent"]["servers"].clone();
    let pids: Vec<u32> = servers
        .as_array()
        .context("servers")?
        .iter()
        .filter_map(|s| s["pid"].as_u64())
        .filter_map(|p| u32::try_from(p).ok())
        .collect();
    ensure!(pids.len() == 2, "both servers run: {servers}");
    ensure!(pids.iter().all(|p| process_alive(*p)));
    let status = polyclaw.terminate(Duration::from_secs(8))?;
    ensure!(
        status.success(),
        "polyclaw exits cleanly on SIGTERM: {status}"
    );
    for pid in pids {
        ensure!(!process_alive(pid), "child {pid} outlived polyclaw");
    }
    Ok(())
}

#[test]
fn expose_search_keeps_the_tool_surface_small() -> Result<()> {
    let config = TestConfig::new(
        r#"
[front]
expose = "search"

[servers.echo]
command = "{bin}/polyclaw-server-echo"
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let ops = json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "polyclaw__find_tools", "arguments": {"query": "add two numbers"}},
        {"op": "call_tool", "name": "polyclaw__call_tool", "arguments": {"name": "echo__add", "arguments": {"a": 1, "b": 2}}},
    ]);
    let out = run_mcp_client(["--http", &polyclaw.url], &ops)?;
    let names = tool_names(ok_result(&out[0], "list_tools")?);
    ensure!(
        names.iter().all(|n| n.starts_with("polyclaw__")),
        "{names:?}"
    );
    let found = ok_result(&out[1], "call_tool")?;
    ensure!(
        found["structuredContent"]["tools"][0]["name"] == "echo__add",
        "{found}"
    );
    let sum: &Value = ok_result(&out[2], "call_tool")?;
    ensure!(
        sum["structuredContent"]["sum"].as_f64() == Some(3.0),
        "{sum}"
    );
    Ok(())
}

#[test]
fn sigkill_mid_call_fails_that_call_only_and_the_server_comes_back() -> Result<()> {
    let config = TestConfig::new(
        r#"
[servers.victim]
command = "{bin}/polyclaw-server-echo"

[servers.other]
command = "{bin}/polyclaw-server-echo"
"#,
    )?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let url = polyclaw.url.clone();
    let out = run_mcp_client(
        ["--http", &url],
        &json!([{"op": "call_tool", "name": "victim__pid", "arguments": {}}]),
    )?;
    let pid: i32 = first_text(ok_result(&out[0], "call_tool")?).parse()?;
    let caller = std::thread::spawn(move || {
        run_mcp_client(
            ["--http", &url],
            &json!([
                {"op": "call_tool", "name": "victim__sleep", "arguments": {"ms": 20000}},
                {"op": "call_tool", "name": "other__echo", "arguments": {"text": "unaffected"}},
            ]),
        )
    });
    // Kill it only once the call is in flight (the server logs it; polyclaw keeps the log).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !polyclaw
        .log
        .lock()
        .is_ok_and(|l| l.contains("sleeping ms=20000"))
    {
        ensure!(
            std::time::Instant::now() < deadline,
            "the call never reached the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let out = caller
        .join()
        .map_err(|_| anyhow::anyhow!("caller panicked"))??;
    let killed = ok_result(&out[0], "call_tool")?;
    ensure!(
        killed["isError"] == true && first_text(killed).contains("victim"),
        "the call in flight fails with an error naming the server: {killed}"
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "unaffected");
    std::thread::sleep(Duration::from_secs(2));
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([{"op": "call_tool", "name": "victim__pid", "arguments": {}}]),
    )?;
    let again: i32 = first_text(ok_result(&out[0], "call_tool")?).parse()?;
    ensure!(again != pid, "a new process serves after SIGKILL");
    Ok(())
}
