//! Removing a generated server: its registration (so no mesh brings it back), its place in a
//! running mesh, then its image — once no container uses it. `polyclaw servers remove` and
//! `polyclaw__remove_server` both come here.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;
use crate::hub::Hub;
use crate::runtime::docker::{self, Engine};

use crate::hub::registrations as store;

/// How long a removal waits for the server's containers to go (a running serve stops them
/// within a few seconds of the registration going away).
pub const CONTAINER_WAIT: Duration = Duration::from_secs(10);

/// What a removal did.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    /// The server.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Whether the image (and older builds of the same server) were removed.
    pub image_removed: bool,
    /// Why something was kept (an image a container still uses), for the user.
    pub warnings: Vec<String>,
}

/// Removes generated server `name`: registration, mesh entry (when `mesh` is given), image.
/// `Ok(None)` when no generated server has that name.
///
/// # Errors
/// [`Error::Io`] when the registration cannot be removed or the engine cannot be reached.
pub async fn remove(
    state: &Path,
    name: &str,
    hub: Option<&Arc<Hub>>,
) -> Result<Option<Removal>, Error> {
    let Some(reg) = store::load(state, name)? else {
        return Ok(None);
    };
    store::remove(state, name)?;
    if let Some(hub) = hub
        && hub.server(name).is_some()
    {
        hub.remove_server(name).await?;
    }
    let mut removal = Removal {
        name: name.to_string(),
        image: reg.image.clone(),
        image_removed: false,
        warnings: Vec::new(),
    };
    let engine = Engine::connect().await?;
    let deadline = Instant::now() + CONTAINER_WAIT;
    let users = loop {
        let managed = engine
            .managed_containers(None)
            .await?
            .iter()
            .any(|(_, l)| l.get(docker::labels::SERVER).map(String::as_str) == Some(name));
        let users = engine.containers_using(&reg.image).await?;
        if (!managed && users.is_empty()) || Instant::now() > deadline {
            break users;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if !users.is_empty() {
        // The registration is gone, which is what matters; the image is only disk space.
        removal.warnings.push(format!(
            "image {} is kept: container(s) {} still use it; remove it with `docker rmi {}` once they are gone",
            reg.image,
            users.join(", "),
            reg.image
        ));
        return Ok(Some(removal));
    }
    removal.image_removed = engine.remove_image(&reg.image).await?;
    let labelled = [
        (docker::labels::GENERATED, "true"),
        (docker::labels::SERVER, name),
    ];
    for image in engine.images_labelled(&labelled).await? {
        // Older builds of the same server; one still in use by someone else's container is
        // left alone with a warning rather than failing the removal.
        match engine.remove_image(&image).await {
            Ok(gone) => removal.image_removed |= gone,
            Err(e) => removal
                .warnings
                .push(format!("an older image of `{name}` is kept: {e}")),
        }
    }
    Ok(Some(removal))
}
