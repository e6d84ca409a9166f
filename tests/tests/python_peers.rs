//! The Python peers work on their own, without polyclaw: the venv builds, and the client driver
//! `tests/py/mcp_client.py` talks to the PyPI servers `mcp-server-time` and `mcp-server-git` over
//! stdio, in both protocol eras.

use std::path::Path;
use std::process::Command;
use std::thread;

use anyhow::{Context as _, Result, ensure};
use polyclaw_tests::python::{self, python, run_mcp_client};
use polyclaw_tests::support::{ok_result, tool_names};
use serde_json::{Value, json};

/// Driver arguments that spawn `python -m MODULE ARGS...` over stdio, with `extra` options first.
fn stdio_args(extra: &[&str], module: &str, module_args: &[&str]) -> Result<Vec<String>> {
    let python = python()?.to_string_lossy().into_owned();
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend([
        "--stdio".into(),
        "--".into(),
        python,
        "-m".into(),
        module.into(),
    ]);
    args.extend(module_args.iter().map(|s| s.to_string()));
    Ok(args)
}

/// Checks a `get_current_time` result for `{"timezone": "UTC"}`.
fn check_utc_time(result: &Value) -> Result<()> {
    ensure!(result["isError"] == false, "tool error: {result}");
    let structured = &result["structuredContent"];
    ensure!(structured["timezone"] == "UTC", "{result}");
    let datetime = structured["datetime"].as_str().context("no datetime")?;
    ensure!(datetime.ends_with("+00:00"), "not a UTC time: {datetime}");
    let text = result["content"][0]["text"].as_str().context("no text")?;
    let from_text: Value = serde_json::from_str(text).context("text content is not JSON")?;
    ensure!(from_text["datetime"] == datetime, "{result}");
    Ok(())
}

#[test]
fn venv_is_shared_between_threads() -> Result<()> {
    let paths = thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(python)).collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("thread panicked"))?)
            .collect::<Result<Vec<_>>>()
    })?;
    ensure!(paths.windows(2).all(|w| w[0] == w[1]), "{paths:?}");
    ensure!(paths[0].starts_with(python::venv_dir()), "{paths:?}");
    let output = Command::new(&paths[0])
        .args(["-c", "import mcp, mcp_server_time, mcp_server_git"])
        .output()?;
    ensure!(output.status.success(), "{output:?}");
    Ok(())
}

#[test]
fn time_server_over_stdio() -> Result<()> {
    let ops = json!([
        {"op": "session"},
        {"op": "list_tools"},
        {"op": "call_tool", "name": "get_current_time", "arguments": {"timezone": "UTC"}},
        {"op": "call_tool", "name": "get_current_time", "arguments": {"timezone": "Not/AZone"}},
        {"op": "call_tool", "name": "no_such_tool", "arguments": {}},
        {"op": "ping"},
    ]);
    let lines = run_mcp_client(stdio_args(&[], "mcp_server_time", &[])?, &ops)?;

    let session = ok_result(&lines[0], "session")?;
    ensure!(session["protocolVersion"] == "2025-11-25", "{session}");
    ensure!(session["serverInfo"]["name"] == "mcp-time", "{session}");

    let tools = ok_result(&lines[1], "list_tools")?;
    let names = tool_names(tools);
    ensure!(names.contains(&"get_current_time"), "{names:?}");

    check_utc_time(ok_result(&lines[2], "call_tool")?)?;

    let bad_zone = ok_result(&lines[3], "call_tool")?;
    ensure!(bad_zone["isError"] == true, "{bad_zone}");

    ensure!(lines[4]["ok"] == false, "{}", lines[4]);
    ensure!(lines[4]["error"]["code"] == -32602, "{}", lines[4]);

    ok_result(&lines[5], "ping")?;
    Ok(())
}

#[test]
fn time_server_speaks_2026_07_28() -> Result<()> {
    let ops = json!([
        {"op": "session"},
        {"op": "call_tool", "name": "get_current_time", "arguments": {"timezone": "UTC"}},
    ]);
    let lines = run_mcp_client(
        stdio_args(&["--mode", "auto"], "mcp_server_time", &[])?,
        &ops,
    )?;
    let session = ok_result(&lines[0], "session")?;
    ensure!(session["protocolVersion"] == "2026-07-28", "{session}");
    check_utc_time(ok_result(&lines[1], "call_tool")?)
}

#[test]
fn git_server_status() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = dir.path().canonicalize()?;
    git(&repo, &["init", "--quiet"])?;
    std::fs::write(repo.join("hello.txt"), "hello\n")?;
    let repo_str = repo.to_str().context("temp path is not UTF-8")?;

    let ops = json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "git_status", "arguments": {"repo_path": repo_str}},
        {"op": "call_tool", "name": "git_status", "arguments": {"repo_path": "/"}},
    ]);
    let args = stdio_args(&[], "mcp_server_git", &["--repository", repo_str])?;
    let lines = run_mcp_client(args, &ops)?;

    let names = tool_names(ok_result(&lines[0], "list_tools")?);
    ensure!(names.contains(&"git_status"), "{names:?}");

    let status = ok_result(&lines[1], "call_tool")?;
    ensure!(status["isError"] == false, "{status}");
    let text = status["content"][0]["text"].as_str().context("no text")?;
    ensure!(text.starts_with("Repository status:"), "{text}");
    ensure!(text.contains("hello.txt"), "untracked file missing: {text}");

    // Outside `--repository`: the server refuses.
    let outside = &lines[2];
    ensure!(
        outside["ok"] == false || outside["result"]["isError"] == true,
        "{outside}"
    );
    Ok(())
}

#[test]
fn driver_reports_connection_failure() -> Result<()> {
    let output = python::mcp_client_command(["--stdio", "--", "/nonexistent/mcp-server"])?
        .stdin(std::process::Stdio::null())
        .output()?;
    ensure!(
        output.status.code() == Some(2),
        "empty stdin is a usage error: {output:?}"
    );

    let result = run_mcp_client(["--stdio", "--", "/nonexistent/mcp-server"], &json!([]));
    let error = format!("{:#}", result.err().context("connecting should fail")?);
    ensure!(error.contains("could not open the session"), "{error}");
    Ok(())
}

/// Runs git in `repo`.
fn git(repo: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .status()?;
    ensure!(status.success(), "git {args:?} failed: {status}");
    Ok(())
}
