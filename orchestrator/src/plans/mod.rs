//! Drives the planner: asks models for plans (`author`), runs validated plans against the
//! mesh (`executor`), and keeps runs on disk (`store`). The planner crate decides what runs
//! when; this module does the I/O — tool calls, timers, progress, model requests.

pub mod author;
pub mod executor;
pub mod mcp;
pub mod propose;
pub mod store;
