//! The warm pool of one server: containers created, attached and started ahead of need, so
//! starting the server (first use, after an idle stop, a restart, a new per-client instance)
//! costs an MCP `initialize` instead of a container start. A task keeps the pool full; taking
//! a container wakes it. Containers left in the pool when it stops are removed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{ContainerSpec, ContainerStdin, ContainerStdout, Engine, RunningContainer, run_stdio};

/// A started container with its streams, ready for an MCP client.
pub struct Started {
    /// The container.
    pub container: RunningContainer,
    /// Its stdout.
    pub stdout: ContainerStdout,
    /// Its stdin.
    pub stdin: ContainerStdin,
}

/// The pool of one server.
pub struct WarmPool {
    server: String,
    size: usize,
    ready: Mutex<VecDeque<Started>>,
    wake: Notify,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool")
            .field("server", &self.server)
            .field("size", &self.size)
            .field("ready", &self.len())
            .finish()
    }
}

/// How long the filler waits after a failed start before trying again.
const RETRY: Duration = Duration::from_secs(5);

impl WarmPool {
    /// Starts a pool of `size` containers made from `spec`; it is filled in the background
    /// and emptied (its containers removed) when `stop` is cancelled.
    #[must_use]
    pub fn start(
        engine: Arc<Engine>,
        server: &str,
        instance: &'static str,
        spec: ContainerSpec,
        size: usize,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let pool = Arc::new(Self {
            server: server.to_string(),
            size,
            ready: Mutex::new(VecDeque::with_capacity(size)),
            wake: Notify::new(),
        });
        tokio::spawn(fill(pool.clone(), engine, instance, spec, stop));
        pool
    }

    /// A started container, if one is ready; the pool refills behind it.
    pub fn take(&self) -> Option<Started> {
        let taken = self.lock().pop_front();
        self.wake.notify_one();
        taken
    }

    /// How many containers are ready.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no container is ready.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Started>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn fill(
    pool: Arc<WarmPool>,
    engine: Arc<Engine>,
    instance: &'static str,
    spec: ContainerSpec,
    stop: CancellationToken,
) {
    loop {
        while pool.len() < pool.size && !stop.is_cancelled() {
            let started = tokio::select! {
                r = run_stdio(&engine, &pool.server, instance, &spec) => r,
                () = stop.cancelled() => break,
            };
            match started {
                Ok((container, stdout, stdin)) => {
                    tracing::debug!(server = %pool.server, container = %container.name, "warm container ready");
                    pool.lock().push_back(Started {
                        container,
                        stdout,
                        stdin,
                    });
                }
                Err(e) => {
                    tracing::warn!(server = %pool.server, "cannot start a warm container: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = stop.cancelled() => break,
                    }
                }
            }
        }
        tokio::select! {
            () = pool.wake.notified() => {}
            () = stop.cancelled() => break,
        }
    }
    let left: Vec<Started> = pool.lock().drain(..).collect();
    for s in left {
        drop(s.stdin);
        s.container.stop(&engine).await;
    }
}
