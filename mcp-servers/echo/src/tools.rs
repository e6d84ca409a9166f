//! The self-contained tools: echo, add, sleep, crash, pid, env, fail, and the
//! tools added at run time. None of them talks to the client.

use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::catalog::{
    AddArgs, EchoArgs, EnvArgs, FailArgs, FlakyArgs, FreezeArgs, SleepArgs, SpewArgs,
};

/// A successful result with one text block.
pub fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// An error result (`isError: true`) with one text block.
pub fn error(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// `echo`: the text back, plus `{"text": text}` as structured content.
pub fn echo(args: EchoArgs) -> CallToolResult {
    let structured = json!({ "text": &args.text });
    let mut result = text(args.text);
    result.structured_content = Some(structured);
    result
}

/// `add`: the sum as text and as `{"sum": n}`. Whole sums are written as
/// integers (`3`, not `3.0`), like JavaScript would.
pub fn add(args: AddArgs) -> CallToolResult {
    let sum = args.a + args.b;
    let number = whole_number(sum).unwrap_or_else(|| json!(sum));
    let mut result = text(number.to_string());
    result.structured_content = Some(json!({ "sum": number }));
    result
}

fn whole_number(value: f64) -> Option<Value> {
    // 2^53: beyond it an f64 is not an exact integer anyway.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.fract() == 0.0 && value.abs() <= EXACT {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked to be a whole number within ±2^53"
        )]
        Some(json!(value as i64))
    } else {
        None
    }
}

/// `sleep`: waits, or stops early when the request is cancelled.
pub async fn sleep(args: SleepArgs, cancelled: &CancellationToken) -> CallToolResult {
    tracing::info!(ms = args.ms, "sleeping");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(args.ms)) => text("slept"),
        () = cancelled.cancelled() => {
            tracing::info!(ms = args.ms, "sleep cancelled by the client");
            text("cancelled")
        }
    }
}

/// `crash`: exits with code 3 without answering.
pub fn crash() -> ! {
    tracing::warn!("crash tool called: exiting with code 3");
    std::process::exit(3)
}

/// `pid`: this process id.
pub fn pid() -> CallToolResult {
    text(std::process::id().to_string())
}

/// `env`: the value of an environment variable, or an error result.
pub fn env(args: EnvArgs) -> CallToolResult {
    match std::env::var_os(&args.name) {
        Some(value) => text(value.to_string_lossy()),
        None => error(format!("environment variable {} is not set", args.name)),
    }
}

/// `fail`: an error result with the message.
/// `freeze`: blocks the thread (the server runs on one thread, so everything stops).
pub fn freeze(args: FreezeArgs) -> CallToolResult {
    std::thread::sleep(Duration::from_millis(args.ms));
    CallToolResult::success(vec![ContentBlock::text("thawed")])
}

/// `spew`: garbage lines written to stdout directly, blocking the (single) thread until the
/// reader has taken them, like a runaway server would.
pub fn spew(args: SpewArgs) -> CallToolResult {
    use std::io::Write as _;
    let chunk = vec![b'x'; 64 * 1024];
    let mut out = std::io::stdout().lock();
    for _ in 0..args.lines {
        let mut left = args.line_bytes;
        while left > 0 {
            let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            if out.write_all(&chunk[..n]).is_err() {
                return error("stdout closed");
            }
            left -= n as u64;
        }
        if out.write_all(b"\n").is_err() {
            return error("stdout closed");
        }
    }
    let _ = out.flush();
    text("spewed")
}

/// `flaky`: fails until `failures` calls with the key have been made, then succeeds.
pub fn flaky(
    args: FlakyArgs,
    counters: &std::sync::Mutex<std::collections::HashMap<String, u32>>,
) -> CallToolResult {
    let mut counters = counters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen = counters.entry(args.key.clone()).or_insert(0);
    *seen += 1;
    if *seen <= args.failures {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "flaky failure {} of {} for key {}",
            seen, args.failures, args.key
        ))])
    } else {
        CallToolResult::success(vec![ContentBlock::text(format!(
            "ok after {} failures",
            args.failures
        ))])
    }
}

pub fn fail(args: FailArgs) -> CallToolResult {
    error(args.message)
}

/// A tool added by `add_tool`: its arguments as JSON text.
pub fn dynamic(arguments: Option<JsonObject>) -> CallToolResult {
    text(Value::Object(arguments.unwrap_or_default()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_text(result: &CallToolResult) -> Option<&str> {
        result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.as_str())
    }

    #[test]
    fn echo_returns_text_and_structure() {
        let result = echo(EchoArgs { text: "hi".into() });
        assert_eq!(first_text(&result), Some("hi"));
        assert_eq!(result.structured_content, Some(json!({"text": "hi"})));
        assert_ne!(result.is_error, Some(true));
    }

    #[test]
    fn add_writes_whole_sums_as_integers() {
        let result = add(AddArgs { a: 1.0, b: 2.0 });
        assert_eq!(first_text(&result), Some("3"));
        assert_eq!(result.structured_content, Some(json!({"sum": 3})));
        let result = add(AddArgs { a: 0.5, b: 0.25 });
        assert_eq!(first_text(&result), Some("0.75"));
        assert_eq!(result.structured_content, Some(json!({"sum": 0.75})));
    }

    #[test]
    fn env_reports_unset_variables_as_errors() {
        let result = env(EnvArgs {
            name: "POLYCLAW_ECHO_SURELY_UNSET_VARIABLE".into(),
        });
        assert_eq!(result.is_error, Some(true));
        let result = env(EnvArgs {
            name: "PATH".into(),
        });
        assert_ne!(result.is_error, Some(true));
    }

    #[test]
    fn flaky_fails_then_succeeds_per_key() {
        let counters = std::sync::Mutex::default();
        let call = |key: &str| {
            flaky(
                FlakyArgs {
                    key: key.into(),
                    failures: 2,
                },
                &counters,
            )
        };
        assert_eq!(call("a").is_error, Some(true));
        assert_eq!(call("a").is_error, Some(true));
        assert_eq!(call("b").is_error, Some(true));
        assert_eq!(call("a").is_error, Some(false));
    }

    #[test]
    fn fail_is_an_error_result() {
        let result = fail(FailArgs {
            message: "boom".into(),
        });
        assert_eq!(result.is_error, Some(true));
        assert_eq!(first_text(&result), Some("boom"));
    }

    #[test]
    fn dynamic_tools_echo_arguments_as_json() {
        let mut args = JsonObject::new();
        args.insert("k".into(), json!(1));
        assert_eq!(first_text(&dynamic(Some(args))), Some(r#"{"k":1}"#));
        assert_eq!(first_text(&dynamic(None)), Some("{}"));
    }

    #[tokio::test]
    async fn sleep_stops_when_cancelled() {
        let token = CancellationToken::new();
        token.cancel();
        let result = sleep(SleepArgs { ms: 60_000 }, &token).await;
        assert_eq!(first_text(&result), Some("cancelled"));
        let result = sleep(SleepArgs { ms: 1 }, &CancellationToken::new()).await;
        assert_eq!(first_text(&result), Some("slept"));
    }
}
