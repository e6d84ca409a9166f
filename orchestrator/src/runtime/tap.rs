//! The tap on a stdio server's stdout (a child process's pipe or a container's attach stream).
//!
//! - Progress notifications are taken off the stream here, in the order the server wrote them,
//!   and handed to the relay before any later line (such as the call's response) reaches rmcp.
//!   rmcp dispatches notifications to tasks of their own, so without the tap a response can
//!   overtake the progress sent before it, and the client loses that progress.
//! - A line longer than [`MAX_LINE`] is never buffered whole: the tap stops at the limit,
//!   logs why, and ends the stream, which drops the server (its calls fail, the supervisor
//!   stops the process and starts it again). A misbehaving server costs at most `MAX_LINE` of
//!   memory, whatever it writes.
//!
//! Every other line passes to rmcp unchanged.

use std::sync::Arc;

use rmcp::model::ProgressNotificationParam;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream};

use super::raw::{RawLink, contains_bytes};
use super::relay::Relay;

/// Bytes buffered between the tap and rmcp.
const PIPE: usize = 256 * 1024;

/// The longest line a server may write on stdout (a message; results with large embedded
/// resources stay well under it).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct Progress {
    method: String,
    params: ProgressNotificationParam,
}

/// How reading one line ended.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A whole line (with its `\n`, unless the stream ended without one).
    Read,
    /// The stream ended (or failed) before any byte of a new line.
    End,
    /// The line passed `max` bytes; what was read of it is dropped.
    TooLong,
}

/// Reads one line into `line` (cleared first), never holding more than `max` bytes of it.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
    max: usize,
) -> Line {
    line.clear();
    loop {
        let Ok(buf) = reader.fill_buf().await else {
            return Line::End;
        };
        if buf.is_empty() {
            return if line.is_empty() {
                Line::End
            } else {
                Line::Read
            };
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        if line.len() + chunk.len() > max + 1 {
            line.clear();
            return Line::TooLong;
        }
        line.extend_from_slice(chunk);
        let n = chunk.len();
        reader.consume(n);
        if done {
            return Line::Read;
        }
    }
}

/// Starts the tap; returns the stream rmcp reads instead of the child's stdout. It ends when
/// the child's stdout closes, when rmcp stops reading, or at a line longer than [`MAX_LINE`].
/// Responses to the raw `link`'s calls go to them instead of rmcp; when the tap ends, the
/// link's pending calls fail.
pub fn spawn<R>(server: String, stdout: R, relay: Arc<Relay>, link: Arc<RawLink>) -> DuplexStream
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (for_rmcp, mut to_rmcp) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let mut line = Vec::with_capacity(4096);
        loop {
            match read_line(&mut reader, &mut line, MAX_LINE).await {
                Line::Read => {}
                Line::End => break,
                Line::TooLong => {
                    tracing::error!(
                        server = %server,
                        "the server wrote a line longer than {} MiB on stdout; it is dropped and restarted (a server must write one JSON-RPC message per line)",
                        MAX_LINE / (1024 * 1024)
                    );
                    break;
                }
            }
            if is_progress(&line)
                && let Ok(note) = serde_json::from_slice::<Progress>(&line)
                && note.method == "notifications/progress"
            {
                relay.forward_progress(&server, note.params).await;
                continue;
            }
            match link.take(std::mem::take(&mut line)) {
                Some(theirs) => line = theirs,
                None => continue,
            }
            if to_rmcp.write_all(&line).await.is_err() {
                break;
            }
        }
        link.close();
        let _ = to_rmcp.shutdown().await;
    });
    for_rmcp
}

/// A cheap pre-check so only likely progress lines are parsed twice.
fn is_progress(line: &[u8]) -> bool {
    line.len() < 64 * 1024 && contains_bytes(line, b"notifications/progress")
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufReader};

    use super::{Line, is_progress, read_line};

    #[test]
    fn precheck() {
        assert!(is_progress(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
        ));
        assert!(!is_progress(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
    }

    #[tokio::test]
    async fn lines_are_read_whole_and_a_long_one_is_refused() {
        let (mut w, r) = tokio::io::duplex(64);
        tokio::spawn(async move {
            let _ = w.write_all(b"short\n").await;
            let _ = w.write_all(&[b'x'; 1000]).await;
            let _ = w.write_all(b"\nafter\n").await;
        });
        // A 16-byte reader buffer: lines span many reads.
        let mut reader = BufReader::with_capacity(16, r);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line, 100).await, Line::Read);
        assert_eq!(line, b"short\n");
        assert_eq!(read_line(&mut reader, &mut line, 100).await, Line::TooLong);
        assert!(line.is_empty(), "nothing of the long line is kept");
        // What follows is not consumed by the refusal: the caller ends the stream anyway.
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest).await;
        assert!(rest.ends_with(b"after\n"));
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_passes_and_eof_ends() {
        let (mut w, r) = tokio::io::duplex(64);
        tokio::spawn(async move {
            let _ = w.write_all(&[b'y'; 100]).await;
            let _ = w.write_all(b"\nlast").await;
        });
        let mut reader = BufReader::with_capacity(16, r);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line, 100).await, Line::Read);
        assert_eq!(line.len(), 101);
        assert_eq!(read_line(&mut reader, &mut line, 100).await, Line::Read);
        assert_eq!(line, b"last", "a last line without newline is still a line");
        assert_eq!(read_line(&mut reader, &mut line, 100).await, Line::End);
    }
}
