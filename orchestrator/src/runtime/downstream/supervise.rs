//! The supervisor of one server: starts it, keeps it healthy (pings, idle stop) and restarts
//! it with backoff when it dies; gives up after repeated failures until the next use.

use super::connect::probe_inline_era;
use super::*;

impl Downstream {
    pub(super) async fn supervise(self: Arc<Self>) {
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
