//! Fuzz target: the front door's stdio session, end to end in memory. The input is what a
//! client writes on polyclaw's stdin; it goes through `front::stdio::serve_on` (the framing
//! guard, rmcp's transport, the `FrontDoor`) with a mesh of no servers, until end of input.
//!
//! Nothing may panic, and every line polyclaw writes on stdout must be JSON (stdout carries
//! only protocol; a line that is not JSON is answered with a -32700 error, not echoed).
//!
//! polyclaw's own tools can start processes (`polyclaw__add_server`) or ask the client for
//! sampling, so an input that calls any tool but the harmless ones below is skipped; the
//! check uses the same typed decoding as the front door (`ClientJsonRpcMessage`), so escapes
//! in a tool name cannot slip past it.

#![no_main]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use polyclaw::config::{Config, ConfigSource, Interpolator};
use polyclaw::front::stdio;
use polyclaw::hub::Hub;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use tokio::io::AsyncReadExt as _;
use tokio_util::sync::CancellationToken;

/// Tools an input may call: none of them starts anything or asks the client anything.
const HARMLESS_TOOLS: [&str; 3] = [
    "polyclaw__list_servers",
    "polyclaw__find_tools",
    "polyclaw__call_tool",
];

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

static MESH: LazyLock<Arc<Hub>> = LazyLock::new(|| {
    // No servers; run records (if any) could not be written anywhere.
    let text = "[plans]\nstate_dir = \"/dev/null/polyclaw-fuzz\"\n";
    let vars = Interpolator::with_vars(BTreeMap::new(), None);
    let config =
        Config::parse(text, ConfigSource::Embedded, &vars).expect("the fuzz config is valid");
    RUNTIME.block_on(async { Hub::start(&config, CancellationToken::new()) })
});

fn harmless(data: &[u8]) -> bool {
    data.split(|&b| b == b'\n').all(|line| {
        match serde_json::from_slice::<ClientJsonRpcMessage>(line.trim_ascii()) {
            Ok(JsonRpcMessage::Request(r)) => match &r.request {
                ClientRequest::CallToolRequest(call) => {
                    HARMLESS_TOOLS.contains(&call.params.name.as_ref())
                }
                _ => true,
            },
            _ => true,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if !harmless(data) {
        return;
    }
    let mesh = MESH.clone();
    let input = Cursor::new(data.to_vec());
    RUNTIME.block_on(async move {
        let (output, mut from_polyclaw) = tokio::io::duplex(64 * 1024);
        let shutdown = CancellationToken::new();
        let session = tokio::spawn(stdio::serve_on(mesh, input, output, shutdown.clone()));
        let mut written = Vec::new();
        // A session ends at end of input; the bound only keeps a stuck one from stalling
        // the fuzzer (libFuzzer's own -timeout reports it).
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = from_polyclaw.read_to_end(&mut written).await;
        })
        .await;
        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), session).await;
        if read.is_err() {
            return;
        }
        for line in written.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
                panic!(
                    "polyclaw wrote a line that is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    });
});
