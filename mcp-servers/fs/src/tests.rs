//! End-to-end tests: an rmcp client talks to [`FsServer`] over
//! `tokio::io::duplex`, on a temporary root.

use std::{os::unix::fs::symlink, sync::Arc};

use anyhow::{Context as _, anyhow, bail};
use rmcp::model::{CallToolResult, ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

use crate::{root::Root, server::FsServer};

use polyclaw_server_stdio::testing::Client;
use polyclaw_server_stdio::testing::call;

struct Fixture {
    dir: tempfile::TempDir,
    _outside: tempfile::TempDir,
    client: Client,
}

/// A root with `docs/a.md`, `docs/sub/b.txt`, `bin.dat` (not UTF-8) and a
/// symlink `escape` to a file outside it; a client connected to a server on it.
async fn fixture(read_only: bool, modern: bool) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("docs/sub"))?;
    std::fs::write(dir.path().join("docs/a.md"), "# A\nhello")?;
    std::fs::write(dir.path().join("docs/sub/b.txt"), "bee")?;
    std::fs::write(dir.path().join("bin.dat"), [0xFF, 0x00, 0x01])?;
    std::fs::write(outside.path().join("secret"), "secret")?;
    symlink(outside.path().join("secret"), dir.path().join("escape"))?;

    let server = FsServer::new(Arc::new(Root::new(dir.path())?), read_only)?;
    let client = polyclaw_server_stdio::testing::connect(server, modern).await?;
    Ok(Fixture {
        dir,
        _outside: outside,
        client,
    })
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

/// Asserts an error result whose text contains `needle`.
fn refused(result: &CallToolResult, needle: &str) -> anyhow::Result<()> {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let message = text(result)?;
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    Ok(())
}

#[tokio::test]
async fn lists_tools_in_both_eras() -> anyhow::Result<()> {
    for modern in [false, true] {
        let fx = fixture(false, modern).await?;
        let tools = fx.client.list_all_tools().await?;
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            ["list_dir", "read_file", "write_file", "stat", "search"]
        );
        for tool in &tools {
            assert!(tool.description.is_some());
            assert!(tool.output_schema.is_some(), "{}", tool.name);
        }
        let read = tools.get(1).ok_or_else(|| anyhow!("no read_file"))?;
        assert_eq!(read.input_schema.get("required"), Some(&json!(["path"])));
        fx.client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn lists_reads_and_stats() -> anyhow::Result<()> {
    let fx = fixture(false, false).await?;
    let c = &fx.client;

    let listing = call(c, "list_dir", json!({})).await?;
    let entries = &structured(&listing)?["entries"];
    assert_eq!(entries[0]["name"], "bin.dat");
    assert_eq!(
        entries[1],
        json!({"name": "docs", "type": "dir", "size": entries[1]["size"]})
    );
    assert_eq!(entries[2]["type"], "symlink");
    assert!(text(&listing)?.contains("docs/\n"));

    let read = call(c, "read_file", json!({"path": "docs/a.md"})).await?;
    assert_eq!(text(&read)?, "# A\nhello");
    assert_eq!(structured(&read)?["encoding"], "utf-8");
    assert_eq!(structured(&read)?["truncated"], false);

    let cut = call(c, "read_file", json!({"path": "docs/a.md", "max_bytes": 3})).await?;
    assert_eq!(structured(&cut)?["content"], "# A");
    assert_eq!(structured(&cut)?["truncated"], true);
    assert_eq!(structured(&cut)?["size"], 9);

    let binary = call(c, "read_file", json!({"path": "bin.dat"})).await?;
    assert_eq!(structured(&binary)?["encoding"], "base64");
    assert_eq!(structured(&binary)?["content"], "/wAB");

    let stat = call(c, "stat", json!({"path": "docs/sub/b.txt"})).await?;
    let stat = structured(&stat)?;
    assert_eq!(stat["type"], "file");
    assert_eq!(stat["size"], 3);
    assert!(stat["modified"].as_str().is_some_and(|t| t.ends_with('Z')));

    let absolute = fx.dir.path().join("docs/a.md");
    let read = call(c, "read_file", json!({"path": absolute})).await?;
    assert_eq!(text(&read)?, "# A\nhello");

    refused(
        &call(c, "read_file", json!({"path": "docs"})).await?,
        "is a directory",
    )?;
    refused(
        &call(c, "read_file", json!({"path": "nope.txt"})).await?,
        "does not exist",
    )?;
    refused(
        &call(c, "list_dir", json!({"path": "bin.dat"})).await?,
        "not a directory",
    )?;
    refused(
        &call(c, "read_file", json!({})).await?,
        "missing field `path`",
    )?;
    assert!(call(c, "no_such_tool", json!({})).await.is_err());
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn writes_atomically_under_the_root() -> anyhow::Result<()> {
    let fx = fixture(false, false).await?;
    let c = &fx.client;
    let written = call(
        c,
        "write_file",
        json!({"path": "new/dir/n.txt", "content": "né"}),
    )
    .await?;
    assert_eq!(
        structured(&written)?,
        &json!({"path": "new/dir/n.txt", "bytes": 3, "created": true})
    );
    assert_eq!(
        std::fs::read_to_string(fx.dir.path().join("new/dir/n.txt"))?,
        "né"
    );
    let replaced = call(
        c,
        "write_file",
        json!({"path": "docs/a.md", "content": "x"}),
    )
    .await?;
    assert_eq!(structured(&replaced)?["created"], false);
    assert_eq!(
        std::fs::read_to_string(fx.dir.path().join("docs/a.md"))?,
        "x"
    );
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path().join("docs"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    refused(
        &call(c, "write_file", json!({"path": "docs", "content": ""})).await?,
        "is a directory",
    )?;
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn refuses_paths_that_leave_the_root() -> anyhow::Result<()> {
    let fx = fixture(false, false).await?;
    let c = &fx.client;
    for (tool, args, needle) in [
        ("read_file", json!({"path": "../etc/passwd"}), "\"..\""),
        (
            "read_file",
            json!({"path": "/etc/passwd"}),
            "outside the root",
        ),
        ("read_file", json!({"path": "escape"}), "symlink"),
        ("stat", json!({"path": "docs/../../x"}), "\"..\""),
        ("list_dir", json!({"path": "/"}), "(e.g. \".\")"),
        (
            "write_file",
            json!({"path": "../evil", "content": "x"}),
            "\"..\"",
        ),
        (
            "write_file",
            json!({"path": "escape", "content": "x"}),
            "symlink",
        ),
        ("search", json!({"pattern": "*", "path": ".."}), "\"..\""),
    ] {
        let result = call(c, tool, args.clone()).await?;
        refused(&result, needle).with_context(|| format!("{tool} {args}"))?;
    }
    assert_eq!(
        std::fs::read_to_string(fx._outside.path().join("secret"))?,
        "secret"
    );
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn read_only_refuses_writes() -> anyhow::Result<()> {
    let fx = fixture(true, false).await?;
    let result = call(
        &fx.client,
        "write_file",
        json!({"path": "x.txt", "content": "x"}),
    )
    .await?;
    refused(&result, "--read-only")?;
    assert!(!fx.dir.path().join("x.txt").exists());
    let tools = fx.client.list_all_tools().await?;
    let write = tools.iter().find(|t| t.name == "write_file");
    assert!(
        write
            .and_then(|t| t.description.as_deref())
            .is_some_and(|d| d.contains("--read-only"))
    );
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn searches_by_substring_and_glob() -> anyhow::Result<()> {
    let fx = fixture(false, false).await?;
    let c = &fx.client;
    let paths = |result: &CallToolResult| -> anyhow::Result<Vec<String>> {
        Ok(structured(result)?["matches"]
            .as_array()
            .ok_or_else(|| anyhow!("no matches array"))?
            .iter()
            .filter_map(|m| m["path"].as_str().map(str::to_owned))
            .collect())
    };
    let found = call(c, "search", json!({"pattern": "B.TX"})).await?;
    assert_eq!(paths(&found)?, ["docs/sub/b.txt"]);
    let found = call(c, "search", json!({"pattern": "*.md"})).await?;
    assert_eq!(paths(&found)?, ["docs/a.md"]);
    let found = call(c, "search", json!({"pattern": "**/*.txt", "path": "docs"})).await?;
    assert_eq!(paths(&found)?, ["docs/sub/b.txt"]);
    let found = call(c, "search", json!({"pattern": "sub"})).await?;
    assert_eq!(paths(&found)?, ["docs/sub", "docs/sub/b.txt"]);
    let none = call(c, "search", json!({"pattern": "zzz"})).await?;
    assert_eq!(text(&none)?, "no matches\n");
    refused(
        &call(c, "search", json!({"pattern": "[x"})).await?,
        "unclosed",
    )?;
    fx.client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn files_are_resources() -> anyhow::Result<()> {
    let fx = fixture(false, true).await?;
    let c = &fx.client;
    std::fs::write(fx.dir.path().join("with space.txt"), "spaced")?;
    let resources = c.list_all_resources().await?;
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "file:///bin.dat",
            "file:///with%20space.txt",
            "file:///docs/a.md",
            "file:///docs/sub/b.txt"
        ]
    );
    let read = |uri: &'static str| async move {
        c.read_resource(ReadResourceRequestParams::new(uri)).await
    };
    match read("file:///with%20space.txt").await?.contents.first() {
        Some(ResourceContents::TextResourceContents { text, .. }) => assert_eq!(text, "spaced"),
        other => bail!("unexpected {other:?}"),
    }
    match read("file:///bin.dat").await?.contents.first() {
        Some(ResourceContents::BlobResourceContents { blob, .. }) => assert_eq!(blob, "/wAB"),
        other => bail!("unexpected {other:?}"),
    }
    assert!(read("file:///escape").await.is_err());
    assert!(read("file:///../x").await.is_err());
    assert!(read("http://example.com/").await.is_err());
    fx.client.cancel().await?;
    Ok(())
}
