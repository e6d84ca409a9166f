//! Calling an operation: argument checks, the URL (path parameters
//! percent-encoded, query parameters appended), headers and JSON body, the
//! request itself and the tool result made of the response.

use std::time::Duration;

use reqwest::{
    Certificate, Client, StatusCode, Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
    redirect,
};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::Value;

use crate::openapi::{Location, Operation};

/// Largest response body read; the rest is dropped and the text says so.
pub const MAX_BODY: usize = 1024 * 1024;
/// Most redirects followed (each to the same scheme, host and port).
pub const MAX_REDIRECTS: usize = 5;

/// The HTTP client and where the API is.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
    /// The base URL without its trailing `/`.
    base: String,
    timeout: Duration,
}

impl Api {
    /// Builds the client: built-in (webpki) root certificates, no system CA
    /// store and no proxy from the environment (the same in a `FROM scratch`
    /// image); redirects followed only within the same origin.
    pub fn new(base_url: &Url, timeout: Duration) -> anyhow::Result<Self> {
        let mut roots = Vec::new();
        for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            roots.push(Certificate::from_der(der)?);
        }
        let policy = redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > MAX_REDIRECTS || !same_origin {
                // Hand the 3xx back instead of following it.
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        // reqwest is built without a rustls provider (the workspace uses ring): install it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .tls_certs_only(roots)
            .no_proxy()
            .redirect(policy)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                "polyclaw-server-openapi/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            client,
            base: base_url.as_str().trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// Calls `operation` with `arguments`: every problem, HTTP error status
    /// and network error is an error result.
    pub async fn call(&self, operation: &Operation, arguments: &JsonObject) -> CallToolResult {
        if let Err(message) = check_arguments(operation, arguments) {
            return error(message);
        }
        let request = match build(&self.base, operation, arguments) {
            Ok(request) => request,
            Err(message) => return error(message),
        };
        let url = request.url.to_string();
        let mut builder = self
            .client
            .request(operation.method.clone(), request.url)
            .timeout(self.timeout)
            .headers(request.headers);
        if let Some((content_type, body)) = request.body {
            builder = builder.header(CONTENT_TYPE, content_type).body(body);
        }
        let mut response = match builder.send().await {
            Ok(response) => response,
            Err(err) => return error(self.describe(&operation.method, &url, err)),
        };
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY.saturating_sub(body.len());
                    if chunk.len() > room {
                        body.extend_from_slice(chunk.get(..room).unwrap_or_default());
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(err) => {
                    let cause = self.describe(&operation.method, &url, err);
                    return error(format!(
                        "HTTP {}: the response body could not be read: {cause}",
                        status_line(status)
                    ));
                }
            }
        }
        respond(status, &body, truncated, location.as_deref())
    }

    /// A send error as a sentence naming the URL and the cause.
    fn describe(&self, method: &reqwest::Method, url: &str, err: reqwest::Error) -> String {
        if err.is_timeout() {
            return format!(
                "{method} {url}: no response within {} s (timeout_secs in the config); \
                 is the API slow or unreachable from this server?",
                self.timeout.as_secs()
            );
        }
        let err = err.without_url();
        // The innermost cause says the most ("Connection refused (os error 111)").
        let mut innermost = None;
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            innermost = Some(cause);
            source = cause.source();
        }
        let cause = match innermost {
            Some(cause) => format!("{err}: {cause}"),
            None => err.to_string(),
        };
        format!("cannot reach {url}: {cause}; is the API running and reachable from this server?")
    }
}

/// An error result with one text block.
pub fn error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// `404 Not Found`.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The tool result of a response: the body as text (status ≥ 400 → an
/// error result starting with `HTTP <status> <reason>:`), and the body as
/// structured content when it is a JSON object.
pub fn respond(
    status: StatusCode,
    body: &[u8],
    truncated: bool,
    location: Option<&str>,
) -> CallToolResult {
    let mut text = String::from_utf8_lossy(body).into_owned();
    let structured = if truncated {
        None
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
    };
    if truncated {
        text.push_str(&format!(
            "\n… response body truncated at {MAX_BODY} bytes (1 MiB)"
        ));
    }
    if status.is_redirection()
        && let Some(location) = location
    {
        text = format!(
            "HTTP {}: redirect to {location} not followed (another origin, or more than \
             {MAX_REDIRECTS} redirects)\n{text}",
            status_line(status)
        );
    }
    let mut result = if status.is_client_error() || status.is_server_error() {
        let body = if text.is_empty() {
            "(empty body)"
        } else {
            &text
        };
        error(format!("HTTP {}: {body}", status_line(status)))
    } else {
        if text.is_empty() {
            text = format!("HTTP {} (empty body)", status_line(status));
        }
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    result.structured_content = structured;
    result
}

/// Checks that the required arguments are there and that there are no
/// others; the message names them all.
pub fn check_arguments(operation: &Operation, arguments: &JsonObject) -> Result<(), String> {
    let mut problems = Vec::new();
    let missing: Vec<String> = operation
        .required()
        .filter(|name| arguments.get(*name).is_none_or(Value::is_null))
        .map(|name| format!("{name:?}"))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing required argument{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    let unknown: Vec<String> = arguments
        .keys()
        .filter(|name| !operation.arguments().any(|known| known == name.as_str()))
        .map(|name| format!("{name:?}"))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "unknown argument{} {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = operation
        .params
        .iter()
        .map(|param| {
            let required = if param.required { ", required" } else { "" };
            format!("{} ({}{required})", param.argument, param.location.name())
        })
        .chain(operation.body.iter().map(|body| {
            let required = if body.required { ", required" } else { "" };
            format!("{} (JSON request body{required})", body.argument)
        }))
        .collect();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    Err(format!(
        "{}: {} takes these arguments: {known}",
        problems.join("; "),
        operation.tool
    ))
}

/// What to send.
#[derive(Debug)]
pub struct Request {
    pub url: Url,
    pub headers: HeaderMap,
    /// Content type and JSON text.
    pub body: Option<(HeaderValue, String)>,
}

/// A scalar as text: strings as they are, others as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A path or header value: scalars as text, arrays comma-separated (OpenAPI
/// `simple` style), objects as JSON.
fn simple(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => scalar(other),
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986), so a
/// value stays one path segment.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Builds the request of `operation` (arguments already checked): `base`
/// (no trailing `/`) + the path with `{param}`s replaced, query parameters
/// (arrays as repeated keys), headers and the JSON body.
pub fn build(base: &str, operation: &Operation, arguments: &JsonObject) -> Result<Request, String> {
    let value = |argument: &str| arguments.get(argument).filter(|value| !value.is_null());
    let mut path = operation.path.clone();
    let mut query = Vec::new();
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, */*;q=0.8"),
    );
    for param in &operation.params {
        let Some(value) = value(&param.argument) else {
            continue;
        };
        match param.location {
            Location::Path => {
                let text = simple(value);
                if matches!(text.as_str(), "" | "." | "..") {
                    return Err(format!(
                        "argument {:?} = {text:?}: a path parameter cannot be empty, \".\" or \"..\"",
                        param.argument
                    ));
                }
                path = path.replace(&format!("{{{}}}", param.name), &encode_segment(&text));
            }
            Location::Query => match value {
                Value::Array(items) => {
                    query.extend(items.iter().map(|item| (param.name.clone(), scalar(item))));
                }
                other => query.push((param.name.clone(), scalar(other))),
            },
            Location::Header => {
                let name = HeaderName::from_bytes(param.name.as_bytes()).map_err(|_| {
                    format!(
                        "header parameter {:?} is not a valid header name",
                        param.name
                    )
                })?;
                let text = simple(value);
                let header = HeaderValue::from_str(&text).map_err(|_| {
                    format!(
                        "argument {:?}: header values cannot contain control characters",
                        param.argument
                    )
                })?;
                headers.insert(name, header);
            }
        }
    }
    let mut url = Url::parse(&format!("{base}{path}"))
        .map_err(|err| format!("the URL {base}{path} is not valid: {err}"))?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let body = match &operation.body {
        Some(body) => match value(&body.argument) {
            Some(json) => {
                let content_type = HeaderValue::from_str(&body.content_type)
                    .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
                Some((content_type, json.to_string()))
            }
            None => None,
        },
        None => None,
    };
    Ok(Request { url, headers, body })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::openapi::operations;

    fn operation(paths: Value) -> Operation {
        operations(&json!({"openapi": "3.0.0", "paths": paths}))
            .unwrap()
            .remove(0)
    }

    fn args(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            _ => JsonObject::new(),
        }
    }

    fn pets() -> Operation {
        operation(json!({"/pets/{petId}/toys": {"post": {
            "operationId": "addToy",
            "parameters": [
                {"name": "petId", "in": "path", "schema": {"type": "string"}},
                {"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                {"name": "filter", "in": "query", "schema": {"type": "object"}},
                {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
            ],
            "requestBody": {"required": true, "content": {"application/json": {}}}
        }}}))
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_segment("abc-._~XYZ09"), "abc-._~XYZ09");
        assert_eq!(encode_segment("a b/c?d#e%f"), "a%20b%2Fc%3Fd%23e%25f");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn builds_url_query_headers_and_body() {
        let op = pets();
        let request = build(
            "http://h:1/api",
            &op,
            &args(json!({
                "petId": "rex/../1 2",
                "tag": ["a", "b c", 3],
                "limit": 10,
                "filter": {"k": "v"},
                "X-Trace": "t-1",
                "body": {"name": "ball"}
            })),
        )
        .unwrap();
        assert_eq!(
            request.url.as_str(),
            "http://h:1/api/pets/rex%2F..%2F1%202/toys?tag=a&tag=b+c&tag=3&limit=10&filter=%7B%22k%22%3A%22v%22%7D"
        );
        assert_eq!(
            request.headers.get("x-trace").and_then(|v| v.to_str().ok()),
            Some("t-1")
        );
        let (content_type, body) = request.body.unwrap();
        assert_eq!(content_type, "application/json");
        assert_eq!(body, r#"{"name":"ball"}"#);

        // Numbers and booleans in the path are their JSON text; null is left out.
        let request = build("http://h:1", &op, &args(json!({"petId": 7, "limit": null}))).unwrap();
        assert_eq!(request.url.as_str(), "http://h:1/pets/7/toys");
        assert!(request.body.is_none());
    }

    #[test]
    fn refuses_path_values_that_leave_the_segment() {
        let op = pets();
        for value in ["", ".", ".."] {
            assert!(
                build("http://h", &op, &args(json!({"petId": value})))
                    .is_err_and(|e| e.contains("cannot be empty")),
                "{value:?}"
            );
        }
        assert!(
            build(
                "http://h",
                &op,
                &args(json!({"petId": "p", "X-Trace": "a\nb"}))
            )
            .is_err()
        );
    }

    #[test]
    fn checks_required_and_unknown_arguments() {
        let op = pets();
        assert_eq!(
            check_arguments(&op, &args(json!({"petId": "1", "body": {}}))),
            Ok(())
        );
        let message = check_arguments(&op, &args(json!({"petId": null, "bogus": 1, "other": 2})))
            .unwrap_err();
        assert!(
            message.starts_with(
                "missing required arguments \"petId\", \"body\"; unknown arguments \"bogus\", \"other\""
            ),
            "{message}"
        );
        assert!(message.contains("petId (path, required)"), "{message}");
        assert!(
            message.contains("body (JSON request body, required)"),
            "{message}"
        );
    }

    #[test]
    fn results_from_responses() {
        let result = respond(StatusCode::OK, br#"{"id": 1}"#, false, None);
        assert_eq!(result.is_error, Some(false));
        assert_eq!(result.structured_content, Some(json!({"id": 1})));
        // Arrays are not structured content.
        let result = respond(StatusCode::OK, b"[1]", false, None);
        assert_eq!(result.structured_content, None);
        let result = respond(StatusCode::NOT_FOUND, b"no such pet", false, None);
        assert_eq!(result.is_error, Some(true));
        let text = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone());
        assert_eq!(text.as_deref(), Some("HTTP 404 Not Found: no such pet"));
        let result = respond(StatusCode::NO_CONTENT, b"", false, None);
        let text = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone());
        assert_eq!(text.as_deref(), Some("HTTP 204 No Content (empty body)"));
        let result = respond(StatusCode::OK, br#"{"cut": "#, true, None);
        let text = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone());
        assert!(text.is_some_and(|t| t.contains("truncated at 1048576 bytes")));
    }
}
