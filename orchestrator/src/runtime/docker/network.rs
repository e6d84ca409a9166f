//! polyclaw's private network: where servers that speak HTTP inside their container
//! (`image` + `port`) are reached. One per polyclaw instance, `internal` (Docker gives it no
//! route out), labelled like the containers so leftovers of a dead instance are reaped and the
//! instance removes its own at exit.
//!
//! polyclaw on the host reaches containers on it by their address on the network's bridge.
//! polyclaw in a container (see `compose/`) joins the network itself.

use std::collections::HashMap;

use bollard::models::{NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    InspectContainerOptions, InspectNetworkOptions, ListNetworksOptions,
};

use super::{Engine, engine_error, is_status, labels};
use crate::error::Error;

/// The private network's name for `instance`.
#[must_use]
pub fn private_name(instance: &str) -> String {
    format!("polyclaw-{instance}")
}

impl Engine {
    /// Makes sure this instance's private network exists (and that polyclaw, when it runs in
    /// a container, is attached to it); returns its name. Safe to call concurrently.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine refuses to create it.
    pub async fn private_network(&self, instance: &str) -> Result<String, Error> {
        // One at a time: engines before API 1.44 happily create two networks of one name.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = CREATING.lock().await;
        let name = private_name(instance);
        match self
            .docker()
            .inspect_network(&name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(name),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(engine_error(format!("inspect the network `{name}`"), e)),
        }
        let mut labels = labels::container_labels(instance, "");
        labels.remove(labels::SERVER);
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            internal: Some(true),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker()
            .create_network(request)
            .await
            .map_err(|e| engine_error(format!("create the network `{name}`"), e))?;
        tracing::info!(network = %name, "created polyclaw's private network");
        self.join_if_containerized(&name).await;
        Ok(name)
    }

    /// When polyclaw itself runs in a container, attaches that container to `network` so it
    /// can reach the servers on it. Best effort: a failure is logged.
    async fn join_if_containerized(&self, network: &str) {
        if !std::path::Path::new("/.dockerenv").exists() {
            return;
        }
        // A container's host name is its short id unless set otherwise.
        let Ok(me) = std::fs::read_to_string("/etc/hostname") else {
            return;
        };
        let me = me.trim().to_string();
        let request = NetworkConnectRequest {
            container: me.clone(),
            ..Default::default()
        };
        match self.docker().connect_network(network, request).await {
            Ok(()) => tracing::info!(network, container = %me, "joined the private network"),
            Err(e) if is_status(&e, 403) || is_status(&e, 409) => {} // already attached
            Err(e) => tracing::warn!(
                network,
                "polyclaw runs in a container but cannot join its private network ({e}); servers with a `port` will be unreachable"
            ),
        }
    }

    /// The address of container `id` on `network`.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot inspect it or it has no address there.
    pub async fn address_on(&self, id: &str, network: &str) -> Result<String, Error> {
        let info = self
            .docker()
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine_error(format!("inspect container {id}"), e))?;
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| Error::Io {
                context: format!("container {id} has no address on the network `{network}`"),
                source: std::io::Error::other("no address"),
            })
    }

    /// Removes the networks labelled as polyclaw's for which `remove` says yes; returns how
    /// many. Networks still in use are left (the engine refuses) and logged.
    pub(crate) async fn remove_networks(
        &self,
        remove: impl Fn(&HashMap<String, String>) -> bool,
    ) -> usize {
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{}=true", labels::MANAGED)],
            )])),
        };
        let list = match self.docker().list_networks(Some(options)).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("cannot list polyclaw's networks: {e}");
                return 0;
            }
        };
        let mut removed = 0;
        for n in list {
            let (Some(name), Some(l)) = (n.name, n.labels) else {
                continue;
            };
            if !remove(&l) {
                continue;
            }
            match self.docker().remove_network(&name).await {
                Ok(()) => removed += 1,
                Err(e) if is_status(&e, 404) => {}
                Err(e) => tracing::warn!(network = %name, "cannot remove network: {e}"),
            }
        }
        removed
    }
}
