//! Process-wide state shared by every session (one per stdio connection, one
//! per legacy HTTP session, one per stateless 2026-07-28 HTTP request): the
//! tool list, tools added at run time, and who to tell when that list changes.
//!
//! Locks here are synchronous and never held across an `.await`.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use rmcp::{
    RoleServer,
    model::{Implementation, ServerCapabilities, ServerConfig, Tool},
    service::{Peer, SubscriptionSendError, SubscriptionSink},
};

use crate::catalog;

/// Shared state; cheap to reach through an `Arc`.
#[derive(Debug)]
pub struct Shared {
    name: String,
    config: ServerConfig,
    builtin: Vec<Tool>,
    dynamic: RwLock<BTreeMap<String, Tool>>,
    /// Sessions that went through `initialize` (2025-11-25 and older):
    /// they receive `notifications/tools/list_changed` directly.
    legacy_peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Open `subscriptions/listen` requests (2026-07-28).
    subscriptions: Mutex<Vec<(u64, SubscriptionSink)>>,
    next_subscription: AtomicU64,
    /// Call counters of the `flaky` tool, by key.
    pub flaky: Mutex<std::collections::HashMap<String, u32>>,
}

/// Why `add_tool` refused a name.
#[derive(Debug, PartialEq, Eq)]
pub enum AddToolError {
    InvalidName,
    Builtin,
}

impl Shared {
    /// Builds the state for a server called `name`.
    #[allow(
        deprecated,
        reason = "logging is deprecated by SEP-2577 but still served"
    )]
    pub fn new(name: impl Into<String>) -> anyhow::Result<Arc<Self>> {
        let name = name.into();
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        let config = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(name.clone(), env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Test downstream for polyclaw: echo, add, sleep, crash, pid, env, progress, log, \
                 sample, elicit, add_tool, fail.",
            );
        Ok(Arc::new(Self {
            name,
            config,
            builtin: catalog::builtin_tools()?,
            dynamic: RwLock::default(),
            legacy_peers: Mutex::default(),
            subscriptions: Mutex::default(),
            next_subscription: AtomicU64::new(0),
            flaky: Mutex::default(),
        }))
    }

    /// The server name (`serverInfo.name`, logger name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What `initialize` / `server/discover` advertise.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// All tools: built-in first, then the ones added at run time.
    pub fn tools(&self) -> Vec<Tool> {
        let dynamic = self.dynamic.read().unwrap_or_else(PoisonError::into_inner);
        let mut tools = Vec::with_capacity(self.builtin.len() + dynamic.len());
        tools.extend(self.builtin.iter().cloned());
        tools.extend(dynamic.values().cloned());
        tools
    }

    /// One tool by name.
    pub fn tool(&self, name: &str) -> Option<Tool> {
        if let Some(tool) = self.builtin.iter().find(|tool| tool.name == name) {
            return Some(tool.clone());
        }
        self.dynamic
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Whether `name` was added at run time.
    pub fn is_dynamic(&self, name: &str) -> bool {
        self.dynamic
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(name)
    }

    /// Registers a run-time tool. Adding an existing run-time tool again is
    /// accepted (and still announced); shadowing a built-in is not.
    pub fn add_dynamic(&self, name: &str, description: Option<&str>) -> Result<(), AddToolError> {
        if !catalog::valid_tool_name(name) {
            return Err(AddToolError::InvalidName);
        }
        if self.builtin.iter().any(|tool| tool.name == name) {
            return Err(AddToolError::Builtin);
        }
        self.dynamic
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), catalog::dynamic_tool(name, description));
        Ok(())
    }

    /// Remembers a session that negotiated through `initialize`.
    pub fn register_legacy_peer(&self, peer: Peer<RoleServer>) {
        let mut peers = self
            .legacy_peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        peers.retain(|peer| !peer.is_transport_closed());
        peers.push(peer);
    }

    /// Remembers an open `subscriptions/listen` request; returns its key.
    pub fn add_subscription(&self, sink: SubscriptionSink) -> u64 {
        let key = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key, sink));
        key
    }

    /// Forgets a subscription when its request ends.
    pub fn remove_subscription(&self, key: u64) {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(k, _)| *k != key);
    }

    /// Sends `notifications/tools/list_changed` to every legacy session and
    /// every subscription that asked for it. Returns how many were reached.
    pub async fn notify_tools_changed(&self) -> usize {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = self
                .legacy_peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            peers.retain(|peer| !peer.is_transport_closed());
            peers.clone()
        };
        let sinks: Vec<(u64, SubscriptionSink)> = self
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, sink)| sink.accepted().tools_list_changed == Some(true))
            .cloned()
            .collect();
        let mut reached = 0;
        for peer in peers {
            match peer.notify_tool_list_changed().await {
                Ok(()) => reached += 1,
                Err(error) => tracing::debug!(%error, "list_changed to a legacy session failed"),
            }
        }
        for (key, sink) in sinks {
            match sink.notify_tool_list_changed().await {
                Ok(()) => reached += 1,
                Err(SubscriptionSendError::SubscriptionClosed) => self.remove_subscription(key),
                Err(error) => tracing::debug!(%error, "list_changed to a subscription failed"),
            }
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_tools_are_listed_after_builtins() -> anyhow::Result<()> {
        let shared = Shared::new("t")?;
        let builtin = shared.tools().len();
        shared
            .add_dynamic("dyn_one", None)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        shared
            .add_dynamic("dyn_one", None)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let tools = shared.tools();
        assert_eq!(tools.len(), builtin + 1);
        assert_eq!(tools.last().map(|t| t.name.as_ref()), Some("dyn_one"));
        assert!(shared.is_dynamic("dyn_one"));
        assert!(shared.tool("dyn_one").is_some());
        assert!(shared.tool("echo").is_some());
        assert_eq!(shared.add_dynamic("echo", None), Err(AddToolError::Builtin));
        assert_eq!(
            shared.add_dynamic("bad name", None),
            Err(AddToolError::InvalidName)
        );
        Ok(())
    }

    #[test]
    fn config_carries_name_and_capabilities() -> anyhow::Result<()> {
        let shared = Shared::new("svc")?;
        let config = shared.config();
        assert_eq!(config.server_info.name, "svc");
        let tools = config.capabilities.tools.as_ref();
        assert_eq!(tools.and_then(|t| t.list_changed), Some(true));
        assert!(config.capabilities.resources.is_some());
        assert!(config.capabilities.prompts.is_some());
        Ok(())
    }
}
