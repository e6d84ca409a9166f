//! The relay: carries what downstream servers send *up* to the front door's clients.
//!
//! Progress goes to the client whose call carries the token (tokens are rewritten per call so
//! two clients can never collide); sampling and elicitation requests go to the client whose
//! call is in flight on that server (the most recent one when several are); logging and
//! resource updates go to every connected client. The relay never blocks a downstream: a
//! client that has gone away is skipped and forgotten.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::model::{NumberOrString, ProgressToken};
use rmcp::service::{Peer, RoleServer};

/// Shared routing tables. Cheap to lock: every critical section is a map lookup.
#[derive(Default)]
pub struct Relay {
    next_id: AtomicU64,
    /// polyclaw's own progress token → (the client, the client's token).
    progress: Mutex<HashMap<String, (Peer<RoleServer>, ProgressToken)>>,
    /// server → calls in flight on it, oldest first: (call id, the calling client).
    callers: Mutex<HashMap<String, Vec<(u64, Peer<RoleServer>)>>>,
    /// Connected clients with a session, for broadcasts.
    fronts: Mutex<Vec<(u64, Peer<RoleServer>)>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

/// Keeps a call's routes registered; dropping it removes them.
pub struct CallGuard<'a> {
    relay: &'a Relay,
    id: u64,
    server: String,
    token: Option<String>,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if let Some(token) = &self.token
            && let Ok(mut map) = self.relay.progress.lock()
        {
            map.remove(token);
        }
        if let Ok(mut callers) = self.relay.callers.lock()
            && let Some(list) = callers.get_mut(&self.server)
        {
            list.retain(|(id, _)| *id != self.id);
        }
    }
}

impl CallGuard<'_> {
    /// The progress token to send downstream in place of the client's, if it gave one.
    #[must_use]
    pub fn downstream_token(&self) -> Option<ProgressToken> {
        self.token
            .as_ref()
            .map(|t| ProgressToken(NumberOrString::String(t.as_str().into())))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave a map inconsistent (each
    // operation is a single insert or remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Relay {
    /// Registers a call from `client` to `server`, with the client's progress token if any.
    pub fn begin_call(
        &self,
        server: &str,
        client: Option<Peer<RoleServer>>,
        client_token: Option<ProgressToken>,
    ) -> CallGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut token = None;
        if let Some(peer) = &client {
            if let Some(ct) = client_token {
                let ours = format!("polyclaw-{id}");
                lock(&self.progress).insert(ours.clone(), (peer.clone(), ct));
                token = Some(ours);
            }
            lock(&self.callers)
                .entry(server.to_string())
                .or_default()
                .push((id, peer.clone()));
        }
        CallGuard {
            relay: self,
            id,
            server: server.to_string(),
            token,
        }
    }

    /// The client to which a progress token of ours belongs, and the client's own token.
    #[must_use]
    pub fn progress_target(
        &self,
        token: &ProgressToken,
    ) -> Option<(Peer<RoleServer>, ProgressToken)> {
        let NumberOrString::String(s) = &token.0 else {
            return None;
        };
        lock(&self.progress).get(s.as_ref()).cloned()
    }

    /// The client of the most recent call in flight on `server`, if any.
    #[must_use]
    pub fn caller_of(&self, server: &str) -> Option<Peer<RoleServer>> {
        lock(&self.callers)
            .get(server)
            .and_then(|list| list.iter().rev().find(|(_, p)| !p.is_transport_closed()))
            .map(|(_, p)| p.clone())
    }

    /// Remembers a connected client for broadcasts.
    pub fn add_front(&self, peer: Peer<RoleServer>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut fronts = lock(&self.fronts);
        fronts.retain(|(_, p)| !p.is_transport_closed());
        fronts.push((id, peer));
    }

    /// Every connected client, forgetting those that have gone.
    #[must_use]
    pub fn fronts(&self) -> Vec<Peer<RoleServer>> {
        let mut fronts = lock(&self.fronts);
        fronts.retain(|(_, p)| !p.is_transport_closed());
        fronts.iter().map(|(_, p)| p.clone()).collect()
    }
}
