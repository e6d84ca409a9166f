//! Support library for polyclaw's end-to-end tests, which talk to real MCP peers.
//!
//! - [`python`]: a venv with the pinned Python MCP SDK and PyPI servers, and the scriptable
//!   Python client driver `tests/py/mcp_client.py`.
//! - [`support`]: the workspace binaries, a `polyclaw serve` process, free ports, configs.

pub mod python;
pub mod support;
