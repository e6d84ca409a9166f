//! Command line: `polyclaw-server-exec --manifest FILE [--check]`.

use std::path::PathBuf;

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-exec --manifest FILE [--check]

An MCP server (stdio) whose tools run the commands a manifest defines.

  --manifest FILE  the tools (TOML, or JSON if FILE ends in .json); see the
                   crate's README.md for the format
  --check          validate the manifest, list its tools on stderr and exit
  -h, --help       print this help";

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub manifest: PathBuf,
    pub check: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name (`--manifest FILE` or
/// `--manifest=FILE`).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut manifest = None;
    let mut check = false;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--manifest" => {
                let file = inline
                    .or_else(|| args.next())
                    .filter(|file| !file.is_empty())
                    .ok_or("--manifest needs a file")?;
                manifest = Some(PathBuf::from(file));
            }
            "--check" if inline.is_none() => check = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let manifest = manifest.ok_or("--manifest FILE is required")?;
    Ok(Command::Run(Options { manifest, check }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_manifest_and_check() {
        assert_eq!(
            parse(["--manifest", "tools.toml"]),
            Ok(Command::Run(Options {
                manifest: "tools.toml".into(),
                check: false
            }))
        );
        assert_eq!(
            parse(["--check", "--manifest=t.json"]),
            Ok(Command::Run(Options {
                manifest: "t.json".into(),
                check: true
            }))
        );
        assert_eq!(parse(["--help"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(Vec::<String>::new()).is_err_and(|e| e.contains("required")));
        assert!(parse(["--manifest"]).is_err());
        assert!(parse(["--manifest="]).is_err());
        assert!(parse(["--bogus"]).is_err());
    }
}
