//! The attach stream of a non-TTY container, split back into its parts: Docker multiplexes
//! stdout and stderr into one stream of 8-byte-header frames (bollard decodes the frames).
//! Stdout bytes go on, unchanged, into a pipe the MCP client reads (it frames JSON-RPC by
//! newline itself; frames do not align with lines); stderr is cut into lines and logged with
//! the server's name. The pump ends when the container's output ends.

use std::pin::Pin;

use bollard::container::LogOutput;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncWriteExt, DuplexStream};

/// Capacity of the stdout pipe between the pump and the reader.
pub const STDOUT_PIPE_BYTES: usize = 256 * 1024;
/// Longest stderr line logged (longer ones are cut, the rest is dropped).
pub const MAX_LOG_LINE: usize = 4096;

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
