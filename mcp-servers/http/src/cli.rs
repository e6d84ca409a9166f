//! Command line: `polyclaw-server-http --allow HOST[:PORT] [--allow ...]
//! [--timeout SECS] [--ca-file PEM]`.

use std::{path::PathBuf, time::Duration};

use crate::allow::{AllowList, Allowed};

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-http --allow HOST[:PORT] [--allow ...] [--timeout SECS] [--ca-file PEM]

An MCP server (stdio) with one tool, `request`, for HTTP requests to the
allowed hosts only.

  --allow HOST[:PORT]  a host requests may go to (exact match; without a
                       port, any port of it); repeat for more. IPv6: [::1]:8080
  --timeout SECS       whole-request timeout, default 30
  --ca-file PEM        extra root certificates (PEM bundle) besides the
                       built-in web roots; the system store is not used
  -h, --help           print this help";

/// Default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub allow: AllowList,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

/// What the command line asks for.
pub type Command = polyclaw_server_stdio::Command<Options>;

/// Parses the arguments after the program name (`--opt VALUE` or
/// `--opt=VALUE`).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut allow = Vec::new();
    let mut timeout = DEFAULT_TIMEOUT;
    let mut ca_file = None;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--allow" => allow.push(Allowed::parse(&value("--allow")?)?),
            "--timeout" => {
                let secs = value("--timeout")?;
                timeout = secs
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .map(Duration::from_secs)
                    .ok_or_else(|| format!("--timeout {secs:?}: give whole seconds, 1 to 3600"))?;
            }
            "--ca-file" => ca_file = Some(PathBuf::from(value("--ca-file")?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if allow.is_empty() {
        return Err(
            "no --allow given: nothing could be requested; pass --allow HOST[:PORT] for each host"
                .to_owned(),
        );
    }
    Ok(Command::Run(Options {
        allow: AllowList::new(allow),
        timeout,
        ca_file,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_allow_list_and_timeout() -> Result<(), String> {
        let Command::Run(options) = parse([
            "--allow",
            "api.example.com",
            "--allow=127.0.0.1:8080",
            "--timeout",
            "5",
        ])?
        else {
            return Err("help".into());
        };
        assert_eq!(options.allow.describe(), "api.example.com, 127.0.0.1:8080");
        assert_eq!(options.timeout, Duration::from_secs(5));
        assert_eq!(options.ca_file, None);
        assert_eq!(parse(["--help"]), Ok(Command::Help));
        Ok(())
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(Vec::<String>::new()).is_err_and(|e| e.contains("--allow HOST")));
        assert!(parse(["--allow"]).is_err());
        assert!(parse(["--allow", "https://x.com"]).is_err());
        assert!(parse(["--allow", "x.com", "--timeout", "0"]).is_err());
        assert!(parse(["--allow", "x.com", "--timeout", "soon"]).is_err());
        assert!(parse(["--allow", "x.com", "extra"]).is_err());
    }
}
