//! polyclaw's planner: plans over MCP tools, and the capability search they are built on.
//!
//! This crate decides; it never acts. It must not depend on tokio, rmcp, bollard, reqwest or
//! axum: the orchestrator gives it data and carries out what it decides. Today it holds the
//! tool search index shared by `polyclaw__find_tools` and (next) capability resolution.

pub mod search;
