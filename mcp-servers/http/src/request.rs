//! The HTTP client and the `request` tool: allow-list check (also on every
//! redirect), method and header checks, the response body read up to a cap.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use reqwest::{
    Certificate, Client, Method, Url,
    header::{HeaderMap, HeaderName, HeaderValue},
    redirect,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::allow::AllowList;

/// Default and largest `max_bytes`.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
pub const MAX_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Most redirects followed (each must go to an allowed host).
pub const MAX_REDIRECTS: usize = 10;

/// Arguments of `request`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RequestArgs {
    /// HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    pub method: String,
    /// Absolute http:// or https:// URL; its host must be on the server's allow list.
    pub url: String,
    /// Request headers, name to value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body (text).
    #[serde(default)]
    pub body: Option<String>,
    /// Read at most this many bytes of the response body (default 1048576, at most 16777216).
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// Output of `request`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    /// Response headers, lowercase names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The body as text (invalid UTF-8 replaced), at most max_bytes.
    pub body: String,
    /// Whether the body was cut at max_bytes.
    pub truncated: bool,
}

/// The configured client.
#[derive(Debug, Clone)]
pub struct Requester {
    client: Client,
    allow: Arc<AllowList>,
    timeout: Duration,
}

impl Requester {
    /// Builds the client: built-in (webpki) root certificates plus those of
    /// `ca_file`, no system CA store and no proxy from the environment, so
    /// it behaves the same in a `FROM scratch` image.
    pub fn new(
        allow: AllowList,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut roots = Vec::new();
        for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            roots.push(Certificate::from_der(der)?);
        }
        if let Some(file) = ca_file {
            let pem = std::fs::read(file)
                .map_err(|err| anyhow::anyhow!("--ca-file {}: {err}", file.display()))?;
            let extra = Certificate::from_pem_bundle(&pem)
                .map_err(|err| anyhow::anyhow!("--ca-file {}: {err}", file.display()))?;
            if extra.is_empty() {
                anyhow::bail!("--ca-file {}: no PEM certificates in it", file.display());
            }
            roots.extend(extra);
        }
        let allow = Arc::new(allow);
        let policy_allow = allow.clone();
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS || !policy_allow.permits(attempt.url()) {
                // Hand the 3xx to the caller instead of following it.
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
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("polyclaw-server-http/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow,
            timeout,
        })
    }

    /// The allow list.
    pub fn allow(&self) -> &AllowList {
        &self.allow
    }

    /// Performs `args`; the error is meant for the caller.
    pub async fn request(&self, args: RequestArgs) -> Result<Response, String> {
        let url = Url::parse(&args.url).map_err(|err| {
            format!(
                "url {:?} is not an absolute URL ({err}): e.g. https://HOST/path",
                args.url
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "url {}: only http and https URLs can be requested",
                args.url
            ));
        }
        if !self.allow.permits(&url) {
            let host = url.host_str().unwrap_or("");
            let port = url
                .port_or_known_default()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            return Err(format!(
                "{host}{port} is not on the allow list of this server ({}): requests go only \
                 to those hosts; to allow another, start the server with --allow HOST[:PORT]",
                self.allow.describe()
            ));
        }
        let method = args.method.trim().to_ascii_uppercase();
        let method = match method.as_str() {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
                Method::from_bytes(method.as_bytes()).map_err(|err| err.to_string())?
            }
            _ => {
                return Err(format!(
                    "method {:?} is not supported: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
                    args.method
                ));
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &args.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header name {name:?} is not valid"))?;
            if header == reqwest::header::HOST {
                return Err("the Host header comes from the URL and cannot be set".to_owned());
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                format!("header {name}: value is not valid (no control characters)")
            })?;
            headers.append(header, value);
        }
        let mut request = self.client.request(method, url).headers(headers);
        if let Some(body) = args.body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(|err| self.describe(&err))?;
        let status = response.status().as_u16();
        let final_url = response.url().to_string();
        let mut response_headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            response_headers
                .entry(name.as_str().to_owned())
                .and_modify(|existing| {
                    existing.push_str(", ");
                    existing.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let max = args
            .max_bytes
            .unwrap_or(DEFAULT_MAX_BYTES)
            .min(MAX_MAX_BYTES);
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|err| self.describe(&err))? {
            let room = max.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(chunk.get(..room).unwrap_or_default());
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            url: final_url,
            headers: response_headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            truncated,
        })
    }

    /// A reqwest error as a sentence with its causes.
    fn describe(&self, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            return format!(
                "request timed out after {} s (the server's --timeout)",
                self.timeout.as_secs()
            );
        }
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    }
}

/// The response as text: status line, headers, blank line, body.
pub fn response_text(response: &Response) -> String {
    let reason = reqwest::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    let mut text = format!("HTTP {} {reason}\n", response.status);
    for (name, value) in &response.headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push('\n');
    text.push_str(&response.body);
    if response.truncated {
        text.push_str("\n… body truncated: raise max_bytes to read more");
    }
    if let Some(location) = response.headers.get("location")
        && (300..400).contains(&response.status)
    {
        text.push_str(&format!(
            "\n(redirect to {location} not followed: its host is not on the allow list, \
             or there were more than {MAX_REDIRECTS} redirects)"
        ));
    }
    text
}
