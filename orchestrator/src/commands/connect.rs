//! TEMPORARY STUB so the crate compiles; the connect author replaces this whole file.
use crate::error::Error;
use std::path::{Path, PathBuf};
/// Stub.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Client {
    Vscode,
    ClaudeDesktop,
    ClaudeCode,
    Cursor,
}
/// Stub.
pub struct Launch {
    pub exe: PathBuf,
    pub config: Option<PathBuf>,
    pub http_url: Option<String>,
    pub token_env: Option<String>,
}
/// Stub.
pub struct Snippet {
    pub path: Option<PathBuf>,
    pub json: serde_json::Value,
    pub shell: Option<String>,
    pub notes: Vec<String>,
}
/// Stub.
#[derive(Debug)]
pub struct WriteOutcome;
/// Stub.
pub fn client_config(_c: Client, _l: &Launch) -> Snippet {
    Snippet {
        path: None,
        json: serde_json::Value::Null,
        shell: None,
        notes: vec![],
    }
}
/// Stub.
pub fn write_into(_p: &Path, _c: Client, _e: &serde_json::Value) -> Result<WriteOutcome, Error> {
    Ok(WriteOutcome)
}
