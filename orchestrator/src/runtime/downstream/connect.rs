//! Connecting to one server, one connector per transport: a child process, a container over
//! stdio or over HTTP on the instance's network, a remote Streamable HTTP server, and the
//! process fallback of an image server; plus the warm pool of container servers.

use super::*;

impl Downstream {
    /// Connects by the spec's transport. Stdio connections (process or container) get a raw
    /// link; HTTP ones have none.
    pub(super) async fn connect(
        self: &Arc<Self>,
    ) -> Result<(RunningService<RoleClient, DownstreamHandler>, Option<Owned>), String> {
        *lock(&self.raw) = None;
        match &self.spec.transport {
            Transport::Process {
                command,
                args,
                env,
                cwd,
            } => self.connect_process(command, args, env, cwd.as_ref()).await,
            Transport::Docker {
                image,
                fallback,
                port,
                path,
                ..
            } => {
                let redact = |e: Error| self.spec.secrets.redact(&e.to_string());
                let engine = match (engine().await, fallback) {
                    (Ok(engine), None) => engine,
                    (Err(e), None) => return Err(redact(e)),
                    (Ok(engine), Some(fallback)) => {
                        if engine.image_exists(image).await.unwrap_or(false) {
                            engine
                        } else {
                            tracing::info!(server = %self.spec.name, "image {image} is not built (`polyclaw images build`); running the fallback process");
                            return self.connect_fallback(fallback).await;
                        }
                    }
                    (Err(e), Some(fallback)) => {
                        tracing::info!(server = %self.spec.name, "running the fallback process: {e}");
                        return self.connect_fallback(fallback).await;
                    }
                };
                let pooled = self.pool.get().and_then(|p| p.take());
                let started = match pooled {
                    Some(started) => started,
                    None => {
                        let spec = self.container_spec(&engine).await.map_err(redact)?;
                        let instance = docker::labels::instance_id();
                        // On a task of its own: the compiler cannot prove the engine calls'
                        // futures Send for every lifetime when awaited inside the supervisor.
                        let task = {
                            let (engine, name) = (engine.clone(), self.spec.name.clone());
                            tokio::spawn(async move {
                                docker::run_stdio(&engine, &name, instance, &spec).await
                            })
                        };
                        let (container, stdout, stdin) = task
                            .await
                            .map_err(|e| format!("starting the container failed: {e}"))?
                            .map_err(redact)?;
                        docker::pool::Started {
                            container,
                            stdout,
                            stdin,
                        }
                    }
                };
                match port {
                    None => self.connect_container_stdio(engine, started, image).await,
                    Some(port) => {
                        self.connect_container_http(engine, started, *port, path)
                            .await
                    }
                }
            }
            Transport::Http { url, headers } => {
                let mut custom = std::collections::HashMap::new();
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        custom.insert(k, v);
                    }
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(custom);
                crate::tls::install_provider();
                let transport = StreamableHttpClientTransport::from_config(config);
                match tokio::time::timeout(START_TIMEOUT, serve_client(self.handler(), transport))
                    .await
                {
                    Ok(Ok(service)) => Ok((service, None)),
                    Ok(Err(e)) => Err(format!(
                        "cannot connect to {url}: {e}; is the server running and the URL right?"
                    )),
                    Err(_) => Err(format!(
                        "{url} did not answer `initialize` within {} s",
                        START_TIMEOUT.as_secs()
                    )),
                }
            }
        }
    }

    fn handler(self: &Arc<Self>) -> DownstreamHandler {
        DownstreamHandler {
            server: self.spec.name.clone(),
            relay: self.relay.clone(),
            downstream: Arc::downgrade(self),
        }
    }

    async fn connect_fallback(
        self: &Arc<Self>,
        fallback: &crate::config::Fallback,
    ) -> Result<(RunningService<RoleClient, DownstreamHandler>, Option<Owned>), String> {
        self.connect_process(
            &fallback.command,
            &fallback.args,
            &fallback.env,
            fallback.cwd.as_ref(),
        )
        .await
    }

    /// MCP over a server's stdin and stdout, a process's or an attached container's alike:
    /// the raw link owns stdin (rmcp's lines and raw requests, each whole), the tap reads
    /// stdout (progress in order, raw responses to their calls), rmcp gets the rest. Bounded
    /// by [`START_TIMEOUT`].
    async fn serve_stdio<R, W>(
        self: &Arc<Self>,
        stdout: R,
        stdin: W,
    ) -> Result<
        Result<RunningService<RoleClient, DownstreamHandler>, rmcp::service::ClientInitializeError>,
        tokio::time::error::Elapsed,
    >
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (link, stdin) = crate::runtime::raw::RawLink::spawn(self.spec.name.clone(), stdin);
        let stdout = crate::runtime::tap::spawn(
            self.spec.name.clone(),
            stdout,
            self.relay.clone(),
            link.clone(),
        );
        *lock(&self.raw) = Some(link);
        tokio::time::timeout(START_TIMEOUT, serve_client(self.handler(), (stdout, stdin))).await
    }

    async fn connect_process(
        self: &Arc<Self>,
        command: &str,
        args: &[String],
        env: &std::collections::BTreeMap<String, String>,
        cwd: Option<&std::path::PathBuf>,
    ) -> Result<(RunningService<RoleClient, DownstreamHandler>, Option<Owned>), String> {
        let mut env = env.clone();
        for (name, value) in &self.spec.secrets.0 {
            env.insert(name.clone(), value.clone());
        }
        let (child, stdout, stdin) = process::spawn(&self.spec.name, command, args, &env, cwd)
            .map_err(|e| self.spec.secrets.redact(&e.to_string()))?;
        match self.serve_stdio(stdout, stdin).await {
            Ok(Ok(service)) => Ok((service, Some(Owned::Process(child)))),
            Ok(Err(e)) => {
                let how = child.stop().await;
                Err(format!(
                    "it failed during MCP initialize ({e}); its process exited ({how}); see its stderr in polyclaw's log"
                ))
            }
            Err(_) => {
                let how = child.stop().await;
                Err(format!(
                    "it did not answer `initialize` within {} s ({how}); is `{command}` an MCP stdio server?",
                    START_TIMEOUT.as_secs()
                ))
            }
        }
    }

    async fn connect_container_stdio(
        self: &Arc<Self>,
        engine: Arc<docker::Engine>,
        started: docker::pool::Started,
        image: &str,
    ) -> Result<(RunningService<RoleClient, DownstreamHandler>, Option<Owned>), String> {
        let docker::pool::Started {
            container,
            stdout,
            stdin,
        } = started;
        let owned = Owned::Container(container, engine);
        match self.serve_stdio(stdout, stdin).await {
            Ok(Ok(service)) => Ok((service, Some(owned))),
            Ok(Err(e)) => {
                let how = owned.stop().await;
                Err(format!(
                    "its container failed during MCP initialize ({e}); {how}; see its stderr in polyclaw's log"
                ))
            }
            Err(_) => {
                let how = owned.stop().await;
                Err(format!(
                    "its container did not answer `initialize` within {} s ({how}); does {image} run an MCP stdio server?",
                    START_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// A server speaking Streamable HTTP inside its container: reached at its address on the
    /// container's network; connecting is retried until the server listens.
    async fn connect_container_http(
        self: &Arc<Self>,
        engine: Arc<docker::Engine>,
        started: docker::pool::Started,
        port: u16,
        path: &str,
    ) -> Result<(RunningService<RoleClient, DownstreamHandler>, Option<Owned>), String> {
        let docker::pool::Started {
            container,
            stdout,
            stdin,
        } = started;
        // Its stdout is not the protocol here: log it like stderr.
        let server = self.spec.name.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let _stdin = stdin; // closed with the container
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(server = %server, "stdout: {line}");
            }
        });
        let id = container.id.clone();
        let owned = Owned::Container(container, engine.clone());
        let network = match self.network_name(&engine).await {
            Ok(n) => n,
            Err(e) => {
                let how = owned.stop().await;
                return Err(format!("{e} ({how})"));
            }
        };
        let address = match engine.address_on(&id, &network).await {
            Ok(a) => a,
            Err(e) => {
                let how = owned.stop().await;
                return Err(format!("{e} ({how})"));
            }
        };
        let url = format!("http://{address}:{port}{path}");
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            let config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            crate::tls::install_provider();
            let transport = StreamableHttpClientTransport::from_config(config);
            match tokio::time::timeout_at(deadline, serve_client(self.handler(), transport)).await {
                Ok(Ok(service)) => {
                    tracing::debug!(server = %self.spec.name, %url, "connected over the container network");
                    return Ok((service, Some(owned)));
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => break,
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let how = owned.stop().await;
        Err(format!(
            "its container did not serve MCP at {url} within {} s ({last}; {how}); does the image listen on 0.0.0.0:{port} at `{path}`?",
            START_TIMEOUT.as_secs()
        ))
    }

    /// The Docker network a container server joins (polyclaw's private one made on demand).
    async fn network_name(&self, engine: &docker::Engine) -> Result<String, Error> {
        let Transport::Docker { container, .. } = &self.spec.transport else {
            return Ok("none".into());
        };
        if container.network == PRIVATE_NETWORK {
            engine.private_network(docker::labels::instance_id()).await
        } else {
            Ok(container.network.clone())
        }
    }

    /// What to run for a container server, secrets included.
    ///
    /// # Errors
    /// When the private network cannot be made.
    async fn container_spec(
        &self,
        engine: &docker::Engine,
    ) -> Result<docker::ContainerSpec, Error> {
        let Transport::Docker {
            image,
            args,
            env,
            mounts,
            container,
            ..
        } = &self.spec.transport
        else {
            return Err(Error::InvalidInput(format!(
                "server `{}` is not a container server",
                self.spec.name
            )));
        };
        let mut spec = docker::ContainerSpec::new(image.clone());
        spec.command.clone_from(args);
        spec.env = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match self.spec.secrets_as {
            SecretsAs::Env => spec.env.extend(self.spec.secrets.0.iter().cloned()),
            SecretsAs::File => spec.secret_files.clone_from(&self.spec.secrets.0),
        }
        for m in mounts.iter().filter(|m| !m.read_only && !m.host.exists()) {
            // A writable mount of a folder that does not exist yet (e.g. a state folder on
            // first use) is made, so the engine does not refuse the bind.
            if let Err(e) = std::fs::create_dir_all(&m.host) {
                tracing::warn!(server = %self.spec.name, "cannot create {}: {e}", m.host.display());
            }
        }
        spec.mounts = mounts
            .iter()
            .map(|m| docker::Mount {
                host: m.host.clone(),
                container: m.container.clone(),
                read_only: m.read_only,
            })
            .collect();
        spec.hardening = hardening(container);
        if container.network == PRIVATE_NETWORK {
            spec.hardening.network = docker::Network::Named(self.network_name(engine).await?);
        }
        Ok(spec)
    }

    /// Starts the warm pool of a container server with `warm > 0` (once; later calls do
    /// nothing). Without Docker or the image the pool stays empty and starts pay full price.
    pub fn prewarm(self: &Arc<Self>) {
        if self.spec.warm == 0
            || !self.spec.enabled
            || !matches!(self.spec.transport, Transport::Docker { .. })
        {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let made = this
                .pool
                .get_or_try_init(|| async {
                    let engine = engine().await?;
                    let spec = this.container_spec(&engine).await?;
                    Ok::<_, Error>(docker::pool::WarmPool::start(
                        engine,
                        &this.spec.name,
                        docker::labels::instance_id(),
                        spec,
                        this.spec.warm as usize,
                        this.stop.clone(),
                    ))
                })
                .await;
            if let Err(e) = made {
                tracing::warn!(server = %this.spec.name, "no warm pool: {}", this.spec.secrets.redact(&e.to_string()));
            }
        });
    }

    /// The warm pool, if one was started.
    #[must_use]
    pub fn warm_pool(&self) -> Option<Arc<docker::pool::WarmPool>> {
        self.pool.get().cloned()
    }
}

/// The runtime's hardening from a server's container settings.
fn hardening(c: &ContainerSettings) -> docker::Hardening {
    docker::Hardening {
        network: match c.network.as_str() {
            "none" => docker::Network::None,
            "bridge" => docker::Network::Bridge,
            other => docker::Network::Named(other.to_string()),
        },
        read_only_root: c.read_only,
        user: Some(c.user.clone()),
        memory_mb: c.memory_mb,
        cpus: c.cpus,
        pids: c.pids,
        ..docker::Hardening::default()
    }
}

/// Asks a server that was initialized in the session era whether it also serves
/// 2026-07-28 requests. Servers that do not know `server/discover` just say so.
pub(super) async fn probe_inline_era(peer: &Peer<RoleClient>) -> bool {
    let mut meta = RequestMetaObject::default();
    meta.set_protocol_version(ProtocolVersion::V_2026_07_28);
    meta.set_client_info(Implementation::new("polyclaw", env!("CARGO_PKG_VERSION")));
    meta.set_client_capabilities(ClientCapabilities::default());
    match tokio::time::timeout(Duration::from_secs(3), peer.discover(meta)).await {
        Ok(Ok(found)) => found
            .supported_versions
            .contains(&ProtocolVersion::V_2026_07_28),
        _ => false,
    }
}
