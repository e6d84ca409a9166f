//! Secret values polyclaw knows (servers' `secrets`, `headers`, and `env` values that look
//! like credentials) are replaced by `[redacted:NAME]` wherever they would leave polyclaw:
//! tool results, errors, audit lines and logs.
//!
//! Values are searched as written and as they appear inside a JSON string (escaped), in one
//! pass (Aho-Corasick); the replacement is valid inside JSON strings. Values shorter than
//! [`MIN_LEN`] are not searched: they would match ordinary text.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

/// The shortest value searched for.
pub const MIN_LEN: usize = 6;

/// Replaces known secret values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// `None` when there is nothing to redact.
    matcher: Option<AhoCorasick>,
    /// The replacement of each pattern.
    replacements: Vec<String>,
}

/// Whether an environment variable's name says it holds a credential.
#[must_use]
pub fn secret_looking(name: &str) -> bool {
    const WORDS: [&str; 10] = [
        "TOKEN", "SECRET", "KEY", "PASS", "AUTH", "CRED", "PRIVATE", "SESSION", "COOKIE", "PWD",
    ];
    let upper = name.to_ascii_uppercase();
    WORDS.iter().any(|w| upper.contains(w))
}

impl Redactor {
    /// A redactor of `(name, value)` pairs; longer values win where two overlap.
    #[must_use]
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in secrets {
            if value.len() < MIN_LEN {
                continue;
            }
            let replacement = format!("[redacted:{}]", clean(name));
            let escaped = serde_json::to_string(value)
                .map(|s| s[1..s.len() - 1].to_string())
                .unwrap_or_default();
            for pattern in [value.to_string(), escaped] {
                if !pattern.is_empty() && !pairs.iter().any(|(p, _)| *p == pattern) {
                    pairs.push((pattern, replacement.clone()));
                }
            }
        }
        if pairs.is_empty() {
            return Self::default();
        }
        pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(pairs.iter().map(|(p, _)| p.as_str()))
            .ok();
        Self {
            matcher,
            replacements: pairs.into_iter().map(|(_, r)| r).collect(),
        }
    }

    /// Whether there is anything to redact.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// `text` with every known secret replaced.
    #[must_use]
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(m) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        if !m.is_match(text) {
            return Cow::Borrowed(text);
        }
        Cow::Owned(m.replace_all(text, &self.replacements))
    }

    /// `bytes` with every known secret replaced.
    #[must_use]
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(m) = &self.matcher else {
            return Cow::Borrowed(bytes);
        };
        if !m.is_match(bytes) {
            return Cow::Borrowed(bytes);
        }
        Cow::Owned(m.replace_all_bytes(bytes, &self.replacements))
    }
}

/// A name fit for the marker: letters, digits, `_`, `-`, `.` only.
fn clean(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The redactor of this process's logs, set once (by the first hub).
static FOR_LOGS: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// Makes `redactor` clean every log line written through [`Stderr`] from now on.
pub fn install_for_logs(redactor: &Redactor) {
    if !redactor.is_empty() {
        let _ = FOR_LOGS.set(redactor.clone());
    }
}

/// A `tracing` writer to stderr that redacts each event whole before writing it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

/// One event's bytes, written (redacted) when dropped.
#[derive(Debug, Default)]
pub struct Event(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Event;
    fn make_writer(&'a self) -> Event {
        Event(Vec::with_capacity(256))
    }
}

impl std::io::Write for Event {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let bytes = match FOR_LOGS.get() {
            Some(r) => r.bytes(&self.0),
            None => Cow::Borrowed(&self.0[..]),
        };
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::{Redactor, secret_looking};

    #[test]
    fn secrets_are_replaced_raw_and_json_escaped() -> anyhow::Result<()> {
        let r = Redactor::new([
            ("API_TOKEN", "s3cr3t-value"),
            ("QUOTED", "pa\"ss\\word"),
            ("SHORT", "abc"),
        ]);
        assert_eq!(
            r.text("token s3cr3t-value here"),
            "token [redacted:API_TOKEN] here"
        );
        let json = serde_json::json!({"text": "x pa\"ss\\word y", "n": "abc"}).to_string();
        let out = r.text(&json);
        let v: serde_json::Value = serde_json::from_str(&out)?;
        assert_eq!(v["text"], "x [redacted:QUOTED] y");
        assert_eq!(v["n"], "abc", "values shorter than MIN_LEN are left alone");
        assert!(matches!(r.text("nothing"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(&*r.bytes(b"s3cr3t-values"), b"[redacted:API_TOKEN]s");
        assert!(Redactor::new([]).is_empty());
        Ok(())
    }

    #[test]
    fn credential_names() {
        assert!(secret_looking("GITHUB_TOKEN"));
        assert!(secret_looking("aws_secret_access_key"));
        assert!(!secret_looking("LOG_LEVEL"));
        assert!(!secret_looking("HOME"));
    }
}
