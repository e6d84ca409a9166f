//! The front doors: what clients talk to.
//!
//! `door` is the MCP server handler (`FrontDoor`, one per client session): lists from the
//! hub's catalog plus polyclaw's own tools, calls and reads routed through the hub. `stdio`
//! and `http` put it on a transport; `hot` takes the stdio front's `tools/call` lines that
//! need no translation off rmcp and hands them to the hub's raw route, and `http_raw` does
//! the same for an HTTP session's POSTs. `own_tools` are the
//! `polyclaw__*` tools, with `plan_tools` and `generate_tools` the MCP surfaces of plans and
//! generation.
//!
//! Never here: the call policy (timeout, cancellation, progress, up-requests, crashes), which
//! is the hub's, the same for every route.

pub mod door;
pub mod generate_tools;
pub mod hot;
pub mod http;
pub mod http_raw;
pub mod own_tools;
pub mod plan_tools;
pub mod stdio;
pub mod ui;

pub use door::FrontDoor;
