//! Fuzz target (placeholder for polyclaw's own JSON-RPC envelope parser): one line → the typed
//! JSON-RPC message the front door's rmcp transport decodes it into (`ClientJsonRpcMessage`),
//! and back.
//!
//! polyclaw has no envelope parser of its own yet; one is being written (it will parse only
//! `jsonrpc`/`id`/`method` and keep `params` raw). When it lands, point this target at it and
//! keep the round-trip check. Until then it fuzzes the parse every front-door line goes
//! through today: nothing may panic, and a message that decodes re-encodes to JSON that
//! decodes again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::ClientJsonRpcMessage;

fuzz_target!(|data: &[u8]| {
    let line = data.trim_ascii();
    let Ok(message) = serde_json::from_slice::<ClientJsonRpcMessage>(line) else {
        return;
    };
    let text = serde_json::to_string(&message).expect("a decoded message encodes");
    if let Err(e) = serde_json::from_str::<ClientJsonRpcMessage>(&text) {
        panic!("{text} does not decode again: {e}");
    }
});
