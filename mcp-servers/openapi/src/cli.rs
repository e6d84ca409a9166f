//! Command line: `polyclaw-server-openapi --config FILE [--check]`.

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-openapi --config FILE [--check]

An MCP server (stdio) whose tools are the operations of an OpenAPI 3
document; each call makes that HTTP request.

  --config FILE  the server (JSON): name, description, base_url,
                 timeout_secs and the OpenAPI document; see the crate's
                 README.md for the format
  --check        validate the config, list its tools on stderr and exit
  -h, --help     print this help";

/// Parsed options: `file` is the config file.
pub type Options = polyclaw_server_stdio::FileOptions;

/// What the command line asks for.
pub type Command = polyclaw_server_stdio::Command<Options>;

/// Parses the arguments after the program name (`--config FILE` or
/// `--config=FILE`, `--check`).
///
/// # Errors
/// What is wrong, for the usage message.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    polyclaw_server_stdio::file_and_check(args, "config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_its_file_with_config() {
        assert!(
            matches!(parse(["--config", "f"]), Ok(Command::Run(o)) if o.file.as_os_str() == "f")
        );
        assert!(parse(["--bogus", "f"]).is_err());
    }
}
