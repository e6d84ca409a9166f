//! Command line: `polyclaw-server-fs [--root DIR] [--read-only]`.

use std::path::{Path, PathBuf};

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-fs [--root DIR] [--read-only]

An MCP server (stdio) for the files under one directory.

  --root DIR    the directory served; default /data if it exists, else the
                current directory. Paths outside it are refused.
  --read-only   refuse write_file
  -h, --help    print this help";

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub root: PathBuf,
    pub read_only: bool,
}

/// What the command line asks for.
pub type Command = polyclaw_server_stdio::Command<Options>;

/// The root used without `--root`: `/data` if it is a directory, else `.`.
pub fn default_root() -> PathBuf {
    let data = Path::new("/data");
    if data.is_dir() {
        data.to_path_buf()
    } else {
        PathBuf::from(".")
    }
}

/// Parses the arguments after the program name (`--root DIR` or `--root=DIR`).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut root = None;
    let mut read_only = false;
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
            "--root" => {
                let dir = inline
                    .or_else(|| args.next())
                    .ok_or("--root needs a directory")?;
                if dir.is_empty() {
                    return Err("--root must not be empty".to_owned());
                }
                root = Some(PathBuf::from(dir));
            }
            "--read-only" if inline.is_none() => read_only = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run(Options {
        root: root.unwrap_or_else(default_root),
        read_only,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_root_and_read_only() {
        assert_eq!(
            parse(["--root", "/srv", "--read-only"]),
            Ok(Command::Run(Options {
                root: "/srv".into(),
                read_only: true
            }))
        );
        assert_eq!(
            parse(["--root=/x"]),
            Ok(Command::Run(Options {
                root: "/x".into(),
                read_only: false
            }))
        );
        assert_eq!(
            parse(Vec::<String>::new()),
            Ok(Command::Run(Options {
                root: default_root(),
                read_only: false
            }))
        );
        assert_eq!(parse(["-h"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(["--root"]).is_err());
        assert!(parse(["--root="]).is_err());
        assert!(parse(["--read-only=yes"]).is_err());
        assert!(parse(["extra"]).is_err());
    }
}
