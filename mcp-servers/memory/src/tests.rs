//! End-to-end tests: an rmcp client talks to [`MemoryServer`] over
//! `tokio::io::duplex`, with notes in a temporary directory.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use crate::{server::MemoryServer, store::Store};

use polyclaw_server_stdio::testing::Client;
use polyclaw_server_stdio::testing::call;

async fn connect(dir: &std::path::Path, modern: bool) -> anyhow::Result<Client> {
    let server = MemoryServer::new(Arc::new(Store::open(dir)?))?;
    polyclaw_server_stdio::testing::connect(server, modern).await
}

fn text(result: &CallToolResult) -> anyhow::Result<&str> {
    result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.as_str())
        .ok_or_else(|| anyhow!("no text content in {result:?}"))
}

fn structured(result: &CallToolResult) -> anyhow::Result<&Value> {
    if result.is_error == Some(true) {
        bail!("error result: {result:?}");
    }
    result
        .structured_content
        .as_ref()
        .ok_or_else(|| anyhow!("no structured content in {result:?}"))
}

fn keys(result: &CallToolResult) -> anyhow::Result<Vec<String>> {
    Ok(structured(result)?["notes"]
        .as_array()
        .ok_or_else(|| anyhow!("no notes array"))?
        .iter()
        .filter_map(|note| note["key"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn lists_tools_in_both_eras() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for modern in [false, true] {
        let client = connect(dir.path(), modern).await?;
        let tools = client.list_all_tools().await?;
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["remember", "recall", "search", "forget", "list"]);
        assert!(tools.iter().all(|t| t.output_schema.is_some()));
        let remember = tools.first().ok_or_else(|| anyhow!("no tools"))?;
        assert_eq!(
            remember.input_schema.get("required"),
            Some(&json!(["key", "text"]))
        );
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn remember_recall_search_forget() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let client = connect(dir.path(), false).await?;
    let saved = call(
        &client,
        "remember",
        json!({"key": "deadline", "text": "Ship v2 on Friday", "tags": ["work", "release"]}),
    )
    .await?;
    assert_eq!(text(&saved)?, "remembered deadline (new)");
    assert_eq!(structured(&saved)?["created"], true);
    call(
        &client,
        "remember",
        json!({"key": "groceries", "text": "milk, eggs"}),
    )
    .await?;
    call(
        &client,
        "remember",
        json!({"key": "standup", "text": "daily at 9", "tags": ["Work"]}),
    )
    .await?;

    let recalled = call(&client, "recall", json!({"key": "deadline"})).await?;
    assert_eq!(text(&recalled)?, "Ship v2 on Friday");
    assert_eq!(structured(&recalled)?["tags"], json!(["work", "release"]));

    assert_eq!(
        keys(&call(&client, "list", json!({})).await?)?,
        ["deadline", "groceries", "standup"]
    );
    let found = call(&client, "search", json!({"query": "FRIDAY"})).await?;
    assert_eq!(keys(&found)?, ["deadline"]);
    assert_eq!(
        structured(&found)?["notes"][0]["preview"],
        "Ship v2 on Friday"
    );
    let mut tagged = keys(&call(&client, "search", json!({"query": "#work"})).await?)?;
    tagged.sort();
    assert_eq!(tagged, ["deadline", "standup"]);
    assert_eq!(
        keys(&call(&client, "search", json!({"query": "eggs"})).await?)?,
        ["groceries"]
    );
    let none = call(&client, "search", json!({"query": "nothing like this"})).await?;
    assert_eq!(text(&none)?, "no notes match");

    let replaced = call(
        &client,
        "remember",
        json!({"key": "deadline", "text": "Monday"}),
    )
    .await?;
    assert_eq!(text(&replaced)?, "remembered deadline (replaced)");
    assert_eq!(
        structured(&replaced)?["note"]["created"],
        structured(&saved)?["note"]["created"]
    );

    assert_eq!(
        text(&call(&client, "forget", json!({"key": "deadline"})).await?)?,
        "forgot deadline"
    );
    let gone = call(&client, "recall", json!({"key": "deadline"})).await?;
    assert_eq!(gone.is_error, Some(true));
    assert!(text(&gone)?.contains("no note \"deadline\""));
    let again = call(&client, "forget", json!({"key": "deadline"})).await?;
    assert_eq!(again.is_error, Some(true));
    client.cancel().await?;

    // Notes persist: a new server on the same directory sees them.
    let client = connect(dir.path(), true).await?;
    assert_eq!(
        keys(&call(&client, "list", json!({})).await?)?,
        ["groceries", "standup"]
    );
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn refuses_bad_keys_and_arguments() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let notes = dir.path().join("notes");
    let client = connect(&notes, false).await?;
    for key in ["../escape", "/etc/passwd", "a/b", ".hidden", ""] {
        let result = call(&client, "remember", json!({"key": key, "text": "x"})).await?;
        assert_eq!(result.is_error, Some(true), "{key}");
        assert!(text(&result)?.contains("invalid key"), "{key}");
        let result = call(&client, "recall", json!({"key": key})).await?;
        assert_eq!(result.is_error, Some(true), "{key}");
    }
    assert!(!dir.path().join("escape.json").exists());
    let result = call(&client, "remember", json!({"key": "k"})).await?;
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result)?.contains("missing field `text`"));
    let result = call(&client, "search", json!({"query": "  "})).await?;
    assert_eq!(result.is_error, Some(true));
    assert!(call(&client, "nope", json!({})).await.is_err());
    client.cancel().await?;
    Ok(())
}
