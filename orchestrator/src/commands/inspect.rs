//! One-shot commands that start the registry in-process, look, and stop it again:
//! `servers list`, `tools list`, `tools call`, `doctor`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Error;
use crate::front;
use crate::hub::{self, Hub};
use crate::runtime::Status;

use super::out;

pub(super) async fn with_hub<T>(config: &Config, f: impl AsyncFnOnce(&Arc<Hub>) -> T) -> T {
    let root = CancellationToken::new();
    let hub = Hub::start(config, root.clone());
    hub.warm_up(hub::LIST_WAIT).await;
    let result = f(&hub).await;
    hub.shutdown().await;
    result
}

/// `servers list`
pub async fn servers_list(config: &Config, json: bool) -> Result<ExitCode, Error> {
    let rows = with_hub(config, async |m| front::own_tools::list_servers(m)).await;
    if json {
        out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    out(&format!(
        "{:<16} {:<8} {:<9} {:>5}  ENDPOINT",
        "NAME", "KIND", "STATUS", "TOOLS"
    ));
    for r in &rows {
        let s = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        out(&format!(
            "{:<16} {:<8} {:<9} {:>5}  {}",
            s("name"),
            s("kind"),
            s("status"),
            r.get("tools").and_then(Value::as_u64).unwrap_or(0),
            s("endpoint")
        ));
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            out(&format!("  └ {e}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `tools list`
pub async fn tools_list(config: &Config, json: bool) -> Result<ExitCode, Error> {
    let tools = with_hub(config, async |m| {
        let mut tools = front::own_tools::definitions();
        tools.extend(m.catalog().tools.iter().cloned());
        tools
    })
    .await;
    if json {
        out(&serde_json::to_string_pretty(&tools).unwrap_or_default());
    } else {
        for t in &tools {
            let d = t.description.as_deref().unwrap_or_default();
            let first = d.lines().next().unwrap_or_default();
            let short: String = first.chars().take(90).collect();
            out(&format!("{:<40} {short}", t.name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `tools call NAME --args JSON`
pub async fn tools_call(
    config: &Config,
    name: &str,
    args: &str,
    json: bool,
) -> Result<ExitCode, Error> {
    let arguments = match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(o)) => Some(o),
        Ok(_) => {
            return Err(Error::InvalidInput(
                "--args must be a JSON object, e.g. '{\"text\": \"hi\"}'".into(),
            ));
        }
        Err(e) => {
            return Err(Error::InvalidInput(format!(
                "--args is not valid JSON ({e}); quote it for the shell, e.g. --args '{{\"text\": \"hi\"}}'"
            )));
        }
    };
    let result = with_hub(config, async |m| {
        let ctx = hub::CallContext {
            origin: hub::Origin::Operator,
            ..hub::CallContext::default()
        };
        if front::own_tools::is_own(name) {
            match front::own_tools::call(m, name, arguments.unwrap_or_default(), &ctx).await {
                Ok(rmcp::model::CallToolResponse::Complete(r)) => Ok(r),
                Ok(_) => Err(Error::InvalidInput(format!(
                    "{name} answered with something else than a result"
                ))),
                Err(e) => Err(Error::InvalidInput(e.message.to_string())),
            }
        } else {
            m.call_tool(name, arguments, &ctx).await
        }
    })
    .await?;
    if json {
        out(&serde_json::to_string_pretty(&result).unwrap_or_default());
    } else {
        for c in &result.content {
            match c.as_text() {
                Some(t) => out(&t.text),
                None => out(&serde_json::to_string(c).unwrap_or_default()),
            }
        }
    }
    Ok(if result.is_error == Some(true) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `doctor`: config, each server, Docker. Exit code 1 if anything is broken.
pub async fn doctor(explicit: Option<&Path>) -> ExitCode {
    let mut ok = true;
    let config = match Config::discover(explicit) {
        Ok(c) => {
            out(&format!(
                "ok    config: {} ({} servers)",
                c.source,
                c.servers.len()
            ));
            c
        }
        Err(e) => {
            out(&format!("FAIL  config: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let rows = with_hub(&config, async |m| {
        m.servers()
            .iter()
            .map(|ds| {
                (
                    ds.spec.name.clone(),
                    ds.spec.endpoint(),
                    ds.status(),
                    ds.view().tools.len(),
                )
            })
            .collect::<Vec<_>>()
    })
    .await;
    for (name, endpoint, status, tools) in rows {
        match status {
            Status::Ready { .. } | Status::Stopped
                if tools > 0 || matches!(status, Status::Ready { .. }) =>
            {
                out(&format!("ok    server {name}: {tools} tools ({endpoint})"));
            }
            Status::Disabled => out(&format!("skip  server {name}: disabled")),
            Status::Down { error, .. } => {
                ok = false;
                out(&format!("FAIL  server {name}: {error}"));
            }
            other => {
                ok = false;
                out(&format!(
                    "FAIL  server {name}: {} ({endpoint})",
                    other.label()
                ));
            }
        }
    }
    // (image, whether a fallback process stands in without it)
    let images: Vec<(&str, bool)> = config
        .servers
        .iter()
        .filter_map(|s| match &s.transport {
            crate::config::Transport::Docker {
                image, fallback, ..
            } => Some((image.as_str(), fallback.is_some())),
            _ => None,
        })
        .collect();
    match crate::runtime::docker::Engine::connect().await {
        Ok(engine) => {
            out(&format!(
                "ok    docker: engine {} (API {})",
                engine.server_version, engine.api_version
            ));
            for (image, fallback) in &images {
                match engine.image_exists(image).await {
                    Ok(true) => out(&format!("ok    image {image}")),
                    Ok(false) if *fallback => out(&format!(
                        "info  image {image} is missing, so its server runs as its fallback process; `polyclaw images build` builds polyclaw's own"
                    )),
                    Ok(false) => {
                        ok = false;
                        out(&format!(
                            "FAIL  image {image} is missing; nothing can be pulled here: `polyclaw images build` builds polyclaw's own, `docker build`/`docker load` others"
                        ));
                    }
                    Err(e) => {
                        ok = false;
                        out(&format!("FAIL  image {image}: {e}"));
                    }
                }
            }
        }
        Err(e) => {
            if images.iter().all(|(_, fallback)| *fallback) {
                out(&format!(
                    "info  docker: {e} (no server needs it: {} run as their fallback processes)",
                    images.len()
                ));
            } else {
                ok = false;
                out(&format!("FAIL  docker: {e}"));
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
