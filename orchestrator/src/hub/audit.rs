//! The audit trail: one JSON line per tool call, policy decision, approval, registry change
//! and front-door authentication failure, in `<state folder>/audit.jsonl`.
//!
//! Each line is written whole with one `write` to a file opened for appending, before the
//! caller is answered, so a crash (even `kill -9`) loses no line of an answered call. When the
//! file passes `[audit] max_bytes` it is renamed `audit.1.jsonl` (older ones shift up to
//! `keep`) and a new one starts. Arguments are kept only as a SHA-256 digest unless `[audit]
//! arguments = true`; secrets are redacted before a line is written; tokens are never logged.
//!
//! Never here: deciding anything. The hub and the fronts report; this writes.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuditConfig;

/// The audit file's name in the state folder.
pub const FILE_NAME: &str = "audit.jsonl";

/// One line of the trail. Fields that do not apply are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339 UTC time, milliseconds.
    pub time: String,
    /// `call`, `approval`, `registry` or `auth`.
    pub kind: String,
    /// The client session (polyclaw's number for it), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// Which bearer token the request carried: the first 12 hex digits of its SHA-256, never
    /// the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The client's name as it introduced itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The tool, as exposed (`server__tool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// SHA-256 of the arguments' JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_sha256: Option<String>,
    /// The arguments themselves (only with `[audit] arguments = true`), secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// `allow`, `deny`, `ask`, `judge`, or for approvals `approved` / `denied` / `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Who or what decided: `policy rule 2`, `autonomy ask`, `person (elicitation)`, `model`,
    /// `polyclaw approvals`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// `ok`, `error`, `denied`, `pending`, `timeout`, `cancelled`, or what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// More about the outcome (an error's message, a reason), secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the call took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
}

impl Entry {
    /// An entry of `kind`, stamped now.
    #[must_use]
    pub fn new(kind: &str) -> Self {
        Self {
            time: now(),
            kind: kind.to_string(),
            ..Self::default()
        }
    }
}

/// The id of a bearer token in the audit trail (from an `Authorization` header's value).
#[must_use]
pub fn token_id(authorization: &str) -> Option<String> {
    let token = authorization.strip_prefix("Bearer ")?;
    Some(digest(token).chars().take(12).collect())
}

/// SHA-256 of `text`, hex.
#[must_use]
pub fn digest(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// The current UTC time as RFC 3339 with milliseconds.
#[must_use]
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The audit writer of one polyclaw process.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    config: AuditConfig,
    /// The open file and its size so far.
    file: Mutex<Option<(File, u64)>>,
}

impl Audit {
    /// A writer of `<state_dir>/audit.jsonl`; the file is opened (and the folder made) at the
    /// first line.
    #[must_use]
    pub fn new(state_dir: &Path, config: AuditConfig) -> Self {
        Self {
            path: state_dir.join(FILE_NAME),
            config,
            file: Mutex::new(None),
        }
    }

    /// Whether arguments are recorded as they are.
    #[must_use]
    pub fn keeps_arguments(&self) -> bool {
        self.config.arguments
    }

    /// The file written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line. A failure to write is logged, never returned: auditing must not
    /// stop the mesh (and a full disk is reported once per line attempt at `error`).
    pub fn record(&self, entry: &Entry) {
        if !self.config.enabled {
            return;
        }
        let mut line = match serde_json::to_vec(entry) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!("an audit line could not be written as JSON: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = self.append(&mut file, &line) {
            tracing::error!(path = %self.path.display(), "could not write the audit log: {e}");
            *file = None;
        }
    }

    fn append(&self, file: &mut Option<(File, u64)>, line: &[u8]) -> std::io::Result<()> {
        if file
            .as_ref()
            .is_some_and(|(_, size)| *size + line.len() as u64 > self.config.max_bytes)
        {
            *file = None;
            self.rotate()?;
        }
        if file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let size = f.metadata()?.len();
            *file = Some((f, size));
            if size + line.len() as u64 > self.config.max_bytes && size > 0 {
                *file = None;
                self.rotate()?;
                return self.append(file, line);
            }
        }
        if let Some((f, size)) = file.as_mut() {
            // One write of the whole line: appends are atomic per write on local files.
            f.write_all(line)?;
            *size += line.len() as u64;
        }
        Ok(())
    }

    /// `audit.jsonl` → `audit.1.jsonl` → … → `audit.<keep>.jsonl` (the oldest is dropped).
    fn rotate(&self) -> std::io::Result<()> {
        let keep = self.config.keep.max(1);
        let numbered = |n: u32| self.path.with_extension(format!("{n}.jsonl"));
        let _ = std::fs::remove_file(numbered(keep));
        for n in (1..keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        match std::fs::rename(&self.path, numbered(1)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Every audit file of `state_dir`, oldest first (rotated ones, then the current one).
#[must_use]
pub fn files(state_dir: &Path) -> Vec<PathBuf> {
    let current = state_dir.join(FILE_NAME);
    let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("audit.")?
                .strip_suffix(".jsonl")?
                .parse::<u32>()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut all: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if current.exists() {
        all.push(current);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::{Audit, Entry, files, now};
    use crate::config::AuditConfig;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let t = now();
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
        assert!(
            t.ends_with('Z') && t.len() == "2026-12-08T00:00:00.123Z".len(),
            "{t}"
        );
    }

    #[test]
    fn lines_append_and_rotate_by_size() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let audit = Audit::new(
            dir.path(),
            AuditConfig {
                max_bytes: 300,
                keep: 2,
                ..AuditConfig::default()
            },
        );
        for i in 0..12 {
            let mut e = Entry::new("call");
            e.tool = Some(format!("echo__echo{i}"));
            audit.record(&e);
        }
        let all = files(dir.path());
        assert_eq!(
            all.len(),
            3,
            "the current file and `keep` rotated ones: {all:?}"
        );
        let mut seen = Vec::new();
        for path in &all {
            let text = std::fs::read_to_string(path)?;
            assert!(text.len() <= 300, "{path:?} holds {} bytes", text.len());
            for line in text.lines() {
                let e: Entry = serde_json::from_str(line)?;
                seen.push(e.tool.unwrap_or_default());
            }
        }
        // The oldest lines went with the dropped file; the rest are in order.
        let last = seen.last().cloned().unwrap_or_default();
        assert_eq!(last, "echo__echo11");
        let numbers: Vec<u32> = seen
            .iter()
            .filter_map(|t| t.strip_prefix("echo__echo")?.parse().ok())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] + 1 == w[1]), "{numbers:?}");
        Ok(())
    }

    #[test]
    fn a_disabled_trail_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = Audit::new(
            dir.path(),
            AuditConfig {
                enabled: false,
                ..AuditConfig::default()
            },
        );
        audit.record(&Entry::new("call"));
        assert!(files(dir.path()).is_empty());
    }
}
