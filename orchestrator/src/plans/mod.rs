//! Drives the planner: asks models for plans (`propose`, through `hub::author`), runs validated plans against the
//! mesh (`executor`), and keeps runs on disk (`store`). The planner crate decides what runs
//! when; this module does the I/O — tool calls, timers, progress, model requests.

pub mod executor;
pub mod propose;
pub mod store;
