//! Runtime: how servers run and are reached. Owns every child process and connection
//! lifecycle; nothing outside this module spawns or kills anything.
//!
//! - `process`: child processes in their own process group, stopped politely then firmly.
//! - `downstream`: one server's connection, supervisor (lazy/boot start, restart with backoff),
//!   and last known lists.
//! - `handler`: what polyclaw answers when a downstream server notifies or asks.
//! - `relay`: routes progress, sampling, elicitation and logs up to front-door clients.
//! - `tap`: takes progress off a stdio server's stdout in order, before rmcp sees later lines.
//! - `raw`: the raw link beside rmcp on a stdio server's pipes (the hub's raw route).
//! - `docker`: containers, images (own servers, generated ones, the Python base) through
//!   bollard, and the one cargo build that makes the own images' binaries.
//!
//! `orchestrator/clippy.toml` forbids `Command::new` everywhere else in the crate.

#![expect(
    clippy::disallowed_methods,
    reason = "runtime/ is where processes are started (the rule is in orchestrator/clippy.toml)"
)]

pub mod docker;
pub mod downstream;
pub mod handler;
pub mod process;
pub mod raw;
pub mod relay;
pub mod tap;

pub use downstream::{Downstream, Event, ListKind, Status};
pub use relay::Relay;
