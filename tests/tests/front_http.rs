//! The HTTP front door's defences, probed with raw HTTP: malformed JSON-RPC, oversized bodies,
//! spoofed Origin and Host (DNS rebinding), bearer tokens. And the stdio front's handling of a
//! garbage line. Each answer must be a clear refusal, never a crash: the same polyclaw keeps
//! serving afterwards.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use polyclaw_tests::support::{Polyclaw, TestConfig, bin};
use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

fn echo_config(extra: &str) -> Result<TestConfig> {
    TestConfig::new(&format!(
        "{extra}\n[servers.echo]\ncommand = \"{{bin}}/polyclaw-server-echo\"\n"
    ))
}

fn post(url: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    polyclaw::tls::install_provider();
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .timeout(Duration::from_secs(20))
        .body(body)
}

/// The first JSON-RPC message of a response, whether JSON or SSE.
async fn first_message(response: reqwest::Response) -> Result<Value> {
    let text = response.text().await?;
    let json_text = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("data:")
                .map(str::trim)
                .filter(|d| !d.is_empty())
        })
        .unwrap_or(text.trim());
    serde_json::from_str(json_text).with_context(|| format!("not JSON-RPC: {text}"))
}

#[tokio::test]
async fn malformed_json_rpc_gets_a_json_rpc_error_and_the_server_lives_on() -> Result<()> {
    let config = echo_config("")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let r = post(&polyclaw.url, "{this is not json").send().await?;
    ensure!(r.status().is_client_error(), "status {}", r.status());
    let r = post(
        &polyclaw.url,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":"nope"}"#,
    )
    .send()
    .await?;
    let status = r.status();
    let body = r.text().await?;
    ensure!(
        status.is_client_error() || body.contains("\"error\""),
        "a wrong params type is refused: {status} {body}"
    );
    let r = post(&polyclaw.url, INIT).send().await?;
    ensure!(r.status().is_success(), "still serving: {}", r.status());
    let init = first_message(r).await?;
    ensure!(init["result"]["serverInfo"]["name"] == "polyclaw", "{init}");
    Ok(())
}

#[tokio::test]
async fn oversized_request_is_refused_with_413() -> Result<()> {
    let config = echo_config("[front]\nmax_request_bytes = 4096\n")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"{}","version":"0"}}}}}}"#,
        "x".repeat(10_000)
    );
    let r = post(&polyclaw.url, big).send().await?;
    ensure!(r.status() == 413, "status {}", r.status());
    let r = post(&polyclaw.url, INIT).send().await?;
    ensure!(
        r.status().is_success(),
        "small requests still pass: {}",
        r.status()
    );
    Ok(())
}

#[tokio::test]
async fn spoofed_origin_and_host_are_refused() -> Result<()> {
    let config = echo_config("[front]\nallowed_origins = [\"https://app.example.com\"]\n")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let r = post(&polyclaw.url, INIT)
        .header("origin", "http://evil.example")
        .send()
        .await?;
    ensure!(r.status() == 403, "foreign Origin: {}", r.status());
    let r = post(&polyclaw.url, INIT)
        .header("host", "evil.example")
        .send()
        .await?;
    ensure!(r.status().is_client_error(), "foreign Host: {}", r.status());
    for origin in ["http://localhost:3000", "https://app.example.com"] {
        let r = post(&polyclaw.url, INIT)
            .header("origin", origin)
            .send()
            .await?;
        ensure!(
            r.status().is_success(),
            "{origin} is allowed: {}",
            r.status()
        );
    }
    Ok(())
}

#[tokio::test]
async fn bearer_token_is_required_when_set() -> Result<()> {
    let config = echo_config("")?;
    let polyclaw = Polyclaw::start(&config.path, &["--token", "open-sesame"])?;
    let r = post(&polyclaw.url, INIT).send().await?;
    ensure!(r.status() == 401, "no token: {}", r.status());
    ensure!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await?;
    ensure!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Bearer"),
        "{body}"
    );
    let r = post(&polyclaw.url, INIT)
        .bearer_auth("wrong")
        .send()
        .await?;
    ensure!(r.status() == 401, "wrong token: {}", r.status());
    let r = post(&polyclaw.url, INIT)
        .bearer_auth("open-sesame")
        .send()
        .await?;
    ensure!(r.status().is_success(), "right token: {}", r.status());
    Ok(())
}

#[test]
fn stdio_front_answers_garbage_with_a_parse_error_and_keeps_going() -> Result<()> {
    let config = echo_config("")?;
    let mut child = Command::new(bin("polyclaw")?)
        .arg("--config")
        .arg(&config.path)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let stdout = BufReader::new(child.stdout.take().context("stdout")?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    writeln!(stdin, "{{garbage")?;
    writeln!(stdin, "{INIT}")?;
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )?;
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#)?;
    // An unknown method, arguments of the wrong type, an unknown tool: JSON-RPC errors.
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":3,"method":"no/such/method"}}"#
    )?;
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"echo__add","arguments":"not an object"}}}}"#
    )?;
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"nope__nothing","arguments":{{}}}}}}"#
    )?;
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"echo__add","arguments":{{"a":"one","b":2}}}}}}"#
    )?;
    stdin.flush()?;
    let mut seen: Vec<Value> = Vec::new();
    while !(2..=6).all(|id| seen.iter().any(|m| m["id"] == json!(id))) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .with_context(|| format!("no answer to tools/list; got {seen:?}"))?;
        seen.push(
            serde_json::from_str(&line)
                .with_context(|| format!("stdout carries only JSON-RPC: {line}"))?,
        );
    }
    drop(stdin);
    let status = child.wait()?;
    let ids: Vec<&Value> = seen.iter().map(|m| &m["id"]).collect();
    ensure!(
        seen.iter()
            .any(|m| m["error"]["code"] == -32700 && m["id"].is_null()),
        "the garbage line gets a parse error (ids seen: {ids:?})"
    );
    let init = seen
        .iter()
        .find(|m| m["id"] == json!(1))
        .context("initialize answered")?;
    ensure!(init["result"]["serverInfo"]["name"] == "polyclaw", "{init}");
    let answer = |id: i64| seen.iter().find(|m| m["id"] == json!(id));
    ensure!(
        answer(3).is_some_and(|m| m["error"]["code"] == -32601),
        "an unknown method is -32601: {:?}",
        answer(3)
    );
    for id in [4, 5] {
        ensure!(
            answer(id).is_some_and(|m| m["error"]["code"].as_i64().is_some_and(|c| c < 0)),
            "request {id} gets a JSON-RPC error: {:?}",
            answer(id)
        );
    }
    ensure!(
        answer(6).is_some_and(|m| m["error"]["code"].as_i64().is_some_and(|c| c < 0)
            || m["result"]["isError"] == true),
        "a wrong argument type is refused: {:?}",
        answer(6)
    );
    let tools = seen
        .iter()
        .find(|m| m["id"] == json!(2))
        .context("tools/list answered")?;
    ensure!(tools["result"]["tools"].is_array(), "{tools}");
    ensure!(
        status.success(),
        "polyclaw exits cleanly when stdin closes: {status}"
    );
    Ok(())
}

#[tokio::test]
async fn ending_a_session_with_delete_answers_200_and_forgets_it() -> Result<()> {
    let config = echo_config("")?;
    let polyclaw = Polyclaw::start(&config.path, &[])?;
    let r = post(&polyclaw.url, INIT).send().await?;
    ensure!(r.status().is_success(), "initialize: {}", r.status());
    let session = r
        .headers()
        .get("mcp-session-id")
        .context("a 2025-11-25 initialize opens a session")?
        .to_str()?
        .to_string();
    polyclaw::tls::install_provider();
    let ended = reqwest::Client::new()
        .delete(&polyclaw.url)
        .header("mcp-session-id", &session)
        .timeout(Duration::from_secs(20))
        .send()
        .await?;
    // 200, not rmcp's 202: the Python SDK logs anything but 200/204 as a failed termination.
    ensure!(ended.status() == 200, "DELETE: {}", ended.status());
    let after = post(
        &polyclaw.url,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
    )
    .header("mcp-session-id", &session)
    .header("mcp-protocol-version", "2025-11-25")
    .send()
    .await?;
    ensure!(
        after.status() == 404,
        "the ended session is unknown: {}",
        after.status()
    );
    Ok(())
}
