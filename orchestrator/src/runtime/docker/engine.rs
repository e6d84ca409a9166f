//! The connection to the Docker Engine: [`Engine::connect`] (with API version negotiation —
//! bollard asks for API 1.53 by default, which older engines such as Debian's 20.10 refuse),
//! image presence, and housekeeping of what polyclaw made ([`Engine::reap_leftovers`],
//! [`Engine::remove_owned`]).

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveImageOptions, RemoveVolumeOptions,
};

use super::labels;
use super::{engine_error, is_status};
use crate::error::Error;

/// How long connecting (version negotiation) may take before Docker counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// bollard's per-request timeout (until response headers; streams may run longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A connected Docker Engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    /// The negotiated API version, e.g. `1.41`.
    pub api_version: String,
    /// The engine's version, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    /// Where it was reached, e.g. `unix:///var/run/docker.sock`.
    pub endpoint: String,
}

impl Engine {
    /// Connects to the engine named by `DOCKER_HOST`, or the local socket, and negotiates the
    /// API version.
    ///
    /// # Errors
    /// [`Error::Io`] saying Docker is not reachable (missing socket, permission, daemon down,
    /// no answer within [`CONNECT_TIMEOUT`]) and what to do.
    pub async fn connect() -> Result<Engine, Error> {
        let docker_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let endpoint = docker_host
            .clone()
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        let unreachable = |why: String, source: std::io::Error| Error::Io {
            context: format!(
                "Docker is not reachable at {endpoint}: {why}; start the Docker daemon or set DOCKER_HOST"
            ),
            source,
        };
        let failed = |e: bollard::errors::Error| {
            unreachable(describe_connect_error(&e), std::io::Error::other(e))
        };
        let no_answer = || {
            unreachable(
                format!("no answer within {CONNECT_TIMEOUT:?}"),
                std::io::ErrorKind::TimedOut.into(),
            )
        };
        let docker = match docker_host {
            Some(_) => Docker::connect_with_defaults(),
            None => Docker::connect_with_local_defaults(),
        };
        let docker = docker.map_err(failed)?.with_timeout(REQUEST_TIMEOUT);
        let docker = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version())
            .await
            .map_err(|_| no_answer())?
            .map_err(failed)?;
        let version = tokio::time::timeout(CONNECT_TIMEOUT, docker.version())
            .await
            .map_err(|_| no_answer())?
            .map_err(failed)?;
        Ok(Engine {
            api_version: docker.client_version().to_string(),
            server_version: version.version.unwrap_or_default(),
            endpoint,
            docker,
        })
    }

    /// The bollard client, for calls this module does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Whether `image` exists locally (nothing is ever pulled).
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot answer.
    pub async fn image_exists(&self, image: &str) -> Result<bool, Error> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) => Err(engine_error(format!("inspect image `{image}`"), e)),
        }
    }

    /// Force-removes an image (by tag or id); `Ok(true)` if it was removed, `Ok(false)` if
    /// there was no such image.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine refuses (e.g. a container of another owner uses it).
    pub async fn remove_image(&self, image: &str) -> Result<bool, Error> {
        let options = RemoveImageOptions {
            force: true,
            noprune: false,
            ..Default::default()
        };
        match self.docker.remove_image(image, Some(options), None).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) => Err(engine_error(format!("remove image `{image}`"), e)),
        }
    }

    /// Tags (or ids, for untagged ones) of the images carrying every `KEY=VALUE` label given.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot list.
    pub async fn images_labelled(&self, labels: &[(&str, &str)]) -> Result<Vec<String>, Error> {
        let options = ListImagesOptions {
            all: false,
            filters: Some(HashMap::from([(
                "label".to_string(),
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            )])),
            ..Default::default()
        };
        let list = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| engine_error("list images", e))?;
        Ok(list
            .into_iter()
            .map(|i| {
                i.repo_tags
                    .into_iter()
                    .find(|t| t != "<none>:<none>")
                    .unwrap_or(i.id)
            })
            .collect())
    }

    /// Force-removes every container (and dangling volume) labelled
    /// `io.polyclaw.managed=true` whose owner is neither `own_instance` nor alive (its pid is
    /// gone on this host, or was reused). Others' containers, and managed ones whose owner may
    /// be alive (e.g. on another host), are never touched. Returns how many were removed.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot list; single removals that fail are logged.
    pub async fn reap_leftovers(&self, own_instance: &str) -> Result<usize, Error> {
        let dead = |l: &HashMap<String, String>| {
            l.get(labels::MANAGED).map(String::as_str) == Some("true")
                && l.get(labels::OWNER).map(String::as_str) != Some(own_instance)
                && !labels::owner_alive(l)
        };
        let mut removed = 0;
        for (id, l) in self.managed_containers(None).await? {
            if dead(&l) && self.remove_container(&id).await {
                tracing::info!(
                    container = %id,
                    server = l.get(labels::SERVER).map_or("", String::as_str),
                    owner = l.get(labels::OWNER).map_or("", String::as_str),
                    "removed a leftover container of a polyclaw instance that is gone"
                );
                removed += 1;
            }
        }
        let options = ListVolumesOptions {
            filters: Some(HashMap::from([
                (
                    "label".to_string(),
                    vec![format!("{}=true", labels::MANAGED)],
                ),
                ("dangling".to_string(), vec!["true".to_string()]),
            ])),
        };
        match self.docker.list_volumes(Some(options)).await {
            Ok(list) => {
                for v in list.volumes.unwrap_or_default() {
                    if dead(&v.labels) {
                        let options = RemoveVolumeOptions { force: true };
                        if let Err(e) = self.docker.remove_volume(&v.name, Some(options)).await {
                            tracing::warn!(volume = %v.name, "cannot remove a leftover volume: {e}");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("cannot list leftover volumes: {e}"),
        }
        self.remove_networks(dead).await;
        Ok(removed)
    }

    /// Force-removes every container made by `instance` (for shutdown: nothing of ours is
    /// left behind even if a supervisor did not stop its container). Returns how many.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot list.
    pub async fn remove_owned(&self, instance: &str) -> Result<usize, Error> {
        let mut removed = 0;
        for (id, _) in self.managed_containers(Some(instance)).await? {
            if self.remove_container(&id).await {
                removed += 1;
            }
        }
        self.remove_networks(|l| l.get(labels::OWNER).map(String::as_str) == Some(instance))
            .await;
        Ok(removed)
    }

    /// Ids and labels of all containers (running or not) labelled as polyclaw's, optionally
    /// only those of one owner instance.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot list.
    pub async fn managed_containers(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<(String, HashMap<String, String>)>, Error> {
        let mut label = vec![format!("{}=true", labels::MANAGED)];
        if let Some(owner) = owner {
            label.push(format!("{}={owner}", labels::OWNER));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), label)])),
            ..Default::default()
        };
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error("list polyclaw's containers", e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| Some((c.id?, c.labels.unwrap_or_default())))
            .collect())
    }

    /// Names (or ids) of the containers, running or not, created from `image` (a tag or an
    /// id), whoever made them.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot list.
    pub async fn containers_using(&self, image: &str) -> Result<Vec<String>, Error> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "ancestor".to_string(),
                vec![image.to_string()],
            )])),
            ..Default::default()
        };
        match self.docker.list_containers(Some(options)).await {
            Ok(list) => Ok(list
                .into_iter()
                .filter_map(|c| {
                    c.names
                        .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string()))
                        .or(c.id)
                })
                .collect()),
            // The engine answers 400/404 for an ancestor it does not know: nothing uses it.
            Err(e) if is_status(&e, 404) || is_status(&e, 400) => Ok(Vec::new()),
            Err(e) => Err(engine_error(format!("list the containers of `{image}`"), e)),
        }
    }

    /// Force-removes one container with its anonymous volumes; `true` if it is gone.
    pub(crate) async fn remove_container(&self, id: &str) -> bool {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => true,
            Err(e) if is_status(&e, 404) => true,
            // 409: removal already in progress (another remover won the race).
            Err(e) if is_status(&e, 409) => true,
            Err(e) => {
                tracing::warn!(container = %id, "cannot remove container: {e}");
                false
            }
        }
    }
}

fn describe_connect_error(e: &bollard::errors::Error) -> String {
    let text = super::error_chain(e);
    match e {
        bollard::errors::Error::SocketNotFoundError(path) => format!("no socket at {path}"),
        _ if text.contains("ermission denied") => format!(
            "{text} (the socket is root-equivalent: add this user to the `docker` group, or use a socket proxy)"
        ),
        _ => text,
    }
}
