//! The tap on a stdio server's stdout (a child process's pipe or a container's attach stream): progress notifications are taken off the stream here,
//! in the order the server wrote them, and handed to the relay before any later line (such as
//! the call's response) reaches rmcp. rmcp dispatches notifications to tasks of their own, so
//! without the tap a response can overtake the progress sent before it, and the client loses
//! that progress. Every other line passes to rmcp unchanged.

use std::sync::Arc;

use rmcp::model::ProgressNotificationParam;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream};

use super::relay::Relay;

/// Bytes buffered between the tap and rmcp.
const PIPE: usize = 256 * 1024;

#[derive(Deserialize)]
struct Progress {
    method: String,
    params: ProgressNotificationParam,
}

/// Starts the tap; returns the stream rmcp reads instead of the child's stdout. It ends when
/// the child's stdout closes (or rmcp stops reading).
pub fn spawn<R>(server: String, stdout: R, relay: Arc<Relay>) -> DuplexStream
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (for_rmcp, mut to_rmcp) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if is_progress(&line)
                && let Ok(note) = serde_json::from_slice::<Progress>(&line)
                && note.method == "notifications/progress"
            {
                relay.forward_progress(&server, note.params).await;
                continue;
            }
            if to_rmcp.write_all(&line).await.is_err() {
                break;
            }
        }
        let _ = to_rmcp.shutdown().await;
    });
    for_rmcp
}

/// A cheap pre-check so only likely progress lines are parsed twice.
fn is_progress(line: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"notifications/progress";
    line.len() < 64 * 1024 && line.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

#[cfg(test)]
mod tests {
    use super::is_progress;

    #[test]
    fn precheck() {
        assert!(is_progress(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
        ));
        assert!(!is_progress(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
    }
}
