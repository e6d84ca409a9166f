//! Support library for polyclaw's end-to-end tests, which talk to real MCP peers.
//!
//! - [`bench`]: the benchmark harness behind the `polyclaw-bench` binary (issue 6).
//! - [`python`]: a venv with the pinned Python MCP SDK and PyPI servers, and the scriptable
//!   Python client driver `tests/py/mcp_client.py`.
//! - [`support`]: the workspace binaries, a `polyclaw serve` process, free ports, configs.

pub mod bench;
pub mod python;
pub mod support;
