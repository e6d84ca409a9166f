//! `polyclaw__create_server {template, spec}`: the client's agent writes the spec (the IDE's
//! model is the author), polyclaw runs the pipeline and adds the server to this mesh. Each
//! stage goes to the caller as an MCP progress notification, in order.

use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use serde_json::{Value, json};

use crate::hub::{CallContext, Hub};

use crate::generate::pipeline::{Context, Request, generate};
use crate::generate::{Stage, StageEvent};

/// Runs the pipeline for a tool call; failures are error results naming the stage.
pub async fn create_server(
    hub: &Arc<Hub>,
    template: &str,
    spec: Value,
    ctx: &CallContext,
) -> CallToolResult {
    let spec = match spec {
        Value::String(text) => match crate::generate::spec::parse_text(&text) {
            Ok(v) => v,
            Err(e) => return CallToolResult::error(vec![ContentBlock::text(e)]),
        },
        other => other,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StageEvent>();
    let forwarder = match (ctx.client.clone(), ctx.client_token.clone()) {
        (Some(peer), Some(token)) => Some(tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                let done = e.stage.number() - usize::from(!e.done);
                #[expect(clippy::cast_precision_loss, reason = "stage counts are small")]
                let mut p = ProgressNotificationParam::new(token.clone(), done as f64)
                    .with_total(Stage::ALL.len() as f64);
                p.message = Some(format!("{}: {}", e.stage, e.message));
                let _ = peer.notify_progress(p).await;
            }
        })),
        _ => None,
    };
    let progress = move |e: StageEvent| {
        tracing::info!(stage = %e.stage, done = e.done, "generate: {}", e.message);
        let _ = tx.send(e);
    };
    let request = Request {
        template: template.to_string(),
        spec,
    };
    let outcome = generate(&Context::of(hub), request, &progress).await;
    drop(progress);
    if let Some(f) = forwarder {
        let _ = f.await;
    }
    match outcome {
        Ok(g) => {
            let text = format!(
                "server `{}` generated from template `{}`, tested ({} example(s) passed) and added: {}",
                g.name,
                g.template,
                g.examples_passed,
                g.tools.join(", ")
            );
            let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
            r.structured_content = Some(serde_json::to_value(&g).unwrap_or_else(|_| json!({})));
            r
        }
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}
