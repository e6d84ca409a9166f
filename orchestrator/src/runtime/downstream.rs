//! One downstream server: its connection, its last known lists, and the supervisor task that
//! starts it (lazily or at boot), restarts it with backoff and jitter when it dies, and stops
//! it politely. All lifecycle of a server happens in its supervisor; everyone else only reads
//! the published [`Status`] and asks for a [`Peer`].

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rmcp::model::{
    ClientCapabilities, ClientRequest, Implementation, PingRequest, ProtocolVersion,
    RequestMetaObject, ServerCapabilities,
};
use rmcp::service::{Peer, RoleClient, RunningService, ServiceError, serve_client};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ContainerSettings, PRIVATE_NETWORK, SecretsAs, ServerSpec, Transport};
use crate::error::Error;
use crate::registry::ServerView;

use super::docker;
use super::handler::DownstreamHandler;
use super::process::{self, ChildProcess};
use super::relay::Relay;

/// How long a server may take from spawn to a finished `initialize`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive failed starts after which the supervisor gives up until the next use.
const MAX_ATTEMPTS: u32 = 6;
/// A run at least this long resets the failure count.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// How long a ping may take (at most; never longer than the health interval).
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Missed pings in a row after which a server is restarted.
const MAX_MISSED_PINGS: u32 = 2;

/// Which list of a server changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// tools/list
    Tools,
    /// prompts/list
    Prompts,
    /// resources/list and resources/templates/list
    Resources,
}

/// Something the mesh must react to.
#[derive(Debug, Clone)]
pub enum Event {
    /// A server's lists changed (or it came up for the first time): rebuild the catalog and
    /// tell clients.
    ListsChanged {
        /// The server.
        server: String,
        /// Which lists.
        kinds: Vec<ListKind>,
    },
}

/// What polyclaw runs for a server and must stop: a child process or a container.
pub enum Owned {
    /// A local child process.
    Process(ChildProcess),
    /// A container, with the engine that runs it.
    Container(docker::RunningContainer, Arc<docker::Engine>),
}

impl Owned {
    /// The process id, for process servers.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::Process(c) => c.pid(),
            Self::Container(..) => None,
        }
    }

    /// The container name, for container servers.
    #[must_use]
    pub fn container(&self) -> Option<String> {
        match self {
            Self::Process(_) => None,
            Self::Container(c, _) => Some(c.name.clone()),
        }
    }

    /// Stops it (politely, then firmly) and says how it ended.
    pub fn stop(self) -> std::pin::Pin<Box<dyn Future<Output = String> + Send>> {
        // Boxed as `dyn Future + Send`: the compiler cannot prove the engine calls' futures
        // Send for every lifetime when they are awaited inside the supervisor otherwise.
        match self {
            Self::Process(c) => Box::pin(c.stop()),
            Self::Container(c, engine) => {
                let task = tokio::spawn(async move {
                    let how = c.wait_exit(&engine).await;
                    let stopped = c.stop(&engine).await;
                    format!("{how}; {stopped}")
                });
                Box::pin(async move {
                    task.await
                        .unwrap_or_else(|e| format!("the stop task failed: {e}"))
                })
            }
        }
    }
}

/// The shared Docker engine connection: made on first use, kept once it works (a failed
/// attempt is not kept, so starting the daemon later is enough).
async fn engine() -> Result<Arc<docker::Engine>, Error> {
    static ENGINE: tokio::sync::OnceCell<Arc<docker::Engine>> = tokio::sync::OnceCell::const_new();
    ENGINE
        .get_or_try_init(|| async { docker::Engine::connect().await.map(Arc::new) })
        .await
        .cloned()
}

/// Ends a request's use of a server (see [`Downstream::begin_use`]).
pub struct UseGuard(Arc<Downstream>);

impl Drop for UseGuard {
    fn drop(&mut self) {
        let mut u = lock(&self.0.usage);
        u.0 = Instant::now();
        u.1 = u.1.saturating_sub(1);
    }
}

/// The published state of a downstream server.
#[derive(Clone, Default)]
pub enum Status {
    /// Not running (never started, or stopped).
    #[default]
    Stopped,
    /// Being started.
    Starting,
    /// Connected.
    Ready {
        /// Its MCP peer.
        peer: Peer<RoleClient>,
        /// Its pid, for process servers.
        pid: Option<u32>,
        /// Its container name, for container servers.
        container: Option<String>,
        /// Its advertised capabilities.
        capabilities: Box<ServerCapabilities>,
        /// Whether it also serves 2026-07-28 requests (found with `server/discover`), so a
        /// 2026-07-28 client's requests can be passed on in that era.
        inline_era: bool,
    },
    /// Failed or crashed.
    Down {
        /// Why, with the fix where known.
        error: String,
        /// Consecutive failures.
        attempts: u32,
        /// When the next start is due (`None`: on next use).
        retry_at: Option<Instant>,
    },
    /// `enabled = false` in config.
    Disabled,
}

impl Status {
    /// One word for listings.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Ready { .. } => "ready",
            Self::Down { .. } => "down",
            Self::Disabled => "disabled",
        }
    }
}

/// A downstream server and its supervisor.
pub struct Downstream {
    /// Its validated config.
    pub spec: ServerSpec,
    status: watch::Sender<Status>,
    view: RwLock<Arc<ServerView>>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
    /// Cancelled to stop this server for good (removal or shutdown).
    stop: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
    relay: Arc<Relay>,
    /// When it last served a request (for the idle timeout), and requests in flight.
    usage: Mutex<(Instant, usize)>,
    /// Warm containers (image servers with `warm > 0`); shared with per-client instances.
    pool: Arc<tokio::sync::OnceCell<Arc<docker::pool::WarmPool>>>,
    /// The raw link of the current connection (stdio process servers): the hot path.
    raw: Mutex<Option<Arc<super::raw::RawLink>>>,
}

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("server", &self.spec.name)
            .field("status", &self.status.borrow().label())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Downstream {
    /// A server that is not started yet.
    #[must_use]
    pub fn new(
        spec: ServerSpec,
        parent: &CancellationToken,
        events: mpsc::UnboundedSender<Event>,
        relay: Arc<Relay>,
    ) -> Arc<Self> {
        let initial = if spec.enabled {
            Status::Stopped
        } else {
            Status::Disabled
        };
        Arc::new(Self {
            spec,
            status: watch::Sender::new(initial),
            view: RwLock::new(Arc::default()),
            supervisor: Mutex::new(None),
            stop: parent.child_token(),
            events,
            relay,
            usage: Mutex::new((Instant::now(), 0)),
            pool: Arc::default(),
            raw: Mutex::new(None),
        })
    }

    /// A private instance of a `per_client` server for one client session: same config,
    /// same warm pool, its own process or container, stopped with `parent`.
    #[must_use]
    pub fn instance(self: &Arc<Self>, parent: &CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            spec: self.spec.clone(),
            status: watch::Sender::new(Status::Stopped),
            view: RwLock::new(self.view()),
            supervisor: Mutex::new(None),
            stop: parent.child_token(),
            events: self.events.clone(),
            relay: self.relay.clone(),
            usage: Mutex::new((Instant::now(), 0)),
            pool: self.pool.clone(),
            raw: Mutex::new(None),
        })
    }

    /// Marks a request to this server as begun; the guard marks it ended.
    pub fn begin_use(self: &Arc<Self>) -> UseGuard {
        {
            let mut u = lock(&self.usage);
            u.0 = Instant::now();
            u.1 += 1;
        }
        UseGuard(Arc::clone(self))
    }

    /// The raw link for the hot path: only while the server is ready and its connection is
    /// a stdio process's pipes.
    pub fn raw_link(&self) -> Option<Arc<super::raw::RawLink>> {
        let ready = matches!(&*self.status.borrow(), Status::Ready { peer, .. } if !peer.is_transport_closed());
        if !ready {
            return None;
        }
        lock(&self.raw).clone().filter(|l| !l.is_closed())
    }

    /// Whether it has been idle (no request in flight) for longer than its idle timeout.
    fn idle_expired(&self) -> bool {
        let Some(ttl) = self.spec.idle_timeout else {
            return false;
        };
        let u = lock(&self.usage);
        u.1 == 0 && u.0.elapsed() >= ttl
    }

    /// The current status.
    #[must_use]
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Whether the running server also serves 2026-07-28 requests.
    #[must_use]
    pub fn speaks_inline_era(&self) -> bool {
        matches!(
            *self.status.borrow(),
            Status::Ready {
                inline_era: true,
                ..
            }
        )
    }

    /// What it offered when last listed.
    #[must_use]
    pub fn view(&self) -> Arc<ServerView> {
        self.view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts the supervisor if it is not running (and the server is enabled, not stopped).
    pub fn ensure_started(self: &Arc<Self>) {
        if !self.spec.enabled || self.stop.is_cancelled() {
            return;
        }
        let mut sup = lock(&self.supervisor);
        if sup.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let this = Arc::clone(self);
        *sup = Some(tokio::spawn(async move { this.supervise().await }));
    }

    /// The server's peer, starting it if needed and waiting up to `wait` for it to come up.
    ///
    /// # Errors
    /// [`Error::Unavailable`] saying why the server is down and when it is retried.
    pub async fn peer(self: &Arc<Self>, wait: Duration) -> Result<Peer<RoleClient>, Error> {
        if !self.spec.enabled {
            return Err(self.unavailable("it is disabled (`enabled = false` in its config)".into()));
        }
        self.ensure_started();
        let mut rx = self.status.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let status = rx.borrow_and_update().clone();
            match status {
                Status::Ready { peer, .. } if !peer.is_transport_closed() => return Ok(peer),
                Status::Down {
                    error, retry_at, ..
                } => {
                    let when = match retry_at {
                        Some(at) => format!(
                            "; polyclaw restarts it in {:.1} s",
                            at.saturating_duration_since(Instant::now()).as_secs_f64()
                        ),
                        None => "; polyclaw gave up restarting it for now and tries again on the next call".into(),
                    };
                    return Err(self.unavailable(format!("{error}{when}")));
                }
                Status::Disabled => {
                    return Err(self.unavailable("it is disabled".into()));
                }
                Status::Stopped if self.stop.is_cancelled() => {
                    return Err(
                        self.unavailable("it has been removed or polyclaw is shutting down".into())
                    );
                }
                _ => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.unavailable("its supervisor has stopped".into())),
                Err(_) => {
                    return Err(self.unavailable(format!(
                        "it did not finish starting within {:.0} s",
                        wait.as_secs_f64()
                    )));
                }
            }
        }
    }

    fn unavailable(&self, reason: String) -> Error {
        Error::Unavailable {
            server: self.spec.name.clone(),
            reason,
        }
    }

    /// Stops the server for good and waits (bounded) until its process is reaped.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let handle = lock(&self.supervisor).take();
        if let Some(handle) = handle
            && tokio::time::timeout(process::GRACE * 3, handle)
                .await
                .is_err()
        {
            tracing::warn!(server = %self.spec.name, "supervisor did not stop in time");
        }
    }

    /// Re-reads the given lists from the running server and announces the change.
    pub async fn refresh(&self, kind: ListKind) {
        let Status::Ready {
            peer, capabilities, ..
        } = self.status()
        else {
            return;
        };
        let mut view = (*self.view()).clone();
        fetch(&self.spec, &peer, &capabilities, &[kind], &mut view).await;
        self.set_view(view);
        let _ = self.events.send(Event::ListsChanged {
            server: self.spec.name.clone(),
            kinds: vec![kind],
        });
    }

    fn set_view(&self, view: ServerView) {
        *self
            .view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(view);
    }

    async fn supervise(self: Arc<Self>) {
        let name = self.spec.name.clone();
        let mut attempts: u32 = 0;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            self.status.send_replace(Status::Starting);
            let started = Instant::now();
            let outcome = match self.connect().await {
                Ok((service, child)) => {
                    let peer = service.peer().clone();
                    let capabilities: Box<ServerCapabilities> = Box::new(
                        peer.peer_info()
                            .map(|i| i.capabilities.clone())
                            .unwrap_or_default(),
                    );
                    let pid = child.as_ref().and_then(Owned::pid);
                    let container = child.as_ref().and_then(Owned::container);
                    let mut view = ServerView::default();
                    let all = [ListKind::Tools, ListKind::Prompts, ListKind::Resources];
                    fetch(&self.spec, &peer, &capabilities, &all, &mut view).await;
                    tracing::info!(server = %name, tools = view.tools.len(), "server ready");
                    self.set_view(view);
                    // Over HTTP, rmcp's client leaves its session once it has sent
                    // `server/discover`, so only stdio servers are asked.
                    let inline_era = matches!(self.spec.transport, Transport::Process { .. })
                        && probe_inline_era(&peer).await;
                    self.status.send_replace(Status::Ready {
                        peer,
                        pid,
                        container,
                        capabilities,
                        inline_era,
                    });
                    let _ = self.events.send(Event::ListsChanged {
                        server: name.clone(),
                        kinds: all.to_vec(),
                    });
                    self.run_until_end(service, child).await
                }
                Err(e) => Err(e),
            };
            let error = match outcome {
                Ok(()) => break, // stopped on purpose
                Err(error) => error,
            };
            if started.elapsed() >= HEALTHY_RUN {
                attempts = 0;
            }
            attempts += 1;
            if attempts >= MAX_ATTEMPTS {
                tracing::error!(server = %name, attempts, "giving up restarting: {error}");
                self.status.send_replace(Status::Down {
                    error,
                    attempts,
                    retry_at: None,
                });
                return;
            }
            let delay = backoff(attempts);
            tracing::warn!(server = %name, attempts, delay_ms = delay.as_millis() as u64, "server down: {error}");
            self.status.send_replace(Status::Down {
                error,
                attempts,
                retry_at: Some(Instant::now() + delay),
            });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.stop.cancelled() => break,
            }
        }
        self.status.send_replace(Status::Stopped);
    }

    /// Waits until the connection ends. `Ok` when stopped on purpose, `Err(why)` when it died.
    async fn run_until_end(
        &self,
        service: RunningService<RoleClient, DownstreamHandler>,
        child: Option<Owned>,
    ) -> Result<(), String> {
        let closer = service.cancellation_token();
        let peer = service.peer().clone();
        let waiting = service.waiting();
        tokio::pin!(waiting);
        // Ticks ping the server and check its idle time: as often as the health interval
        // asks, and often enough to notice an idle timeout within half of it.
        let every = self
            .spec
            .idle_timeout
            .map_or(self.spec.health_interval, |ttl| {
                self.spec.health_interval.min(ttl / 2)
            })
            .max(Duration::from_millis(100));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut last_ping = tokio::time::Instant::now();
        let mut missed = 0u32;
        let reason = loop {
            tokio::select! {
                _ = &mut waiting => {
                    let how = match child {
                        Some(child @ Owned::Process(_)) => format!("its process exited ({})", child.stop().await),
                        Some(child) => format!("its container ended ({})", child.stop().await),
                        None => "the connection closed".to_string(),
                    };
                    return Err(how);
                }
                () = self.stop.cancelled() => break None,
                _ = tick.tick() => {
                    if self.idle_expired() {
                        break Some("idle");
                    }
                    if last_ping.elapsed() + every / 2 < self.spec.health_interval {
                        continue;
                    }
                    last_ping = tokio::time::Instant::now();
                    let ping = peer.send_request(ClientRequest::PingRequest(PingRequest::default()));
                    match tokio::time::timeout(PING_TIMEOUT.min(self.spec.health_interval), ping).await {
                        Ok(Ok(_)) => missed = 0,
                        Ok(Err(ServiceError::McpError(_))) => missed = 0, // it answered
                        _ => {
                            missed += 1;
                            tracing::warn!(server = %self.spec.name, missed, "health ping failed");
                            if missed >= MAX_MISSED_PINGS {
                                break Some("unhealthy");
                            }
                        }
                    }
                }
            }
        };
        closer.cancel(); // closes stdin / ends the HTTP session
        let _ = tokio::time::timeout(process::GRACE, &mut waiting).await;
        let how = match child {
            Some(child) => child.stop().await,
            None => "disconnected".to_string(),
        };
        match reason {
            None => {
                tracing::info!(server = %self.spec.name, "stopped: {how}");
                Ok(())
            }
            Some("idle") => {
                tracing::info!(server = %self.spec.name, "stopped after its idle timeout; it starts again on the next use ({how})");
                Ok(())
            }
            Some(_) => Err(format!(
                "it stopped answering health pings ({MAX_MISSED_PINGS} in a row, {:.1} s apart) and was restarted ({how})",
                self.spec.health_interval.as_secs_f64()
            )),
        }
    }

    async fn connect(
        self: &Arc<Self>,
    ) -> Result<(RunningService<RoleClient, DownstreamHandler>, Option<Owned>), String> {
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
        let (link, stdin) = super::raw::RawLink::spawn(self.spec.name.clone(), stdin);
        let stdout = super::tap::spawn(
            self.spec.name.clone(),
            stdout,
            self.relay.clone(),
            Some(link.clone()),
        );
        *lock(&self.raw) = Some(link);
        let started =
            tokio::time::timeout(START_TIMEOUT, serve_client(self.handler(), (stdout, stdin)))
                .await;
        match started {
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
        *lock(&self.raw) = None;
        let stdout = super::tap::spawn(
            self.spec.name.clone(),
            started.stdout,
            self.relay.clone(),
            None,
        );
        let owned = Owned::Container(started.container, engine);
        match tokio::time::timeout(
            START_TIMEOUT,
            serve_client(self.handler(), (stdout, started.stdin)),
        )
        .await
        {
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
async fn probe_inline_era(peer: &Peer<RoleClient>) -> bool {
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

/// 250 ms doubling per attempt, capped at 30 s, with ±25 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 250u64.saturating_mul(1u64 << attempt.min(7).saturating_sub(1));
    let base = base.min(30_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = (u64::from(nanos) % (base / 2 + 1)).saturating_sub(base / 4);
    Duration::from_millis(base + jitter)
}

/// Lists what the server advertises, into `view`; failures are logged and leave that list empty.
async fn fetch(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let d1 = backoff(1).as_millis();
        let d3 = backoff(3).as_millis();
        assert!((187..=313).contains(&d1), "{d1}");
        assert!((750..=1250).contains(&d3), "{d3}");
        assert!(backoff(30).as_millis() <= 37_500);
    }
}
