//! One downstream server: its connection, its last known lists, and the supervisor task that
//! starts it (lazily or at boot), restarts it with backoff and jitter when it dies, and stops
//! it politely. All lifecycle of a server happens in its supervisor; everyone else only reads
//! the published [`Status`] and asks for a [`Peer`].
//!
//! `supervise`: the supervisor loop (start, health pings, idle stop, restart with backoff).
//! `connect`: one connector per transport (process, container over stdio or HTTP, remote
//! HTTP) and the warm pool. `lists`: fetching what a server lists.

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

mod connect;
mod lists;
mod supervise;

use lists::fetch;

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
}
