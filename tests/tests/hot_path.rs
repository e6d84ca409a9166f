//! One call policy, two routes: every behaviour here runs on the raw route (the stdio front's
//! `tools/call` forwarded as raw JSON lines) and on the typed one (`[front] forward_raw =
//! false`: rmcp's model on both hops), and must be the same on both. A raw stdio client (this
//! test) talks to `polyclaw serve`: answers carry the client's own ids, whatever their type,
//! under many calls in flight; progress arrives under the client's token, in order, before
//! the answer; a server's sampling request during a call reaches the client and its answer
//! the server; a cancelled call is cancelled at the server and never answered; a call past
//! the server's timeout gets an error result and is cancelled at the server; a server dying
//! mid-call fails that call with its name.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use polyclaw_tests::support::{TestConfig, bin};
use serde_json::{Value, json};

/// How the calls of a test are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Raw,
    Typed,
}

/// A configuration of `servers` (TOML) whose calls take `route`.
fn config(route: Route, servers: &str) -> Result<TestConfig> {
    let front = match route {
        Route::Raw => "",
        Route::Typed => "[front]\nforward_raw = false\n\n",
    };
    TestConfig::new(&format!("{front}{servers}"))
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    /// Messages read but not consumed yet.
    seen: Vec<Value>,
}

impl Session {
    fn start(config: &TestConfig) -> Result<Self> {
        let mut child = Command::new(bin("polyclaw")?)
            .arg("--config")
            .arg(&config.path)
            .arg("serve")
            .env("RUST_LOG", "polyclaw=debug,info")
            .env(
                "XDG_STATE_HOME",
                config
                    .path
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("state"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let stderr = BufReader::new(child.stderr.take().context("stderr")?);
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let mut session = Self {
            child,
            stdin,
            lines,
            log,
            seen: Vec::new(),
        };
        session.send(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"hot","version":"0"}}}))?;
        session.answer(&json!(0))?;
        session.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))?;
        Ok(session)
    }

    fn send(&mut self, message: &Value) -> Result<()> {
        writeln!(self.stdin, "{message}")?;
        self.stdin.flush()?;
        Ok(())
    }

    fn next(&mut self) -> Result<Value> {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .context("no message from polyclaw within 30 s")?;
        serde_json::from_str(&line).with_context(|| format!("stdout carries only JSON: {line}"))
    }

    /// Reads until the answer to `id`; everything read on the way is kept in `seen`.
    fn answer(&mut self, id: &Value) -> Result<Value> {
        loop {
            if let Some(i) = self
                .seen
                .iter()
                .position(|m| &m["id"] == id && m.get("method").is_none())
            {
                return Ok(self.seen.remove(i));
            }
            let message = self.next()?;
            self.seen.push(message);
        }
    }

    fn call(&mut self, id: Value, tool: &str, arguments: Value) -> Result<()> {
        self.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":tool,"arguments":arguments}}))
    }

    fn wait_log(&self, needle: &str, count: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self
            .log
            .lock()
            .map(|l| l.matches(needle).count())
            .unwrap_or(0)
            < count
        {
            if Instant::now() > deadline {
                let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
                bail!("the log never said {needle:?} {count} time(s):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Session {
    /// Fails unless the calls so far took `route`.
    fn check_route(&self, route: Route) -> Result<()> {
        match route {
            Route::Raw => self.wait_log("stdio hot path enabled", 1),
            Route::Typed => {
                let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
                ensure!(
                    !log.contains("stdio hot path enabled"),
                    "forward_raw = false keeps every call typed:\n{log}"
                );
                Ok(())
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Servers coming up make polyclaw announce its lists changed: not part of any call.
fn is_list_changed(m: &Value) -> bool {
    m["method"]
        .as_str()
        .is_some_and(|m| m.ends_with("/list_changed"))
}

fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn ids_are_kept_on_the_raw_route() -> Result<()> {
    answers_keep_the_clients_ids_under_many_calls_in_flight(Route::Raw)
}

#[test]
fn ids_are_kept_on_the_typed_route() -> Result<()> {
    answers_keep_the_clients_ids_under_many_calls_in_flight(Route::Typed)
}

fn answers_keep_the_clients_ids_under_many_calls_in_flight(route: Route) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config)?;
    // Ids of both types, and one that looks like polyclaw's own raw ids.
    let mut ids: Vec<Value> = (0..40).map(|i| json!(100 + i)).collect();
    ids.extend((0..40).map(|i| json!(format!("s-{i}"))));
    ids.push(json!("pc:1"));
    for (i, id) in ids.iter().enumerate() {
        s.call(id.clone(), "echo__echo", json!({"text": format!("n{i}")}))?;
    }
    for (i, id) in ids.iter().enumerate() {
        let answer = s.answer(id)?;
        ensure!(
            text(&answer) == format!("n{i}"),
            "call {id} got its own answer: {answer}"
        );
        ensure!(
            answer["result"]["structuredContent"]["text"] == format!("n{i}"),
            "structured content passes unchanged: {answer}"
        );
    }
    // Arguments of the wrong shape, an unknown tool, a tool error: as on the typed path.
    s.call(json!("bad"), "echo__add", json!({"a": "one", "b": 2}))?;
    let bad = s.answer(&json!("bad"))?;
    ensure!(bad["error"]["code"] == -32602, "{bad}");
    s.call(json!("unknown"), "echo__nope", json!({}))?;
    let unknown = s.answer(&json!("unknown"))?;
    ensure!(unknown["error"]["code"] == -32602, "{unknown}");
    s.call(
        json!("fail"),
        "echo__fail",
        json!({"message": "on purpose"}),
    )?;
    let fail = s.answer(&json!("fail"))?;
    ensure!(
        fail["result"]["isError"] == true && text(&fail) == "on purpose",
        "{fail}"
    );
    let others: Vec<&Value> = s.seen.iter().filter(|m| !is_list_changed(m)).collect();
    ensure!(others.is_empty(), "nothing else was written: {others:?}");
    s.check_route(route)
}

#[test]
fn progress_is_in_order_on_the_raw_route() -> Result<()> {
    progress_comes_in_order_under_the_clients_token_before_the_answer(Route::Raw)
}

#[test]
fn progress_is_in_order_on_the_typed_route() -> Result<()> {
    progress_comes_in_order_under_the_clients_token_before_the_answer(Route::Typed)
}

fn progress_comes_in_order_under_the_clients_token_before_the_answer(route: Route) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config)?;
    for round in 0..5 {
        let token = format!("tok-{round}");
        s.send(&json!({"jsonrpc":"2.0","id":round,"method":"tools/call",
            "params":{"name":"echo__progress","arguments":{"steps":5},"_meta":{"progressToken":token}}}))?;
        let mut progress = Vec::new();
        let answer = loop {
            let m = s.next()?;
            if m["method"] == "notifications/progress" {
                ensure!(
                    m["params"]["progressToken"] == json!(token),
                    "the client's own token: {m}"
                );
                progress.push(m["params"]["progress"].as_f64().unwrap_or(-1.0));
            } else if m["id"] == json!(round) {
                break m;
            } else if !is_list_changed(&m) {
                bail!("unexpected message {m}");
            }
        };
        ensure!(text(&answer) == "done", "{answer}");
        ensure!(
            progress.len() == 5 && progress.windows(2).all(|w| w[0] < w[1]),
            "all 5 progress notifications, increasing, before the answer: {progress:?}"
        );
    }
    s.check_route(route)
}

#[test]
fn cancel_timeout_and_crash_on_the_raw_route() -> Result<()> {
    cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(Route::Raw)
}

#[test]
fn cancel_timeout_and_crash_on_the_typed_route() -> Result<()> {
    cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(Route::Typed)
}

fn cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(route: Route) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\ntimeout = 2\n\n\
         [servers.other]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config)?;
    // Cancelled by the client: cancelled at the server, never answered.
    s.call(json!(7), "echo__sleep", json!({"ms": 20000}))?;
    s.wait_log("sleeping ms=20000", 1)?;
    s.send(&json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"changed my mind"}}))?;
    s.wait_log("sleep cancelled by the client", 1)?;
    // Past the server's timeout (2 s): an error result, and the server is told.
    let started = Instant::now();
    s.call(json!(8), "echo__sleep", json!({"ms": 20000}))?;
    let timed_out = s.answer(&json!(8))?;
    ensure!(
        timed_out["result"]["isError"] == true && text(&timed_out).contains("echo"),
        "a timeout is an error result naming the server: {timed_out}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the timeout"
    );
    s.wait_log("sleep cancelled by the client", 2)?;
    // The server dies mid-call: that call fails naming it; the other server is unaffected.
    s.call(json!(9), "echo__crash", json!({}))?;
    let crashed = s.answer(&json!(9))?;
    ensure!(
        crashed["result"]["isError"] == true && text(&crashed).contains("echo"),
        "{crashed}"
    );
    s.call(json!(10), "other__echo", json!({"text": "fine"}))?;
    ensure!(text(&s.answer(&json!(10))?) == "fine");
    let unanswered: HashMap<String, &Value> = s
        .seen
        .iter()
        .filter(|m| m["id"] == json!(7))
        .map(|m| (m.to_string(), m))
        .collect();
    ensure!(
        unanswered.is_empty(),
        "a cancelled call is not answered: {unanswered:?}"
    );
    s.check_route(route)
}

#[test]
fn sampling_during_a_call_on_the_raw_route() -> Result<()> {
    sampling_during_a_call(Route::Raw)
}

#[test]
fn sampling_during_a_call_on_the_typed_route() -> Result<()> {
    sampling_during_a_call(Route::Typed)
}

/// The server asks for sampling mid-call: the request reaches this client, its answer the
/// server, and the call's answer carries the sampled text.
fn sampling_during_a_call(route: Route) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config)?;
    for round in 0..3 {
        let id = json!(format!("ask-{round}"));
        s.call(
            id.clone(),
            "echo__sample",
            json!({"prompt": format!("question {round}")}),
        )?;
        let answer = loop {
            let m = s.next()?;
            if m["method"] == "sampling/createMessage" {
                let prompt = &m["params"]["messages"][0]["content"]["text"];
                ensure!(*prompt == json!(format!("question {round}")), "{m}");
                s.send(&json!({"jsonrpc":"2.0","id":m["id"],"result":{
                    "role":"assistant","model":"test",
                    "content":{"type":"text","text":format!("answer {round}")}}}))?;
            } else if m["id"] == id && m.get("method").is_none() {
                break m;
            } else if !is_list_changed(&m) {
                bail!("unexpected message {m}");
            }
        };
        ensure!(text(&answer) == format!("answer {round}"), "{answer}");
    }
    s.check_route(route)
}
