//! End-to-end tests: an rmcp client talks to [`EchoServer`] over
//! `tokio::io::duplex`, in the 2025-11-25 era (`initialize`, server→client
//! requests) and the 2026-07-28 era (`server/discover`, `input_required`).

// Sampling and logging are deprecated by SEP-2577 but tested here.
#![allow(deprecated)]

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, anyhow, bail};
use rmcp::{
    ClientHandler, ClientServiceExt, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
        CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
        ElicitationAction, ErrorData, GetPromptRequestParams, Implementation, JsonObject,
        LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
        ReadResourceRequestParams, ResourceContents, SamplingMessage, SamplingMessageContentBlock,
        ServerNotification, SubscriptionFilter,
    },
    service::{ClientLifecycleMode, NotificationContext, RequestContext, RunningService},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{server::EchoServer, state::Shared};

const NAME: &str = "test-echo";
const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    /// `initialize`, 2025-11-25.
    Legacy,
    /// `server/discover`, 2026-07-28.
    Modern,
}

const ERAS: [Era; 2] = [Era::Legacy, Era::Modern];

/// What the client observed besides responses.
#[derive(Debug)]
enum Event {
    Progress(ProgressNotificationParam),
    ToolsChanged,
    Log(LoggingMessageNotificationParam),
}

/// A client that answers sampling and elicitation with fixed data and
/// reports notifications on a channel.
#[derive(Clone)]
struct TestClient {
    events: mpsc::UnboundedSender<Event>,
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_elicitation()
                .enable_sampling()
                .build(),
            Implementation::new("echo-test-client", "0.0.0"),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let prompt = params
            .messages
            .first()
            .and_then(|message| message.content.first())
            .and_then(|block| match block {
                SamplingMessageContentBlock::Text(text) => Some(text.text.clone()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(format!(
                "sampled [{prompt}] max {}",
                params.max_tokens
            )),
            "fixed-model".into(),
        )
        .with_stop_reason(CreateMessageResult::STOP_REASON_END_TURN))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let message = match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => message.as_str(),
            _ => "",
        };
        Ok(match message {
            "decline" => ElicitResult::new(ElicitationAction::Decline),
            _ => ElicitResult::new(ElicitationAction::Accept)
                .with_content(json!({ "answer": format!("answer to {message}") })),
        })
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.events.send(Event::Progress(params));
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.events.send(Event::ToolsChanged);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.events.send(Event::Log(params));
    }
}

type Client = RunningService<RoleClient, TestClient>;

/// A server on one end of a duplex pipe, a client on the other.
async fn connect(era: Era) -> anyhow::Result<(Client, mpsc::UnboundedReceiver<Event>)> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = EchoServer::new(Shared::new(NAME)?);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let (events, received) = mpsc::unbounded_channel();
    let client = TestClient { events };
    let client = match era {
        Era::Legacy => client.serve(client_io).await?,
        Era::Modern => {
            client
                .serve_with_lifecycle(
                    client_io,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await?
        }
    };
    Ok((client, received))
}

fn arguments(value: Value) -> anyhow::Result<JsonObject> {
    match value {
        Value::Object(object) => Ok(object),
        other => bail!("arguments must be an object, not {other}"),
    }
}

async fn call(client: &Client, tool: &str, args: Value) -> anyhow::Result<CallToolResult> {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments(args)?);
    client
        .call_tool(params)
        .await
        .with_context(|| format!("calling {tool}"))
}

fn text(result: &CallToolResult) -> anyhow::Result<&str> {
    result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.as_str())
        .ok_or_else(|| anyhow!("no text content in {result:?}"))
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<Event>) -> anyhow::Result<Event> {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .context("timed out waiting for a notification")?
        .ok_or_else(|| anyhow!("event channel closed"))
}

#[tokio::test]
async fn lists_all_tools_with_schemas() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, _events) = connect(era).await?;
        let tools = client.list_all_tools().await?;
        let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "echo", "add", "sleep", "crash", "pid", "env", "progress", "log", "sample",
                "elicit", "add_tool", "fail", "freeze", "spew", "flaky"
            ],
            "{era:?}"
        );
        assert!(tools.iter().all(|tool| tool.description.is_some()));
        let echo = tools.first().ok_or_else(|| anyhow!("no tools"))?;
        assert!(echo.output_schema.is_some());
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn echo_and_add_in_both_eras() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, _events) = connect(era).await?;
        let result = call(&client, "echo", json!({"text": "héllo"})).await?;
        assert_eq!(text(&result)?, "héllo");
        assert_eq!(result.structured_content, Some(json!({"text": "héllo"})));
        let result = call(&client, "add", json!({"a": 2, "b": 0.5})).await?;
        assert_eq!(text(&result)?, "2.5");
        assert_eq!(result.structured_content, Some(json!({"sum": 2.5})));
        let result = call(&client, "add", json!({"a": 2, "b": 3})).await?;
        assert_eq!(result.structured_content, Some(json!({"sum": 5})));
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn progress_notifications_carry_the_callers_token() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, mut events) = connect(era).await?;
        let result = call(&client, "progress", json!({"steps": 3})).await?;
        assert_eq!(text(&result)?, "done");
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match next_event(&mut events).await? {
                Event::Progress(progress) => seen.push(progress),
                other => bail!("unexpected {other:?}"),
            }
        }
        let tokens: Vec<_> = seen.iter().map(|p| p.progress_token.clone()).collect();
        assert!(
            tokens.windows(2).all(|pair| pair[0] == pair[1]),
            "{era:?}: one token"
        );
        let steps: Vec<f64> = seen.iter().map(|p| p.progress).collect();
        assert_eq!(steps, [1.0, 2.0, 3.0]);
        assert!(seen.iter().all(|p| p.total == Some(3.0)));
        assert_eq!(seen[1].message.as_deref(), Some("step 2 of 3"));
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn add_tool_sends_list_changed_to_legacy_sessions() -> anyhow::Result<()> {
    let (client, mut events) = connect(Era::Legacy).await?;
    let result = call(&client, "add_tool", json!({"name": "dyn_tool"})).await?;
    assert_eq!(text(&result)?, "added");
    match next_event(&mut events).await? {
        Event::ToolsChanged => {}
        other => bail!("unexpected {other:?}"),
    }
    let tools = client.list_all_tools().await?;
    assert!(tools.iter().any(|tool| tool.name == "dyn_tool"));
    let result = call(&client, "dyn_tool", json!({"k": [1, "two"]})).await?;
    assert_eq!(text(&result)?, r#"{"k":[1,"two"]}"#);
    let result = call(&client, "add_tool", json!({"name": "echo"})).await?;
    assert_eq!(result.is_error, Some(true));
    let result = call(&client, "add_tool", json!({"name": "bad name"})).await?;
    assert_eq!(result.is_error, Some(true));
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn add_tool_notifies_2026_subscriptions() -> anyhow::Result<()> {
    let (client, _events) = connect(Era::Modern).await?;
    let mut subscription = client
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await?;
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    // rmcp acknowledges a subscription before handing it to the server's
    // `listen`, so the first change may race the registration: retry.
    let mut notified = false;
    for _ in 0..5 {
        let result = call(&client, "add_tool", json!({"name": "dyn_modern"})).await?;
        assert_eq!(text(&result)?, "added");
        if let Ok(next) =
            tokio::time::timeout(Duration::from_millis(500), subscription.next()).await
        {
            match next? {
                Some(ServerNotification::ToolListChangedNotification(_)) => {
                    notified = true;
                    break;
                }
                other => bail!("unexpected {other:?}"),
            }
        }
    }
    assert!(notified, "no tools/list_changed on the subscription");
    let tools = client.list_all_tools().await?;
    assert!(tools.iter().any(|tool| tool.name == "dyn_modern"));
    subscription.cancel().await?;
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn sample_asks_the_client_in_both_eras() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, _events) = connect(era).await?;
        let result = call(&client, "sample", json!({"prompt": "capital of France?"})).await?;
        assert_ne!(result.is_error, Some(true), "{era:?}: {result:?}");
        assert_eq!(
            text(&result)?,
            "sampled [capital of France?] max 100",
            "{era:?}"
        );
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn modern_sampling_is_an_input_required_round() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, _events) = connect(era).await?;
        let params =
            CallToolRequestParams::new("sample").with_arguments(arguments(json!({"prompt": "p"}))?);
        let once = client.call_tool_once(params).await?;
        match (era, once) {
            (Era::Legacy, CallToolResponse::Complete(result)) => {
                assert_eq!(text(&result)?, "sampled [p] max 100");
            }
            (Era::Modern, CallToolResponse::InputRequired(round)) => {
                let requests = round
                    .input_requests
                    .ok_or_else(|| anyhow!("no inputRequests"))?;
                let request = serde_json::to_value(requests.get("sample"))?;
                assert_eq!(request["method"], "sampling/createMessage");
                assert_eq!(request["params"]["maxTokens"], 100);
                assert_eq!(request["params"]["messages"][0]["role"], "user");
                assert_eq!(request["params"]["messages"][0]["content"]["text"], "p");
            }
            (era, other) => bail!("{era:?}: unexpected {other:?}"),
        }
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn elicit_asks_the_client_in_both_eras() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, _events) = connect(era).await?;
        let result = call(&client, "elicit", json!({"message": "name?"})).await?;
        assert_eq!(text(&result)?, "answer to name?", "{era:?}");
        let result = call(&client, "elicit", json!({"message": "decline"})).await?;
        assert_eq!(text(&result)?, "declined", "{era:?}");
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn log_sends_a_logging_notification() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, mut events) = connect(era).await?;
        let result = call(&client, "log", json!({"message": "hello log"})).await?;
        assert_eq!(text(&result)?, "logged");
        match next_event(&mut events).await? {
            Event::Log(log) => {
                assert_eq!(log.level, LoggingLevel::Info);
                assert_eq!(log.logger.as_deref(), Some(NAME));
                assert_eq!(log.data, json!("hello log"));
            }
            other => bail!("unexpected {other:?}"),
        }
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn errors_pid_env_and_sleep() -> anyhow::Result<()> {
    let (client, _events) = connect(Era::Legacy).await?;
    let result = call(&client, "fail", json!({"message": "nope"})).await?;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(text(&result)?, "nope");
    let result = call(
        &client,
        "env",
        json!({"name": "POLYCLAW_ECHO_SURELY_UNSET"}),
    )
    .await?;
    assert_eq!(result.is_error, Some(true));
    let result = call(&client, "pid", json!({})).await?;
    assert_eq!(text(&result)?, std::process::id().to_string());
    let result = call(&client, "sleep", json!({"ms": 5})).await?;
    assert_eq!(text(&result)?, "slept");
    assert!(call(&client, "no_such_tool", json!({})).await.is_err());
    assert!(call(&client, "echo", json!({"wrong": 1})).await.is_err());
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn resources_and_prompts() -> anyhow::Result<()> {
    for era in ERAS {
        let (client, _events) = connect(era).await?;
        let resources = client.list_all_resources().await?;
        assert_eq!(
            resources.first().map(|r| r.uri.as_str()),
            Some("echo://info")
        );
        let templates = client.list_all_resource_templates().await?;
        assert_eq!(
            templates.first().map(|t| t.uri_template.as_str()),
            Some("echo://items/{id}")
        );
        for (uri, expected) in [
            ("echo://info", format!("echo server {NAME}")),
            ("echo://items/42", "item 42".into()),
        ] {
            let read = client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await?;
            match read.contents.first() {
                Some(ResourceContents::TextResourceContents { text, .. }) => {
                    assert_eq!(text, &expected);
                }
                other => bail!("unexpected contents {other:?}"),
            }
        }
        let prompt = client
            .get_prompt(
                GetPromptRequestParams::new("greet")
                    .with_arguments(arguments(json!({"name": "Ada"}))?),
            )
            .await?;
        let message = prompt
            .messages
            .first()
            .ok_or_else(|| anyhow!("no message"))?;
        assert_eq!(
            message.content.as_text().map(|t| t.text.as_str()),
            Some("Hello, Ada!")
        );
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn sessions_share_runtime_tools() -> anyhow::Result<()> {
    let shared: Arc<Shared> = Shared::new(NAME)?;
    shared
        .add_dynamic("shared_tool", None)
        .map_err(|err| anyhow!("{err:?}"))?;
    let server = EchoServer::new(shared);
    assert!(rmcp::ServerHandler::get_tool(&server, "shared_tool").is_some());
    Ok(())
}
