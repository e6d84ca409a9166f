//! Fetching a server's lists (tools, prompts, resources and templates) into its view.

use super::*;

/// Lists what the server advertises, into `view`; failures are logged and leave that list empty.
pub(super) async fn fetch(
    spec: &ServerSpec,
    peer: &Peer<RoleClient>,
    caps: &ServerCapabilities,
    kinds: &[ListKind],
    view: &mut ServerView,
) {
    let t = spec.timeout;
    let name = &spec.name;
    for kind in kinds {
        match kind {
            ListKind::Tools if caps.tools.is_some() => {
                match tokio::time::timeout(t, peer.list_all_tools()).await {
                    Ok(Ok(tools)) => view.tools = tools,
                    Ok(Err(e)) => tracing::warn!(server = %name, "tools/list failed: {e}"),
                    Err(_) => tracing::warn!(server = %name, "tools/list timed out"),
                }
            }
            ListKind::Prompts if caps.prompts.is_some() => {
                match tokio::time::timeout(t, peer.list_all_prompts()).await {
                    Ok(Ok(prompts)) => view.prompts = prompts,
                    Ok(Err(e)) => tracing::warn!(server = %name, "prompts/list failed: {e}"),
                    Err(_) => tracing::warn!(server = %name, "prompts/list timed out"),
                }
            }
            ListKind::Resources if caps.resources.is_some() => {
                match tokio::time::timeout(t, peer.list_all_resources()).await {
                    Ok(Ok(r)) => view.resources = r,
                    Ok(Err(e)) => tracing::warn!(server = %name, "resources/list failed: {e}"),
                    Err(_) => tracing::warn!(server = %name, "resources/list timed out"),
                }
                match tokio::time::timeout(t, peer.list_all_resource_templates()).await {
                    Ok(Ok(r)) => view.templates = r,
                    Ok(Err(e)) => {
                        tracing::warn!(server = %name, "resources/templates/list failed: {e}")
                    }
                    Err(_) => tracing::warn!(server = %name, "resources/templates/list timed out"),
                }
            }
            _ => {}
        }
    }
}
