//! One call policy, two routes, two fronts: every behaviour here runs on the raw route (a
//! `tools/call` forwarded as raw JSON lines) and on the typed one (`[front] forward_raw =
//! false`: rmcp's model on both hops), through the stdio front and through the Streamable
//! HTTP front (a 2025-11-25 session), and must be the same on all four. A raw client (this
//! test: JSON lines, or one POST per message reading JSON and SSE answers) talks to
//! `polyclaw serve`: answers carry the client's own ids, whatever their type,
//! under many calls in flight; progress arrives under the client's token, in order, before
//! the answer; a server's sampling request during a call reaches the client and its answer
//! the server; a cancelled call is cancelled at the server and never answered; a call past
//! the server's timeout gets an error result and is cancelled at the server; a server dying
//! mid-call fails that call with its name.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use polyclaw_tests::support::{Polyclaw, TestConfig, bin};
use serde_json::{Value, json};

/// How the calls of a test are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Raw,
    Typed,
}

/// Which front door the test's client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    /// `polyclaw serve`, JSON lines on stdin and stdout.
    Stdio,
    /// `polyclaw serve --http`, a 2025-11-25 session: each message one POST, answers as JSON
    /// or SSE.
    Http,
}

/// A configuration of `servers` (TOML) whose calls take `route`.
fn config(route: Route, servers: &str) -> Result<TestConfig> {
    let front = match route {
        Route::Raw => "",
        Route::Typed => "[front]\nforward_raw = false\n\n",
    };
    TestConfig::new(&format!("{front}{servers}"))
}

/// How messages reach polyclaw.
enum Wire {
    Stdio {
        child: Child,
        stdin: ChildStdin,
    },
    Http {
        /// Kept for its Drop (SIGTERM).
        _polyclaw: Polyclaw,
        url: String,
        session: String,
        client: reqwest::Client,
        rt: tokio::runtime::Runtime,
        /// Where each POST's messages go (the same queue `lines` reads).
        tx: Sender<String>,
        /// How many POSTs were answered with `application/json` (the raw route's answer to a
        /// call that does not stream; rmcp answers a session's request with SSE).
        json_answers: Arc<AtomicUsize>,
    },
}

struct Session {
    wire: Wire,
    lines: Receiver<String>,
    log: Arc<Mutex<String>>,
    /// Messages read but not consumed yet.
    seen: Vec<Value>,
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{
    "protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"hot","version":"0"}}}"#;

impl Session {
    fn start(config: &TestConfig, front: Front) -> Result<Self> {
        match front {
            Front::Stdio => Self::start_stdio(config),
            Front::Http => Self::start_http(config),
        }
    }

    /// `polyclaw serve` after the 2025-11-25 handshake.
    fn start_stdio(config: &TestConfig) -> Result<Self> {
        let mut session = Self::spawn_stdio(config)?;
        session.send(&serde_json::from_str(INITIALIZE)?)?;
        session.answer(&json!(0))?;
        session.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))?;
        Ok(session)
    }

    /// `polyclaw serve` with nothing sent yet (a 2026-07-28 client sends no handshake).
    fn spawn_stdio(config: &TestConfig) -> Result<Self> {
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
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        Ok(Self {
            wire: Wire::Stdio { child, stdin },
            lines,
            log,
            seen: Vec::new(),
        })
    }

    fn start_http(config: &TestConfig) -> Result<Self> {
        let polyclaw = Polyclaw::start(&config.path, &[])?;
        polyclaw::tls::install_provider();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let client = reqwest::Client::new();
        let url = polyclaw.url.clone();
        let init = rt.block_on(async {
            client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(INITIALIZE)
                .send()
                .await
        })?;
        let session = init
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .context("initialize answered with an Mcp-Session-Id")?
            .to_string();
        let (tx, lines) = std::sync::mpsc::channel();
        let log = polyclaw.log.clone();
        let mut s = Self {
            wire: Wire::Http {
                _polyclaw: polyclaw,
                url,
                session,
                client,
                rt,
                tx: tx.clone(),
                json_answers: Arc::new(AtomicUsize::new(0)),
            },
            lines,
            log,
            seen: Vec::new(),
        };
        if let Wire::Http { rt, .. } = &s.wire {
            rt.spawn(read_messages(init, tx, None));
        }
        s.answer(&json!(0))?;
        s.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))?;
        Ok(s)
    }

    fn send(&mut self, message: &Value) -> Result<()> {
        match &mut self.wire {
            Wire::Stdio { stdin, .. } => {
                writeln!(stdin, "{message}")?;
                stdin.flush()?;
            }
            Wire::Http {
                url,
                session,
                client,
                rt,
                tx,
                json_answers,
                ..
            } => {
                let post = client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-session-id", session.as_str())
                    .header("mcp-protocol-version", "2025-11-25")
                    .body(message.to_string());
                let (tx, json_answers) = (tx.clone(), json_answers.clone());
                rt.spawn(async move {
                    match post.send().await {
                        Ok(response) => read_messages(response, tx, Some(json_answers)).await,
                        Err(e) => {
                            let _ = tx.send(json!({"post failed": e.to_string()}).to_string());
                        }
                    }
                });
            }
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Value> {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .context("no message from polyclaw within 30 s")?;
        serde_json::from_str(&line).with_context(|| format!("polyclaw sends only JSON: {line}"))
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
    /// Calls `echo__echo` until the server is up and in the catalog (on the HTTP front's raw
    /// route: until a call is answered with plain JSON). Returns the JSON answers so far.
    fn warm_up(&mut self, route: Route) -> Result<usize> {
        for i in 0..100 {
            let id = json!(format!("warm-{i}"));
            self.call(id.clone(), "echo__echo", json!({"text": "warm"}))?;
            self.answer(&id)?;
            match &self.wire {
                Wire::Http { json_answers, .. }
                    if route == Route::Raw && json_answers.load(Ordering::SeqCst) == 0 =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Wire::Http { json_answers, .. } => return Ok(json_answers.load(Ordering::SeqCst)),
                Wire::Stdio { .. } => return Ok(0),
            }
        }
        Ok(0)
    }

    /// Fails unless the calls so far took `route`.
    fn check_route(&self, route: Route) -> Result<()> {
        if let Wire::Http { json_answers, .. } = &self.wire {
            let raw = "HTTP raw route serving the session's calls";
            return match route {
                Route::Raw => self.wait_log(raw, 1),
                Route::Typed => {
                    let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
                    ensure!(
                        !log.contains(raw) && json_answers.load(Ordering::SeqCst) == 0,
                        "forward_raw = false: every answer came from rmcp (on SSE):\n{log}"
                    );
                    Ok(())
                }
            };
        }
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
        if let Wire::Stdio { child, .. } = &mut self.wire {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Puts every JSON-RPC message of one HTTP answer on `tx`: a JSON body, or each `data:` of an
/// SSE stream as it arrives (202 carries none). Another status is put as an object naming it,
/// so the test fails on it.
async fn read_messages(
    mut response: reqwest::Response,
    tx: Sender<String>,
    json_answers: Option<Arc<AtomicUsize>>,
) {
    let status = response.status();
    if status == reqwest::StatusCode::ACCEPTED {
        return;
    }
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let _ = tx.send(json!({"http status": status.as_u16(), "body": body}).to_string());
        return;
    }
    if kind.starts_with("application/json") {
        if let Some(n) = json_answers {
            n.fetch_add(1, Ordering::SeqCst);
        }
        let _ = tx.send(response.text().await.unwrap_or_default());
        return;
    }
    let mut buffer = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                let data = data.trim();
                if !data.is_empty() && tx.send(data.to_string()).is_err() {
                    return;
                }
            }
        }
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
    answers_keep_the_clients_ids_under_many_calls_in_flight(Front::Stdio, Route::Raw)
}

#[test]
fn ids_are_kept_on_the_typed_route() -> Result<()> {
    answers_keep_the_clients_ids_under_many_calls_in_flight(Front::Stdio, Route::Typed)
}

#[test]
fn ids_are_kept_on_the_http_raw_route() -> Result<()> {
    answers_keep_the_clients_ids_under_many_calls_in_flight(Front::Http, Route::Raw)
}

#[test]
fn ids_are_kept_on_the_http_typed_route() -> Result<()> {
    answers_keep_the_clients_ids_under_many_calls_in_flight(Front::Http, Route::Typed)
}

fn answers_keep_the_clients_ids_under_many_calls_in_flight(
    front: Front,
    route: Route,
) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config, front)?;
    // Until the server is up and listed, calls go through rmcp (which waits for it): warm up
    // so that the calls below take the route under test.
    let warm = s.warm_up(route)?;
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
    if let (Wire::Http { json_answers, .. }, Route::Raw) = (&s.wire, route) {
        // A call that does not stream is answered with plain JSON, not an SSE stream.
        let json = json_answers.load(Ordering::SeqCst) - warm;
        ensure!(
            json >= ids.len(),
            "{json} of {} answers were plain JSON",
            ids.len()
        );
    }
    s.check_route(route)
}

#[test]
fn progress_is_in_order_on_the_raw_route() -> Result<()> {
    progress_comes_in_order_under_the_clients_token_before_the_answer(Front::Stdio, Route::Raw)
}

#[test]
fn progress_is_in_order_on_the_typed_route() -> Result<()> {
    progress_comes_in_order_under_the_clients_token_before_the_answer(Front::Stdio, Route::Typed)
}

#[test]
fn progress_is_in_order_on_the_http_raw_route() -> Result<()> {
    progress_comes_in_order_under_the_clients_token_before_the_answer(Front::Http, Route::Raw)
}

#[test]
fn progress_is_in_order_on_the_http_typed_route() -> Result<()> {
    progress_comes_in_order_under_the_clients_token_before_the_answer(Front::Http, Route::Typed)
}

fn progress_comes_in_order_under_the_clients_token_before_the_answer(
    front: Front,
    route: Route,
) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config, front)?;
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
    cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(Front::Stdio, Route::Raw)
}

#[test]
fn cancel_timeout_and_crash_on_the_typed_route() -> Result<()> {
    cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(Front::Stdio, Route::Typed)
}

#[test]
fn cancel_timeout_and_crash_on_the_http_raw_route() -> Result<()> {
    cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(Front::Http, Route::Raw)
}

#[test]
fn cancel_timeout_and_crash_on_the_http_typed_route() -> Result<()> {
    cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(Front::Http, Route::Typed)
}

fn cancel_and_timeout_reach_the_server_and_a_crash_fails_the_call(
    front: Front,
    route: Route,
) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\ntimeout = 2\n\n\
         [servers.other]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config, front)?;
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
    sampling_during_a_call(Front::Stdio, Route::Raw)
}

#[test]
fn sampling_during_a_call_on_the_typed_route() -> Result<()> {
    sampling_during_a_call(Front::Stdio, Route::Typed)
}

#[test]
fn sampling_during_a_call_on_the_http_raw_route() -> Result<()> {
    sampling_during_a_call(Front::Http, Route::Raw)
}

#[test]
fn sampling_during_a_call_on_the_http_typed_route() -> Result<()> {
    sampling_during_a_call(Front::Http, Route::Typed)
}

/// The server asks for sampling mid-call: the request reaches this client, its answer the
/// server, and the call's answer carries the sampled text.
fn sampling_during_a_call(front: Front, route: Route) -> Result<()> {
    let config = config(
        route,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\n",
    )?;
    let mut s = Session::start(&config, front)?;
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

/// A 2026-07-28 client on stdio (no `initialize`: every request carries its `_meta`) takes the
/// raw route too: answers carry its ids, every result names its `resultType`, progress comes
/// under its token, and the server (of the same era) sees the client's own `_meta`.
#[test]
fn a_2026_07_28_client_takes_the_raw_route_on_stdio() -> Result<()> {
    let config = config(
        Route::Raw,
        "[servers.echo]\ncommand = \"{bin}/polyclaw-server-echo\"\nstart = \"boot\"\n",
    )?;
    let mut s = Session::spawn_stdio(&config)?;
    let meta = |extra: Value| {
        let mut m = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {}
        });
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        m
    };
    s.send(&json!({"jsonrpc":"2.0","id":"d","method":"server/discover","params":{"_meta": meta(json!({}))}}))?;
    s.answer(&json!("d"))?;
    // The server may not be listed yet: until it is, calls go through rmcp.
    let mut raw = false;
    for i in 0..60 {
        let id = json!(format!("c{i}"));
        s.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":"echo__echo","arguments":{"text":format!("n{i}")},"_meta":meta(json!({}))}}))?;
        let answer = s.answer(&id)?;
        ensure!(text(&answer) == format!("n{i}"), "{answer}");
        ensure!(
            answer["result"]["resultType"] == "complete",
            "a 2026-07-28 result names its type: {answer}"
        );
        if s.log
            .lock()
            .map(|l| l.contains("inline=true"))
            .unwrap_or(false)
            && i > 5
        {
            raw = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure!(raw, "the hot path was enabled for the 2026-07-28 client");
    s.send(&json!({"jsonrpc":"2.0","id":"p","method":"tools/call",
        "params":{"name":"echo__progress","arguments":{"steps":3},"_meta":meta(json!({"progressToken":"mine"}))}}))?;
    let mut progress = 0;
    let answer = loop {
        let m = s.next()?;
        if m["method"] == "notifications/progress" {
            ensure!(m["params"]["progressToken"] == "mine", "{m}");
            progress += 1;
        } else if m["id"] == "p" {
            break m;
        }
    };
    ensure!(
        progress == 3 && answer["result"]["resultType"] == "complete",
        "{answer}"
    );
    Ok(())
}
