//! Runaway servers: one that floods stdout with garbage and one that writes a 100 MB line.
//! polyclaw's memory stays bounded (its peak resident set, VmHWM, is checked), the line is
//! refused at 16 MiB and its server dropped and restarted, and the other servers never notice.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use polyclaw_tests::python::run_mcp_client;
use polyclaw_tests::support::{Polyclaw, TestConfig, first_text, ok_result};
use serde_json::json;

const MIB: u64 = 1024 * 1024;

fn two_servers() -> Result<TestConfig> {
    TestConfig::new(
        r#"
[servers.victim]
command = "{bin}/polyclaw-server-echo"

[servers.other]
command = "{bin}/polyclaw-server-echo"
"#,
    )
}

/// The peak resident set of a process, in bytes (VmHWM in /proc/PID/status).
fn peak_rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("no VmHWM")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

fn victim_pid(polyclaw: &Polyclaw) -> Result<i64> {
    let out = run_mcp_client(
        ["--http", &polyclaw.url],
        &json!([{"op": "call_tool", "name": "victim__pid", "arguments": {}}]),
    )?;
    Ok(first_text(ok_result(&out[0], "call_tool")?).parse()?)
}

#[test]
fn a_100_mb_line_drops_its_server_and_memory_stays_bounded() -> Result<()> {
    let config = two_servers()?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let before = victim_pid(&polyclaw)?;
    let out = run_mcp_client(
        ["--http", &polyclaw.url, "--timeout", "60"],
        &json!([
            {"op": "call_tool", "name": "victim__spew", "arguments": {"line_bytes": 100 * MIB, "lines": 1}},
            {"op": "call_tool", "name": "other__echo", "arguments": {"text": "unaffected"}},
        ]),
    )?;
    let spewed = ok_result(&out[0], "call_tool")?;
    ensure!(
        spewed["isError"] == true && first_text(spewed).contains("victim"),
        "the call fails with an error naming the server: {spewed}"
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "unaffected");
    let peak = peak_rss(polyclaw.pid())?;
    ensure!(
        peak < 80 * MIB,
        "polyclaw never held the line: peak RSS {} MiB",
        peak / MIB
    );
    let log = polyclaw.log.lock().map(|l| l.clone()).unwrap_or_default();
    ensure!(
        log.contains("line longer than 16 MiB"),
        "the log says why the server was dropped:\n{log}"
    );
    // The supervisor starts it again (after its restart backoff).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match victim_pid(&polyclaw) {
            Ok(after) if after != before => break,
            _ if std::time::Instant::now() > deadline => {
                anyhow::bail!("the dropped server was not restarted")
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    }
    Ok(())
}

#[test]
fn a_flooding_server_is_read_through_and_memory_stays_bounded() -> Result<()> {
    let config = two_servers()?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let before = victim_pid(&polyclaw)?;
    // 64 MiB of garbage lines (not JSON): skipped one by one, never accumulated.
    let out = run_mcp_client(
        ["--http", &polyclaw.url, "--timeout", "120"],
        &json!([
            {"op": "call_tool", "name": "victim__spew", "arguments": {"line_bytes": 4096, "lines": 16384}},
            {"op": "call_tool", "name": "other__echo", "arguments": {"text": "unaffected"}},
        ]),
    )?;
    let spewed = ok_result(&out[0], "call_tool")?;
    ensure!(
        first_text(spewed) == "spewed",
        "the flood is read through and the answer after it arrives: {spewed}"
    );
    ensure!(first_text(ok_result(&out[1], "call_tool")?) == "unaffected");
    let peak = peak_rss(polyclaw.pid())?;
    ensure!(
        peak < 80 * MIB,
        "polyclaw did not accumulate the flood: peak RSS {} MiB",
        peak / MIB
    );
    ensure!(
        victim_pid(&polyclaw)? == before,
        "garbage lines alone do not drop a server"
    );
    Ok(())
}
