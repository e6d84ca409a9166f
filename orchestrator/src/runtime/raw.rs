//! The raw link to a stdio server: the hot path of `tools/call` (see `mesh::hot`).
//!
//! rmcp's typed client costs ~60 µs of CPU per call and a few task hand-offs; the hot path
//! skips it. A [`RawLink`] sits beside the rmcp client on the same pipes:
//!
//! - **to the server**, one writer task owns the child's stdin. rmcp writes into a duplex
//!   whose lines the task copies whole; raw requests arrive on a channel and are written
//!   whole too, so messages never interleave.
//! - **from the server**, the stdout tap ([`super::tap`]) asks [`RawLink::take`] about every
//!   line while raw calls are pending: a response whose id is one of ours (`"pc:<n>"`, a
//!   string, where rmcp's own ids are numbers) goes to the waiting call and never reaches
//!   rmcp; a late one (its call timed out or was cancelled) is dropped, or, when no raw call
//!   is pending, left to rmcp, which ignores an id it did not send.
//!
//! When the server's stdout ends, [`RawLink::close`] fails every pending call at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::{mpsc, oneshot};

/// The prefix of raw request ids (`"pc:17"`).
pub const ID_PREFIX: &str = "pc:";

/// Bytes buffered between rmcp and the stdin writer.
const PIPE: usize = 256 * 1024;

/// Raw requests queued for the writer.
const QUEUE: usize = 256;

/// One stdio server's raw side. Shared by the tap, the writer and the calls.
#[derive(Debug)]
pub struct RawLink {
    to_server: mpsc::Sender<Vec<u8>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>,
    /// How many calls are pending: the tap looks at lines only when this is non-zero.
    waiting: AtomicUsize,
    next: AtomicU64,
    closed: AtomicBool,
}

/// A raw call in flight; dropping it forgets the call (a late response is then dropped).
#[derive(Debug)]
pub struct Pending {
    link: std::sync::Arc<RawLink>,
    /// The number in the id sent to the server.
    pub number: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.link.forget(self.number);
    }
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<&'a str>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one map operation: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RawLink {
    /// Puts a link in front of a server's stdin: returns it and the stream rmcp writes to
    /// instead of `stdin`. The writer task ends (closing `stdin`, which tells the server to
    /// exit) when rmcp closes its side.
    pub fn spawn<W>(server: String, stdin: W) -> (std::sync::Arc<Self>, DuplexStream)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (for_rmcp, from_rmcp) = tokio::io::duplex(PIPE);
        let (to_server, raw_rx) = mpsc::channel(QUEUE);
        let link = std::sync::Arc::new(Self {
            to_server,
            pending: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            next: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(write_stdin(server, from_rmcp, raw_rx, stdin));
        (link, for_rmcp)
    }

    /// Registers a call: its id for the server is `"pc:<number>"`. Returns the call and
    /// where its response line arrives (an error when the connection ends first).
    pub fn begin(self: &std::sync::Arc<Self>) -> (Pending, oneshot::Receiver<Vec<u8>>) {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if !self.closed.load(Ordering::Acquire) {
            lock(&self.pending).insert(number, tx);
            self.waiting.fetch_add(1, Ordering::AcqRel);
        }
        (
            Pending {
                link: self.clone(),
                number,
            },
            rx,
        )
    }

    /// Queues one whole message (ending in `\n`) for the server; `false` when the server's
    /// stdin is gone.
    pub async fn send(&self, line: Vec<u8>) -> bool {
        self.to_server.send(line).await.is_ok()
    }

    fn forget(&self, number: u64) {
        if lock(&self.pending).remove(&number).is_some() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// For the tap: takes `line` if it is the response to a raw call in flight (handing it
    /// to the call) or a late response to one while others are in flight (dropping it).
    /// Returns the line when it is not taken.
    pub fn take(&self, line: Vec<u8>) -> Option<Vec<u8>> {
        // Nothing pending: every line is rmcp's (a late response to a call that gave up
        // reaches rmcp, which ignores an id it did not send).
        if self.waiting.load(Ordering::Acquire) == 0 || !mentions_prefix(&line) {
            return Some(line);
        }
        let Some(number) = our_response(&line) else {
            return Some(line);
        };
        let call = lock(&self.pending).remove(&number);
        if let Some(call) = call {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            let _ = call.send(line);
        }
        None
    }

    /// Fails every pending call (the server's stdout ended); later calls fail at once.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let drained: Vec<_> = lock(&self.pending).drain().collect();
        self.waiting.fetch_sub(drained.len(), Ordering::AcqRel);
    }

    /// Whether the server's stdout has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A cheap test before any parsing: does `line` contain `needle`?
pub fn contains_bytes(line: &[u8], needle: &[u8]) -> bool {
    line.windows(needle.len()).any(|w| w == needle)
}

fn mentions_prefix(line: &[u8]) -> bool {
    contains_bytes(line, ID_PREFIX.as_bytes())
}

/// The number of a response (no `method`) whose id is `"pc:<n>"`.
fn our_response(line: &[u8]) -> Option<u64> {
    let envelope: IdOnly<'_> = serde_json::from_slice(line).ok()?;
    if envelope.method.is_some() {
        return None;
    }
    let id: &str = serde_json::from_str(envelope.id?.get()).ok()?;
    id.strip_prefix(ID_PREFIX)?.parse().ok()
}

/// The one owner of the server's stdin: rmcp's lines and raw requests, each written whole.
async fn write_stdin<W: AsyncWrite + Unpin>(
    server: String,
    from_rmcp: DuplexStream,
    mut raw: mpsc::Receiver<Vec<u8>>,
    mut stdin: W,
) {
    let mut rmcp = BufReader::with_capacity(64 * 1024, from_rmcp);
    let mut line = Vec::with_capacity(4096);
    let mut raw_open = true;
    loop {
        tokio::select! {
            biased;
            // `read_until` keeps what it read in `line` when the other branch wins, and
            // continues from there; rmcp's bytes are written only as whole lines, so a raw
            // request can never land inside one.
            read = rmcp.read_until(b'\n', &mut line) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if !line.ends_with(b"\n") {
                        continue;
                    }
                    if stdin.write_all(&line).await.is_err() {
                        break;
                    }
                    line.clear();
                }
            },
            message = raw.recv(), if raw_open => match message {
                Some(message) => {
                    if stdin.write_all(&message).await.is_err() {
                        break;
                    }
                }
                None => raw_open = false,
            },
        }
        if stdin.flush().await.is_err() {
            break;
        }
    }
    tracing::debug!(server = %server, "stdin writer ended");
    let _ = stdin.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::{RawLink, our_response};
    use tokio::io::AsyncBufReadExt as _;
    use tokio::io::AsyncWriteExt as _;

    #[test]
    fn only_responses_with_our_ids_are_ours() {
        assert_eq!(
            our_response(br#"{"jsonrpc":"2.0","id":"pc:17","result":{}}"#),
            Some(17)
        );
        assert_eq!(
            our_response(
                br#"{"jsonrpc": "2.0", "id": "pc:3", "error": {"code": 1, "message": "x"}}"#
            ),
            Some(3)
        );
        assert_eq!(
            our_response(br#"{"jsonrpc":"2.0","id":17,"result":{"text":"pc:1"}}"#),
            None
        );
        assert_eq!(
            our_response(br#"{"jsonrpc":"2.0","id":"pc:1","method":"ping"}"#),
            None,
            "a request from the server with such an id is not a response"
        );
        assert_eq!(our_response(b"not json pc:1"), None);
    }

    #[tokio::test]
    async fn responses_reach_their_call_and_the_rest_passes() {
        let (child_stdin, _child_reads) = tokio::io::duplex(1024);
        let (link, _rmcp) = RawLink::spawn("s".into(), child_stdin);
        let (call, mut response) = link.begin();
        let number = call.number;
        let other = br#"{"jsonrpc":"2.0","id":5,"result":{}}"#.to_vec();
        assert_eq!(link.take(other.clone()), Some(other));
        let ours = format!(r#"{{"jsonrpc":"2.0","id":"pc:{number}","result":{{}}}}"#).into_bytes();
        assert_eq!(link.take(ours.clone()), None);
        assert_eq!((&mut response).await.ok(), Some(ours.clone()));
        drop(call);
        assert_eq!(
            link.take(ours.clone()),
            Some(ours),
            "with nothing pending a line goes to rmcp (which ignores an id it did not send)"
        );
        let (_call, response) = link.begin();
        link.close();
        assert!(response.await.is_err(), "close fails pending calls");
    }

    #[tokio::test]
    async fn raw_lines_never_split_an_rmcp_line() {
        let (child_stdin, child_reads) = tokio::io::duplex(1 << 20);
        let (link, mut rmcp) = RawLink::spawn("s".into(), child_stdin);
        // rmcp writes half a line, then a raw request is queued, then rmcp finishes its line.
        assert!(rmcp.write_all(b"{\"rmcp\":").await.is_ok());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(link.send(b"{\"raw\":1}\n".to_vec()).await);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(rmcp.write_all(b"1}\n").await.is_ok());
        let mut lines = tokio::io::BufReader::new(child_reads).lines();
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Ok(Some(l)) = lines.next_line().await {
                got.push(l);
            }
        }
        got.sort();
        assert_eq!(
            got,
            vec!["{\"raw\":1}".to_string(), "{\"rmcp\":1}".to_string()]
        );
    }
}
