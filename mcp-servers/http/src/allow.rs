//! The allow list: `HOST` (any port of that host) or `HOST:PORT` (that port
//! only). Hosts are compared exactly after URL normalization (lowercase,
//! IDNA, IPv6 in brackets): `example.com` does not allow `api.example.com`.

use std::fmt;

use reqwest::Url;

/// One allowed host, and optionally port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// Normalized as `Url::host_str` spells it (`[::1]` for IPv6).
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl Allowed {
    /// Parses `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--allow {entry:?}: {why} (expected HOST or HOST:PORT)");
        if entry.contains("://") || entry.contains(['/', '@', '?', '#', '*']) {
            return Err(bad("give a host name, not a URL or pattern"));
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match after {
                "" => (format!("[{inside}]"), None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (format!("[{inside}]"), Some(port)),
                    None => return Err(bad("unexpected text after ']'")),
                },
            }
        } else {
            match entry.split_once(':') {
                Some((host, port)) if !port.contains(':') => (host.to_owned(), Some(port)),
                Some(_) => return Err(bad("write IPv6 addresses in brackets, e.g. [::1]:8080")),
                None => (entry.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("empty host"));
        }
        let port = port
            .map(|port| {
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("port must be 1 to 65535"))
            })
            .transpose()?;
        let url = Url::parse(&format!("http://{host}/")).map_err(|err| bad(&err.to_string()))?;
        let host = url.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        Ok(Self { host, port })
    }
}

/// The hosts requests may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<Allowed>);

impl AllowList {
    pub fn new(entries: Vec<Allowed>) -> Self {
        Self(entries)
    }

    /// Whether `url` (http or https) goes to an allowed host and port.
    pub fn permits(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        self.0
            .iter()
            .any(|allowed| allowed.host == host && allowed.port.is_none_or(|p| p == port))
    }

    /// The entries, comma-separated, for messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Result<AllowList, String> {
        Ok(AllowList::new(
            entries
                .iter()
                .map(|e| Allowed::parse(e))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn permits(list: &AllowList, url: &str) -> bool {
        Url::parse(url).is_ok_and(|url| list.permits(&url))
    }

    #[test]
    fn parses_entries() -> Result<(), String> {
        assert_eq!(
            Allowed::parse("API.Example.com")?,
            Allowed {
                host: "api.example.com".into(),
                port: None
            }
        );
        assert_eq!(
            Allowed::parse("127.0.0.1:8080")?,
            Allowed {
                host: "127.0.0.1".into(),
                port: Some(8080)
            }
        );
        assert_eq!(
            Allowed::parse("[::1]:80")?,
            Allowed {
                host: "[::1]".into(),
                port: Some(80)
            }
        );
        assert_eq!(Allowed::parse("[::1]")?.to_string(), "[::1]");
        for bad in [
            "",
            "https://x.com",
            "x.com/path",
            "*.x.com",
            "x.com:0",
            "x.com:99999",
            "x.com:",
            "::1",
            "[::1",
            "[::1]x",
            "user@x.com",
        ] {
            assert!(Allowed::parse(bad).is_err(), "{bad:?}");
        }
        Ok(())
    }

    #[test]
    fn matches_hosts_exactly() -> Result<(), String> {
        let list = list(&["example.com", "127.0.0.1:8080", "[::1]:443"])?;
        assert!(permits(&list, "https://example.com/x"));
        assert!(permits(&list, "http://EXAMPLE.com:9999/"));
        assert!(!permits(&list, "https://api.example.com/"));
        assert!(!permits(&list, "https://example.com.evil.net/"));
        assert!(!permits(&list, "https://evil.net/?example.com"));
        assert!(!permits(&list, "https://example.com@evil.net/"));
        assert!(permits(&list, "http://127.0.0.1:8080/"));
        assert!(!permits(&list, "http://127.0.0.1:8081/"));
        assert!(!permits(&list, "http://127.0.0.1/"));
        assert!(!permits(&list, "http://localhost:8080/"));
        assert!(permits(&list, "https://[::1]/"));
        assert!(!permits(&list, "http://[::1]/"));
        assert!(!permits(&list, "ftp://example.com/"));
        assert!(!permits(&list, "file:///etc/passwd"));
        assert_eq!(list.describe(), "example.com, 127.0.0.1:8080, [::1]:443");
        Ok(())
    }
}
