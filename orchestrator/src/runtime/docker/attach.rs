//! The attach stream of a non-TTY container, split back into its parts: Docker multiplexes
//! stdout and stderr into one stream of 8-byte-header frames (bollard decodes the frames).
//! Stdout bytes go on, unchanged, into a pipe the MCP client reads (it frames JSON-RPC by
//! newline itself; frames do not align with lines); stderr is cut into lines and logged with
//! the server's name. The pump ends when the container's output ends. The other half of the
//! connection is the server's stdin ([`ContainerStdin`]).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::container::LogOutput;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};

/// Capacity of the stdout pipe between the pump and the reader.
pub const STDOUT_PIPE_BYTES: usize = 256 * 1024;
/// Longest stderr line logged (longer ones are cut, the rest is dropped).
pub const MAX_LOG_LINE: usize = 4096;

/// What the server writes (its stdout): read it as a byte stream; EOF when the container ends.
pub type ContainerStdout = DuplexStream;
/// What the server reads (its stdin). `Send + Sync + Unpin` (rmcp wants a `Sync` writer).
/// `shutdown()` sends EOF; dropping it does too (from a task on the current runtime).
pub struct ContainerStdin {
    // Never locked: `get_mut` gives access; the mutex only makes the writer `Sync`.
    inner: std::sync::Mutex<Pin<Box<dyn AsyncWrite + Send>>>,
}

impl ContainerStdin {
    pub(super) fn new(writer: Pin<Box<dyn AsyncWrite + Send>>) -> Self {
        ContainerStdin {
            inner: std::sync::Mutex::new(writer),
        }
    }

    fn writer(&mut self) -> Pin<&mut (dyn AsyncWrite + Send)> {
        self.inner
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
    }
}

impl AsyncWrite for ContainerStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().writer().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().writer().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().writer().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().writer().poll_shutdown(cx)
    }
}

impl std::fmt::Debug for ContainerStdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContainerStdin")
    }
}

impl Drop for ContainerStdin {
    fn drop(&mut self) {
        // The attach connection stays open for stdout, so dropping the write half alone
        // would not end the server's stdin: half-close it explicitly.
        let mut writer = std::mem::replace(
            self.inner
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Box::pin(tokio::io::sink()),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(SHUTDOWN_BOUND, writer.shutdown()).await;
            });
        }
    }
}

/// How long a dropped [`ContainerStdin`] may take to half-close the connection.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// bollard's attach output stream.
pub type AttachOutput =
    Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Copies stdout frames to `stdout` and logs stderr lines until the stream ends; then closes
/// `stdout` so the reader sees EOF. If the reader goes away, stderr is still drained and logged
/// (a container blocked on a full pipe would never exit).
pub async fn pump(mut output: AttachOutput, mut stdout: DuplexStream, server: String) {
    let mut stderr = LineBuffer::default();
    let mut reader_open = true;
    while let Some(item) = output.next().await {
        match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                if reader_open && stdout.write_all(&message).await.is_err() {
                    reader_open = false;
                }
            }
            Ok(LogOutput::StdErr { message }) => {
                stderr.push(&message, |line| log_line(&server, line));
            }
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => {
                tracing::debug!(server = %server, "container output stream ended: {e}");
                break;
            }
        }
    }
    stderr.finish(|line| log_line(&server, line));
    let _ = stdout.shutdown().await;
}

fn log_line(server: &str, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let line: String = text.chars().take(MAX_LOG_LINE).collect();
    tracing::info!(target: "polyclaw::server", server = %server, "{line}");
}

/// Collects bytes and hands out complete lines; a line longer than [`MAX_LOG_LINE`] bytes is
/// handed out early (cut) so memory stays bounded.
#[derive(Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Inside an over-long line whose head was already logged: skip to its newline.
    skipping: bool,
}

impl LineBuffer {
    /// Adds `bytes`, calling `emit` for each complete (or cut) line, without its newline.
    pub fn push(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            if !self.skipping {
                self.pending.extend_from_slice(&bytes[..pos]);
                emit(&self.pending);
            }
            self.pending.clear();
            self.skipping = false;
            bytes = &bytes[pos + 1..];
        }
        if self.skipping {
            return;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() > MAX_LOG_LINE {
            emit(&self.pending);
            self.pending.clear();
            self.skipping = true;
        }
    }

    /// Emits what is left (a last line without a newline).
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() && !self.skipping {
            emit(&self.pending);
        }
        self.pending.clear();
        self.skipping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = LineBuffer::default();
        for c in chunks {
            buf.push(c, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        }
        buf.finish(|l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn chunks_need_not_align_with_lines() {
        assert_eq!(
            lines(&[b"he", b"llo\nwor", b"ld\n\nlast"]),
            ["hello", "world", "", "last"]
        );
    }

    #[test]
    fn long_lines_are_cut_once() {
        let long = vec![b'x'; MAX_LOG_LINE + 10];
        let got = lines(&[&long, &long, b"\nnext\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], "next");
    }

    #[tokio::test]
    async fn pump_splits_stdout_from_stderr() {
        use tokio::io::AsyncReadExt;
        let frames = vec![
            Ok(LogOutput::StdOut {
                message: "{\"a\":".into(),
            }),
            Ok(LogOutput::StdErr {
                message: "log line\n".into(),
            }),
            Ok(LogOutput::StdOut {
                message: "1}\n".into(),
            }),
        ];
        let (mut read, write) = tokio::io::duplex(64);
        let output: AttachOutput = Box::pin(futures::stream::iter(frames));
        tokio::spawn(pump(output, write, "t".into()));
        let mut got = String::new();
        read.read_to_string(&mut got).await.ok();
        assert_eq!(got, "{\"a\":1}\n");
    }
}
