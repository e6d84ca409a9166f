//! Command line: `polyclaw-server-memory [--dir DIR]`.

use std::path::{Path, PathBuf};

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-memory [--dir DIR]

An MCP server (stdio) that keeps notes as JSON files.

  --dir DIR   where the notes live; default /data if it exists, else
              ./memory (created if missing)
  -h, --help  print this help";

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub dir: PathBuf,
}

/// What the command line asks for.
pub type Command = polyclaw_server_stdio::Command<Options>;

/// The directory used without `--dir`: `/data` if it is a directory, else
/// `./memory`.
pub fn default_dir() -> PathBuf {
    let data = Path::new("/data");
    if data.is_dir() {
        data.to_path_buf()
    } else {
        PathBuf::from("memory")
    }
}

/// Parses the arguments after the program name (`--dir DIR` or `--dir=DIR`).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut dir = None;
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
            "--dir" => {
                let value = inline
                    .or_else(|| args.next())
                    .filter(|dir| !dir.is_empty())
                    .ok_or("--dir needs a directory")?;
                dir = Some(PathBuf::from(value));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run(Options {
        dir: dir.unwrap_or_else(default_dir),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dir() {
        assert_eq!(
            parse(["--dir", "/notes"]),
            Ok(Command::Run(Options {
                dir: "/notes".into()
            }))
        );
        assert_eq!(
            parse(["--dir=n"]),
            Ok(Command::Run(Options { dir: "n".into() }))
        );
        assert_eq!(
            parse(Vec::<String>::new()),
            Ok(Command::Run(Options { dir: default_dir() }))
        );
        assert!(parse(["--dir"]).is_err());
        assert!(parse(["--dir="]).is_err());
        assert!(parse(["x"]).is_err());
        assert_eq!(parse(["-h"]), Ok(Command::Help));
    }
}
