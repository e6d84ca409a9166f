//! End-to-end tests: an rmcp client talks to [`HttpServer`] over
//! `tokio::io::duplex`; the server requests a local axum app on 127.0.0.1.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context as _, anyhow, bail};
use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    response::Redirect,
    routing::{get, post},
};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

use crate::{
    allow::{AllowList, Allowed},
    request::Requester,
    server::HttpServer,
};

use polyclaw_server_stdio::testing::Client;

/// Starts the local app; returns its address.
async fn app() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let port = addr.port();
    let router =
        Router::new()
            .route("/hello", get(|| async { ([("x-served", "yes")], "hello") }))
            .route(
                "/echo",
                post(|headers: HeaderMap, body: String| async move {
                    let test = headers
                        .get("x-test")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned();
                    format!("x-test={test} body={body}")
                }),
            )
            .route("/big", get(|| async { "x".repeat(100_000) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "late"
                }),
            )
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, "nope") }),
            )
            .route(
                "/redirect-in",
                get(|| async { Redirect::temporary("/hello") }),
            )
            .route(
                "/redirect-out",
                get(move || async move {
                    Redirect::temporary(&format!("http://localhost:{port}/hello"))
                }),
            );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

async fn connect(allow: &[String], timeout: Duration, modern: bool) -> anyhow::Result<Client> {
    let allow = allow
        .iter()
        .map(|entry| Allowed::parse(entry))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let server = HttpServer::new(Requester::new(AllowList::new(allow), timeout, None)?)?;
    polyclaw_server_stdio::testing::connect(server, modern).await
}

async fn request(client: &Client, args: Value) -> anyhow::Result<CallToolResult> {
    let Value::Object(arguments) = args else {
        bail!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new("request").with_arguments(arguments))
        .await
        .context("calling request")
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

#[tokio::test]
async fn lists_the_request_tool_in_both_eras() -> anyhow::Result<()> {
    for modern in [false, true] {
        let client = connect(&["example.com".into()], Duration::from_secs(5), modern).await?;
        let tools = client.list_all_tools().await?;
        assert_eq!(tools.len(), 1);
        let tool = tools.first().ok_or_else(|| anyhow!("no tool"))?;
        assert_eq!(tool.name, "request");
        assert!(
            tool.description
                .as_deref()
                .is_some_and(|d| d.contains("example.com"))
        );
        assert_eq!(
            tool.input_schema.get("required"),
            Some(&json!(["method", "url"]))
        );
        assert!(tool.output_schema.is_some());
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn requests_allowed_hosts() -> anyhow::Result<()> {
    let addr = app().await?;
    let client = connect(&[addr.to_string()], Duration::from_secs(5), false).await?;
    let base = format!("http://{addr}");

    let result = request(
        &client,
        json!({"method": "get", "url": format!("{base}/hello")}),
    )
    .await?;
    let out = structured(&result)?;
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], "hello");
    assert_eq!(out["headers"]["x-served"], "yes");
    assert_eq!(out["truncated"], false);
    let shown = text(&result)?;
    assert!(shown.starts_with("HTTP 200 OK\n"), "{shown}");
    assert!(shown.ends_with("\n\nhello"), "{shown}");

    let result = request(
        &client,
        json!({"method": "POST", "url": format!("{base}/echo"), "headers": {"X-Test": "t1"}, "body": "payload"}),
    )
    .await?;
    assert_eq!(structured(&result)?["body"], "x-test=t1 body=payload");

    let result = request(
        &client,
        json!({"method": "GET", "url": format!("{base}/big"), "max_bytes": 1000}),
    )
    .await?;
    let out = structured(&result)?;
    assert_eq!(out["body"].as_str().map(str::len), Some(1000));
    assert_eq!(out["truncated"], true);

    // HTTP errors are responses, not tool errors.
    let result = request(
        &client,
        json!({"method": "GET", "url": format!("{base}/missing")}),
    )
    .await?;
    assert_eq!(structured(&result)?["status"], 404);

    // Redirects within the allow list are followed.
    let result = request(
        &client,
        json!({"method": "GET", "url": format!("{base}/redirect-in")}),
    )
    .await?;
    assert_eq!(structured(&result)?["body"], "hello");
    assert_eq!(structured(&result)?["url"], format!("{base}/hello"));
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn refuses_other_hosts_with_a_clear_error() -> anyhow::Result<()> {
    let addr = app().await?;
    let client = connect(&[addr.to_string()], Duration::from_secs(5), false).await?;
    let other_port = format!(
        "http://127.0.0.1:{}/hello",
        addr.port().wrapping_add(1).max(1)
    );
    for url in [
        format!("http://localhost:{}/hello", addr.port()),
        other_port,
        "https://example.com/".to_owned(),
    ] {
        let result = request(&client, json!({"method": "GET", "url": url})).await?;
        assert_eq!(result.is_error, Some(true), "{url}");
        let message = text(&result)?;
        assert!(message.contains("not on the allow list"), "{message}");
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(message.contains("--allow HOST[:PORT]"), "{message}");
    }
    // A redirect to a host off the list is handed back, not followed.
    let result = request(
        &client,
        json!({"method": "GET", "url": format!("http://{addr}/redirect-out")}),
    )
    .await?;
    let out = structured(&result)?;
    assert_eq!(out["status"], 307);
    assert_eq!(
        out["headers"]["location"],
        format!("http://localhost:{}/hello", addr.port())
    );
    assert!(text(&result)?.contains("not followed"));

    for (args, needle) in [
        (
            json!({"method": "GET", "url": "not a url"}),
            "not an absolute URL",
        ),
        (
            json!({"method": "GET", "url": "file:///etc/passwd"}),
            "only http and https",
        ),
        (
            json!({"method": "BREW", "url": format!("http://{addr}/")}),
            "not supported",
        ),
        (
            json!({"method": "GET", "url": format!("http://{addr}/"), "headers": {"Host": "x"}}),
            "Host header",
        ),
        (
            json!({"url": format!("http://{addr}/")}),
            "missing field `method`",
        ),
    ] {
        let result = request(&client, args.clone()).await?;
        assert_eq!(result.is_error, Some(true), "{args}");
        assert!(
            text(&result)?.contains(needle),
            "{args}: {}",
            text(&result)?
        );
    }
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn times_out() -> anyhow::Result<()> {
    let addr = app().await?;
    let client = connect(&[addr.to_string()], Duration::from_secs(1), true).await?;
    let started = std::time::Instant::now();
    let result = request(
        &client,
        json!({"method": "GET", "url": format!("http://{addr}/slow")}),
    )
    .await?;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(result.is_error, Some(true));
    assert!(
        text(&result)?.contains("timed out after 1 s"),
        "{}",
        text(&result)?
    );
    client.cancel().await?;
    Ok(())
}
