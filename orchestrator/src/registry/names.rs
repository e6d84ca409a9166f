//! Naming rules of the front door: downstream tool `t` of server `s` is served as `s__t`.
//!
//! `__` is used because some clients only accept `^[a-zA-Z0-9_-]{1,64}$` in tool names, which
//! rules out `.` and `/`. Server names may not contain `__`, so splitting is unambiguous.

/// Separates the server prefix from the downstream name.
pub const SEPARATOR: &str = "__";

/// The server name under which polyclaw serves its own tools.
pub const OWN_SERVER: &str = "polyclaw";

/// The longest tool name MCP allows.
pub const MAX_TOOL_NAME: usize = 128;

/// The exposed name of `name` from a server with `prefix` (`""` = unprefixed).
#[must_use]
pub fn qualify(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}{SEPARATOR}{name}")
    }
}

/// Splits an exposed name into `(prefix, name)` at the first `__`, if any.
#[must_use]
pub fn split(exposed: &str) -> Option<(&str, &str)> {
    exposed.split_once(SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualify_and_split_round_trip() {
        assert_eq!(qualify("git", "git_status"), "git__git_status");
        assert_eq!(split("git__git_status"), Some(("git", "git_status")));
        assert_eq!(split("time__a__b"), Some(("time", "a__b")));
        assert_eq!(qualify("", "echo"), "echo");
        assert_eq!(split("echo"), None);
    }
}
