//! polyclaw: one MCP server in front of many.
//!
//! A client (an IDE or an agent) connects to polyclaw as one MCP server, over stdio or
//! Streamable HTTP. polyclaw keeps a registry of downstream MCP servers (local processes and
//! remote HTTP servers), serves all their tools, prompts and resources under namespaced
//! names, routes each request to its owner, and carries notifications and server→client
//! requests back.
//!
//! Layers, each using only those below it: `front` (the MCP server clients talk to, its
//! stdio and HTTP transports, polyclaw's own tools) → `plans` (runs the planner's plans) →
//! `generate` (templates → tested, isolated new servers) → `hub` (the live registry and the
//! one call policy) → `runtime` (processes, containers, connections, supervision) →
//! `config` (polyclaw.toml → validated specs) → `registry` (names, merged catalog, pins).
//! `commands` is what the CLI does, on top of all; the binary only parses arguments and
//! calls in. `layering` tests hold these rules.

pub mod clients;
pub mod commands;
pub mod config;
pub mod error;
pub mod front;
pub mod generate;
pub mod hub;
pub mod plans;
pub mod registry;
pub mod runtime;
pub mod tls;

#[cfg(test)]
mod layering;

pub use config::Config;
pub use error::{Error, Result};
pub use hub::Hub;
