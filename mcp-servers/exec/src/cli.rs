//! Command line: `polyclaw-server-exec --manifest FILE [--check]`.

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-exec --manifest FILE [--check]

An MCP server (stdio) whose tools run the commands a manifest defines.

  --manifest FILE  the tools (TOML, or JSON if FILE ends in .json); see the
                   crate's README.md for the format
  --check          validate the manifest, list its tools on stderr and exit
  -h, --help       print this help";

/// Parsed options: `file` is the manifest file.
pub type Options = polyclaw_server_stdio::FileOptions;

/// What the command line asks for.
pub type Command = polyclaw_server_stdio::Command<Options>;

/// Parses the arguments after the program name (`--manifest FILE` or
/// `--manifest=FILE`, `--check`).
///
/// # Errors
/// What is wrong, for the usage message.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    polyclaw_server_stdio::file_and_check(args, "manifest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_its_file_with_manifest() {
        assert!(
            matches!(parse(["--manifest", "f"]), Ok(Command::Run(o)) if o.file.as_os_str() == "f")
        );
        assert!(parse(["--bogus", "f"]).is_err());
    }
}
