//! polyclaw: one MCP server in front of many.
//!
//! A client (an IDE or an agent) connects to polyclaw as one MCP server, over stdio or
//! Streamable HTTP. polyclaw keeps a registry of downstream MCP servers (local processes and
//! remote HTTP servers), serves all their tools, prompts and resources under namespaced
//! names, routes each request to its owner, and carries notifications and server→client
//! requests back.
//!
//! Layout: `config` (polyclaw.toml → validated specs), `registry` (names, merged catalog),
//! `runtime` (processes, connections, supervision), `mesh` (the front door and its
//! transports), `generate` (templates → tested, isolated new servers), `commands` (what the CLI does). The binary only parses arguments and calls in.

pub mod commands;
pub mod config;
pub mod error;
pub mod generate;
pub mod mesh;
pub mod plans;
pub mod registry;
pub mod runtime;
pub mod tls;

pub use config::Config;
pub use error::{Error, Result};
pub use mesh::Mesh;
