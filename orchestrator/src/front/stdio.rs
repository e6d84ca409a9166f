//! The front door over stdio: what IDE configs launch. stdout carries only protocol; every
//! log line goes to stderr. The session ends when the client closes stdin or on shutdown.
//!
//! A thin framing guard sits between the real stdin/stdout and rmcp: a line that is not JSON
//! is answered with a JSON-RPC parse error (-32700, as the spec asks) instead of being
//! dropped silently, and a line longer than [`MAX_LINE`] is refused the same way without
//! being buffered whole. One writer task owns stdout, so replies and errors never interleave.
//!
//! `tools/call` lines that need no translation skip rmcp: the guard hands them to the hot
//! path ([`super::hot`]), which forwards them raw and writes the answers through the same
//! writer. stdin and stdout are driven as non-blocking pipes when they are pipes (rmcp's
//! `stdio_pipes`), not through tokio's blocking thread pool.

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::model::ProtocolVersion;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::Error;

use super::FrontDoor;
use super::hot::HotPath;
use crate::hub::Hub;

/// The longest accepted request line.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// Serves one client on stdin/stdout until it disconnects or `shutdown` is cancelled.
///
/// # Errors
/// [`Error::Io`] when the session cannot start (e.g. stdin is closed at once).
pub async fn serve(hub: Arc<Hub>, shutdown: CancellationToken) -> Result<(), Error> {
    let (input, output) = rmcp::transport::stdio_pipes();
    serve_on(hub, input, output, shutdown).await
}

/// [`serve`] over any byte streams (tests use in-memory pipes).
///
/// # Errors
/// See [`serve`].
pub async fn serve_on<R, W>(
    hub: Arc<Hub>,
    input: R,
    output: W,
    shutdown: CancellationToken,
) -> Result<(), Error>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (rmcp_in, to_rmcp) = tokio::io::duplex(256 * 1024);
    let (from_rmcp, rmcp_out) = tokio::io::duplex(256 * 1024);
    let (out_tx, out_rx) = mpsc::channel::<String>(256);
    let forward_raw = hub.front.forward_raw;
    let hot = HotPath::new(hub.clone(), out_tx.clone());
    tokio::spawn(read_guarded(input, to_rmcp, out_tx, hot.clone()));
    let writer = tokio::spawn(write_merged(from_rmcp, out_rx, output));
    let running = FrontDoor::new(hub)
        .serve_with_ct((rmcp_in, rmcp_out), shutdown.child_token())
        .await
        .map_err(|e| Error::Io {
            context: format!("the stdio client did not complete the MCP handshake: {e}"),
            source: std::io::Error::other(e.to_string()),
        })?;
    let peer = running.peer().clone();
    // A 2026-07-28 client's calls go raw too: with its own `_meta` to a server of that era,
    // with `resultType` added to an older server's results.
    // (A client that never sent `initialize` has no peer info: it is of that era.)
    let inline = peer
        .peer_info()
        .is_none_or(|i| i.protocol_version >= ProtocolVersion::V_2026_07_28);
    if forward_raw {
        hot.enable(peer, inline);
        tracing::debug!(
            inline,
            "stdio hot path enabled: tools/call goes raw to stdio servers"
        );
    }
    let _ = running.waiting().await;
    let _ = writer.await;
    Ok(())
}

fn parse_error(detail: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32700, "message": format!("Parse error: {detail}; send one JSON-RPC message per line")}
    })
    .to_string()
}

/// Copies valid JSON lines from the client to rmcp (or the hot path); answers the rest with
/// parse errors.
async fn read_guarded<R: AsyncRead + Unpin>(
    input: R,
    mut to_rmcp: tokio::io::DuplexStream,
    errors: mpsc::Sender<String>,
    hot: std::sync::Arc<HotPath>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let mut too_long = false;
        // Read one line without ever holding more than MAX_LINE bytes of it.
        loop {
            let buf = match reader.fill_buf().await {
                Ok(b) => b,
                Err(_) => return,
            };
            if buf.is_empty() {
                if line.is_empty() && !too_long {
                    return; // EOF: dropping `to_rmcp` ends the session
                }
                break;
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            if !too_long && line.len() + chunk.len() <= MAX_LINE + 1 {
                line.extend_from_slice(chunk);
            } else {
                too_long = true;
                line.clear();
            }
            let n = chunk.len();
            reader.consume(n);
            if done {
                break;
            }
        }
        if too_long {
            let _ = errors
                .send(parse_error(&format!(
                    "a request line is longer than {MAX_LINE} bytes"
                )))
                .await;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        // A line the hot path takes has been parsed whole there (valid JSON): it is not
        // parsed a second time here.
        if hot.try_handle(text) {
            continue;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(text) {
            Ok(_) => {
                if to_rmcp.write_all(text).await.is_err() || to_rmcp.write_all(b"\n").await.is_err()
                {
                    return;
                }
            }
            Err(e) => {
                let _ = errors.send(parse_error(&e.to_string())).await;
            }
        }
    }
}

/// The one owner of stdout: rmcp's lines, parse errors and the hot path's answers, each
/// written whole. rmcp's lines go first when both are ready: a call's progress (sent through
/// rmcp) is then always written before the call's answer (sent by the hot path after it).
async fn write_merged<W: AsyncWrite + Unpin>(
    from_rmcp: tokio::io::DuplexStream,
    mut errors: mpsc::Receiver<String>,
    mut output: W,
) {
    let mut lines = BufReader::new(from_rmcp).lines();
    let mut errors_open = true;
    loop {
        let mut line = tokio::select! {
            biased;
            l = lines.next_line() => match l {
                Ok(Some(l)) => l,
                _ => break,
            },
            e = errors.recv(), if errors_open => match e {
                Some(e) => e,
                None => { errors_open = false; continue; }
            },
        };
        // One write per message: a pipe reader wakes once.
        line.push('\n');
        if output.write_all(line.as_bytes()).await.is_err() || output.flush().await.is_err() {
            break;
        }
    }
}
