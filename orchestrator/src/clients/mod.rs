//! MCP clients' configuration files: reading them (`import`: a client's servers become a
//! `polyclaw.toml`), writing polyclaw into them (`connect`: the entry for each client, merged
//! into its file keeping every other key in order, with a backup), and the JSON with comments
//! they are written in (`jsonc`).
//!
//! Never here: starting anything. These are files in, files out.

pub mod connect;
pub mod import;
pub mod jsonc;
