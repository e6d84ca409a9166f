//! The host's Python MCP SDK, copied into the build context of `python` servers.

use crate::runtime::docker::ContextFile;

/// The SDK's files under `folder/` of the build context.
///
/// # Errors
/// Why the SDK cannot be provided.
pub async fn sdk_files(folder: &str) -> Result<Vec<ContextFile>, String> {
    Err(format!(
        "the python template is not available yet (it would copy the Python MCP SDK to `{folder}`)"
    ))
}
