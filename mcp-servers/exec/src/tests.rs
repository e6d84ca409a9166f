//! End-to-end tests: an rmcp client talks to [`ExecServer`] over
//! `tokio::io::duplex`, with a manifest written to a temporary directory.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use crate::{manifest::Manifest, server::ExecServer};

use polyclaw_server_stdio::testing::Client;
use polyclaw_server_stdio::testing::call;

const MANIFEST: &str = r#"
[server]
name = "test-exec"
instructions = "Test tools."

[[tools]]
name = "say"
description = "Print the words, one argv element each"
command = ["printf", "%s|", "{first}", "{second}"]
read_only = true

[tools.args]
first = { type = "string", description = "First word" }
second = { type = "string", description = "Second word", required = false }

[[tools]]
name = "fail"
description = "Exit with a code, after writing to stderr"
command = ["sh", "-c", "echo partial; echo oops >&2; exit \"$1\"", "sh", "{code}"]

[tools.args]
code = { type = "integer", description = "Exit code" }

[[tools]]
name = "slow"
description = "Sleep longer than the timeout"
command = ["sleep", "30"]
timeout_secs = 1

[[tools]]
name = "pwd_env"
description = "Show the working directory and an environment variable"
command = ["sh", "-c", "pwd; echo \"$GREETING\""]
cwd = "work"
env = { GREETING = "hello {who}" }

[tools.args]
who = { type = "string", description = "Who", required = false, default = "world" }

[[tools]]
name = "flood"
description = "Write more than the cap"
command = ["head", "-c", "100000", "/dev/zero"]
max_output_bytes = 10
"#;

struct Fixture {
    dir: tempfile::TempDir,
    client: Client,
}

async fn fixture(modern: bool) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("work"))?;
    let path = dir.path().join("tools.toml");
    std::fs::write(&path, MANIFEST)?;
    let server = ExecServer::new(Manifest::load(&path)?);
    let client = polyclaw_server_stdio::testing::connect(server, modern).await?;
    Ok(Fixture { dir, client })
}

fn texts(result: &CallToolResult) -> Vec<&str> {
    result
        .content
        .iter()
        .filter_map(|content| content.as_text())
        .map(|text| text.text.as_str())
        .collect()
}

fn structured(result: &CallToolResult) -> anyhow::Result<&Value> {
    result
        .structured_content
        .as_ref()
        .ok_or_else(|| anyhow!("no structured content in {result:?}"))
}

#[tokio::test]
async fn lists_manifest_tools_in_both_eras() -> anyhow::Result<()> {
    for modern in [false, true] {
        let fx = fixture(modern).await?;
        let info = fx
            .client
            .peer_info()
            .ok_or_else(|| anyhow!("no server info"))?;
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some("test-exec")
        );
        let tools = fx.client.list_all_tools().await?;
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["say", "fail", "slow", "pwd_env", "flood"]);
        let say = tools.first().ok_or_else(|| anyhow!("no tools"))?;
        assert_eq!(say.input_schema.get("required"), Some(&json!(["first"])));
        assert_eq!(
            say.annotations.as_ref().and_then(|a| a.read_only_hint),
            Some(true)
        );
        let output = say
            .output_schema
            .as_ref()
            .ok_or_else(|| anyhow!("no output schema"))?;
        assert!(output["properties"].get("exit_code").is_some());
        fx.client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn arguments_are_argv_elements_never_shell() -> anyhow::Result<()> {
    let fx = fixture(false).await?;
    let marker = fx.dir.path().join("pwned");
    let nasty = format!(
        "a b; touch {} $(touch {}) `id`",
        marker.display(),
        marker.display()
    );
    let result = call(&fx.client, "say", json!({"first": nasty, "second": "*"})).await?;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(texts(&result), [format!("{nasty}|*|")]);
    assert_eq!(
        structured(&result)?,
        &json!({"exit_code": 0, "stdout": format!("{nasty}|*|"), "stderr": "", "timed_out": false, "truncated": false})
    );
    assert!(!marker.exists());
    // An optional argument left out drops its element.
    let result = call(&fx.client, "say", json!({"first": "only"})).await?;
    assert_eq!(texts(&result), ["only|"]);
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn nonzero_exit_is_an_error_result() -> anyhow::Result<()> {
    let fx = fixture(false).await?;
    let result = call(&fx.client, "fail", json!({"code": 3})).await?;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        texts(&result),
        ["partial\n", "exit code 3\nstderr:\noops\n"]
    );
    let out = structured(&result)?;
    assert_eq!(out["exit_code"], 3);
    assert_eq!(out["stderr"], "oops\n");
    let result = call(&fx.client, "fail", json!({"code": 0})).await?;
    assert_eq!(result.is_error, Some(false));
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn timeouts_caps_cwd_and_env() -> anyhow::Result<()> {
    let fx = fixture(false).await?;
    let start = Instant::now();
    let result = call(&fx.client, "slow", json!({})).await?;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(result.is_error, Some(true));
    assert_eq!(structured(&result)?["timed_out"], true);
    assert_eq!(structured(&result)?["exit_code"], Value::Null);
    assert!(
        texts(&result)
            .iter()
            .any(|t| t.contains("timed out after 1 s"))
    );

    let result = call(&fx.client, "flood", json!({})).await?;
    assert_eq!(structured(&result)?["truncated"], true);
    assert_eq!(
        structured(&result)?["stdout"].as_str().map(str::len),
        Some(10)
    );

    let result = call(&fx.client, "pwd_env", json!({})).await?;
    let work = fx.dir.path().join("work").canonicalize()?;
    assert_eq!(
        texts(&result).first().copied(),
        Some(format!("{}\nhello world\n", work.display()).as_str())
    );
    let result = call(&fx.client, "pwd_env", json!({"who": "Ada"})).await?;
    assert!(
        texts(&result)
            .first()
            .is_some_and(|t| t.ends_with("hello Ada\n"))
    );
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools() -> anyhow::Result<()> {
    let fx = fixture(true).await?;
    let result = call(&fx.client, "say", json!({})).await?;
    assert_eq!(result.is_error, Some(true));
    assert!(
        texts(&result)
            .first()
            .is_some_and(|t| t.contains("missing argument \"first\""))
    );
    let result = call(&fx.client, "fail", json!({"code": "3"})).await?;
    assert!(
        texts(&result)
            .first()
            .is_some_and(|t| t.contains("must be an integer"))
    );
    let result = call(&fx.client, "say", json!({"first": "x", "third": 1})).await?;
    assert!(
        texts(&result)
            .first()
            .is_some_and(|t| t.contains("unknown argument \"third\""))
    );
    assert!(call(&fx.client, "nope", json!({})).await.is_err());
    fx.client.cancel().await?;
    Ok(())
}
