//! Tools that send notifications to the client: progress, log, add_tool.

// Logging is deprecated by SEP-2577 (2026-07-28) but older clients still use it.
#![allow(deprecated)]

use rmcp::{
    RoleServer,
    model::{
        CallToolResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
    },
    service::RequestContext,
};

use crate::{
    catalog::{AddToolArgs, LogArgs, ProgressArgs},
    state::{AddToolError, Shared},
    tools::{error, text},
};

/// `progress`: `steps` notifications carrying the request's progress token
/// (none are sent when the caller gave no token), then "done".
pub async fn progress(args: ProgressArgs, context: &RequestContext<RoleServer>) -> CallToolResult {
    let Some(token) = context.meta.get_progress_token() else {
        return text("done");
    };
    let total = f64::from(args.steps);
    for step in 1..=args.steps {
        if context.ct.is_cancelled() {
            return text("cancelled");
        }
        let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
            .with_total(total)
            .with_message(format!("step {step} of {}", args.steps));
        if let Err(err) = context.peer.notify_progress(param).await {
            return error(format!("could not send progress: {err}"));
        }
    }
    text("done")
}

/// `log`: one `notifications/message` at level info, logger = server name.
pub async fn log(
    args: LogArgs,
    shared: &Shared,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    let param = LoggingMessageNotificationParam::new(LoggingLevel::Info, args.message.into())
        .with_logger(shared.name());
    match context.peer.notify_logging_message(param).await {
        Ok(()) => text("logged"),
        Err(err) => error(format!("could not send the log message: {err}")),
    }
}

/// `add_tool`: registers the tool, announces the change, answers "added".
pub async fn add_tool(args: AddToolArgs, shared: &Shared) -> CallToolResult {
    match shared.add_dynamic(&args.name, args.description.as_deref()) {
        Ok(()) => {
            let reached = shared.notify_tools_changed().await;
            tracing::debug!(tool = %args.name, reached, "tool added");
            text("added")
        }
        Err(AddToolError::InvalidName) => error(format!(
            "invalid tool name {:?}: use 1 to 128 of [A-Za-z0-9_.-]",
            args.name
        )),
        Err(AddToolError::Builtin) => error(format!("{} is a built-in tool", args.name)),
    }
}
