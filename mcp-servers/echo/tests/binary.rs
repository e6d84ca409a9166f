//! Tests of the built binary: stdio and Streamable HTTP, exit codes on EOF,
//! SIGTERM and `crash`, and sampling over HTTP in both protocol eras.

// Sampling is deprecated by SEP-2577 but still tested.
#![allow(deprecated)]

use std::{
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, anyhow, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use rmcp::{
    ClientHandler, ClientServiceExt, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
        CreateMessageRequestParams, CreateMessageResult, ErrorData, Implementation,
        ProgressNotificationParam, ProtocolVersion, SamplingMessage,
    },
    service::{ClientLifecycleMode, NotificationContext, RequestContext},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_polyclaw-server-echo");
const WAIT: Duration = Duration::from_secs(10);

/// Answers sampling with a fixed text; counts notifications.
#[derive(Clone, Default)]
struct Sampler {
    progress: Arc<AtomicUsize>,
    tools_changed: Arc<AtomicUsize>,
}

impl ClientHandler for Sampler {
    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.fetch_add(1, Ordering::SeqCst);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_sampling().build(),
            Implementation::new("echo-binary-test", "0.0.0"),
        )
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text("fixed answer"),
            "fixed-model".into(),
        ))
    }
}

fn params(tool: &str, args: Value) -> anyhow::Result<CallToolRequestParams> {
    let Value::Object(args) = args else {
        bail!("arguments must be an object");
    };
    Ok(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
}

fn text(result: &CallToolResult) -> anyhow::Result<&str> {
    result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.as_str())
        .ok_or_else(|| anyhow!("no text in {result:?}"))
}

fn spawn(args: &[&str]) -> anyhow::Result<Child> {
    Ok(Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?)
}

fn terminate(child: &Child) -> anyhow::Result<()> {
    let pid = child.id().ok_or_else(|| anyhow!("child already exited"))?;
    kill(Pid::from_raw(i32::try_from(pid)?), Signal::SIGTERM)?;
    Ok(())
}

async fn exit_code(child: &mut Child) -> anyhow::Result<Option<i32>> {
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .context("the server did not exit")??;
    Ok(status.code())
}

/// Connects an rmcp client to a spawned stdio server.
async fn stdio_client(
    child: &mut Child,
) -> anyhow::Result<rmcp::service::RunningService<RoleClient, Sampler>> {
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
    Ok(Sampler::default().serve((stdout, stdin)).await?)
}

#[tokio::test]
async fn stdio_serves_and_exits_cleanly_on_eof() -> anyhow::Result<()> {
    let mut child = spawn(&["--name", "bin-echo"])?;
    let client = stdio_client(&mut child).await?;
    let info = client
        .peer_info()
        .ok_or_else(|| anyhow!("no server info"))?;
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("bin-echo")
    );
    let result = client
        .call_tool(params("echo", json!({"text": "x"}))?)
        .await?;
    assert_eq!(text(&result)?, "x");
    let result = client.call_tool(params("pid", json!({}))?).await?;
    assert_eq!(Some(text(&result)?.parse::<u32>()?), child.id());
    client.cancel().await?; // drops the child's stdin
    assert_eq!(exit_code(&mut child).await?, Some(0));
    Ok(())
}

#[tokio::test]
async fn crash_exits_with_code_3() -> anyhow::Result<()> {
    let mut child = spawn(&[])?;
    let client = stdio_client(&mut child).await?;
    assert!(client.call_tool(params("crash", json!({}))?).await.is_err());
    assert_eq!(exit_code(&mut child).await?, Some(3));
    Ok(())
}

#[tokio::test]
async fn sigterm_exits_cleanly_in_stdio_mode() -> anyhow::Result<()> {
    let mut child = spawn(&[])?;
    let client = stdio_client(&mut child).await?;
    client
        .call_tool(params("echo", json!({"text": "x"}))?)
        .await?;
    terminate(&child)?;
    assert_eq!(exit_code(&mut child).await?, Some(0));
    drop(client);
    Ok(())
}

#[tokio::test]
async fn bad_arguments_exit_with_code_2() -> anyhow::Result<()> {
    let mut child = spawn(&["--http", "not-an-address"])?;
    assert_eq!(exit_code(&mut child).await?, Some(2));
    Ok(())
}

/// Waits until `counter` reaches `at_least`.
async fn wait_for(counter: &AtomicUsize, at_least: usize) -> anyhow::Result<()> {
    tokio::time::timeout(WAIT, async {
        while counter.load(Ordering::SeqCst) < at_least {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .with_context(|| {
        format!(
            "expected {at_least} notifications, saw {}",
            counter.load(Ordering::SeqCst)
        )
    })
}

/// Starts `--http 127.0.0.1:0` and returns the printed URL.
async fn spawn_http() -> anyhow::Result<(Child, String)> {
    let mut child = spawn(&["--name", "http-echo", "--http", "127.0.0.1:0"])?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let url = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("listening on ") {
                return Ok(url.to_owned());
            }
        }
        bail!("stderr closed before the listening line")
    })
    .await
    .context("no listening line")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

#[tokio::test]
async fn http_serves_both_eras_and_exits_on_sigterm() -> anyhow::Result<()> {
    let (mut child, url) = spawn_http().await?;
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    assert!(!url.contains(":0/"), "the real port is printed: {url}");

    // rmcp's HTTP client is built without a rustls provider (the workspace uses ring).
    let _ = rustls::crypto::ring::default_provider().install_default();

    // 2025-11-25: a session; sampling is a server→client request.
    let legacy_client = Sampler::default();
    let legacy = legacy_client
        .clone()
        .serve(StreamableHttpClientTransport::from_uri(url.as_str()))
        .await?;
    let info = legacy
        .peer_info()
        .ok_or_else(|| anyhow!("no server info"))?;
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("http-echo")
    );
    let result = legacy
        .call_tool(params("echo", json!({"text": "hi"}))?)
        .await?;
    assert_eq!(text(&result)?, "hi");
    let result = legacy
        .call_tool(params("sample", json!({"prompt": "p"}))?)
        .await?;
    assert_eq!(text(&result)?, "fixed answer");
    let progress = legacy
        .call_tool(params("progress", json!({"steps": 2}))?)
        .await?;
    assert_eq!(text(&progress)?, "done");
    wait_for(&legacy_client.progress, 2).await?;
    let added = legacy
        .call_tool(params("add_tool", json!({"name": "dyn_http"}))?)
        .await?;
    assert_eq!(text(&added)?, "added");
    wait_for(&legacy_client.tools_changed, 1).await?;

    // 2026-07-28: stateless; sampling is an input_required round.
    let modern_client = Sampler::default();
    let modern = modern_client
        .clone()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(url.as_str()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await?;
    let once = modern
        .call_tool_once(params("sample", json!({"prompt": "p"}))?)
        .await?;
    assert!(
        matches!(once, CallToolResponse::InputRequired(_)),
        "{once:?}"
    );
    let result = modern
        .call_tool(params("sample", json!({"prompt": "p"}))?)
        .await?;
    assert_eq!(text(&result)?, "fixed answer");
    let result = modern
        .call_tool(params("add", json!({"a": 1, "b": 2}))?)
        .await?;
    assert_eq!(result.structured_content, Some(json!({"sum": 3})));
    let progress = modern
        .call_tool(params("progress", json!({"steps": 3}))?)
        .await?;
    assert_eq!(text(&progress)?, "done");
    wait_for(&modern_client.progress, 3).await?;
    let tools = modern.list_all_tools().await?;
    assert!(
        tools.iter().any(|tool| tool.name == "dyn_http"),
        "tools are process-wide"
    );

    terminate(&child)?;
    assert_eq!(exit_code(&mut child).await?, Some(0));
    drop((legacy, modern));
    Ok(())
}
