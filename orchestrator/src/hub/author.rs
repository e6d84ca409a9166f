//! Who writes plans when the user does not: the connected client's model through MCP
//! sampling, or an OpenAI-compatible chat endpoint from `[llm]`. Both get the same prompt
//! (made by the planner) and return text; the planner extracts and validates the plan.

#![expect(
    deprecated,
    reason = "sampling is deprecated in 2026-07-28 but is how 2025-11-25 clients lend their model"
)]

use std::time::Duration;

use rmcp::model::{CreateMessageRequestParams, SamplingMessage};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Value, json};

use crate::config::LlmConfig;
use crate::error::Error;

/// The system prompt of every plan request.
pub const SYSTEM: &str = "You write execution plans for polyclaw, an MCP tool mesh. Answer with one JSON object that matches the plan JSON Schema you are given, and nothing else.";

/// A model that can be asked for a plan.
#[derive(Clone)]
pub enum Author {
    /// The connected client's model, through `sampling/createMessage`.
    Sampling(Peer<RoleServer>),
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi {
        /// Its settings.
        config: LlmConfig,
        /// The API key, read from `api_key_env` when polyclaw started.
        api_key: Option<String>,
    },
}

impl std::fmt::Debug for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sampling(_) => f.write_str("Author::Sampling"),
            Self::OpenAi { config, .. } => write!(f, "Author::OpenAi({})", config.base_url),
        }
    }
}

impl Author {
    /// The author to use: the client's model when it offers sampling, else `[llm]`, else none.
    #[must_use]
    pub fn choose(client: Option<&Peer<RoleServer>>, llm: Option<&LlmConfig>) -> Option<Self> {
        if let Some(peer) = client
            && peer
                .peer_info()
                .is_some_and(|i| i.capabilities.sampling.is_some())
        {
            return Some(Self::Sampling(peer.clone()));
        }
        llm.map(|config| Self::OpenAi {
            config: config.clone(),
            api_key: config
                .api_key_env
                .as_ref()
                .and_then(|name| std::env::var(name).ok()),
        })
    }

    /// A short name for reports.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Sampling(_) => "the client's model (MCP sampling)".into(),
            Self::OpenAi { config, .. } => format!("{} at {}", config.model, config.base_url),
        }
    }

    /// Asks for a completion of `prompt`.
    ///
    /// # Errors
    /// [`Error::Planning`] naming the author and what went wrong.
    pub async fn complete(&self, prompt: &str) -> Result<String, Error> {
        self.complete_as(SYSTEM, prompt).await
    }

    /// Asks for a completion of `prompt` under another system prompt (e.g. for a server
    /// spec instead of a plan).
    ///
    /// # Errors
    /// [`Error::Planning`] naming the author and what went wrong.
    pub async fn complete_as(&self, system: &str, prompt: &str) -> Result<String, Error> {
        match self {
            Self::Sampling(peer) => {
                let params =
                    CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 4000)
                        .with_system_prompt(system);
                let result = peer.create_message(params).await.map_err(|e| {
                    Error::Planning(format!(
                        "the client's model could not be asked (sampling failed: {e})"
                    ))
                })?;
                let text = serde_json::to_value(&result.message)
                    .ok()
                    .map(|m| collect_text(&m))
                    .unwrap_or_default();
                if text.trim().is_empty() {
                    return Err(Error::Planning(
                        "the client's model answered without text".into(),
                    ));
                }
                Ok(text)
            }
            Self::OpenAi { config, api_key } => {
                openai(config, api_key.as_deref(), system, prompt).await
            }
        }
    }
}

/// Every `text` field in a message's content, joined.
fn collect_text(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("text")
                && let Some(t) = o.get("text").and_then(Value::as_str)
            {
                return t.to_string();
            }
            o.values().map(collect_text).collect::<Vec<_>>().join("")
        }
        Value::Array(a) => a.iter().map(collect_text).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

async fn openai(
    config: &LlmConfig,
    api_key: Option<&str>,
    system: &str,
    prompt: &str,
) -> Result<String, Error> {
    let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
    let timeout = Duration::from_secs_f64(config.timeout.unwrap_or(120.0).clamp(1.0, 3600.0));
    crate::tls::install_provider();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| Error::Planning(format!("cannot make an HTTP client: {e}")))?;
    let body = json!({
        "model": config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ],
    });
    let mut request = client.post(&url).json(&body);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| {
        Error::Planning(format!(
            "cannot reach the plan model at {url} ({e}); check `llm.base_url` and that the endpoint is running"
        ))
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let hint = if status.as_u16() == 401 || status.as_u16() == 403 {
            "; check the API key in the variable named by `llm.api_key_env`"
        } else {
            ""
        };
        let head: String = text.chars().take(300).collect();
        return Err(Error::Planning(format!(
            "the plan model at {url} answered {status}: {head}{hint}"
        )));
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Planning(format!("the plan model's answer is not JSON ({e})")))?;
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Planning("the plan model's answer has no choices[0].message.content".into())
        })
}
