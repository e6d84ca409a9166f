//! Notes kept as one JSON file each, `DIR/KEY.json`, written atomically
//! (temporary file in the same directory, fsync, rename). Keys are checked
//! before they touch the file system: `[A-Za-z0-9_.-]`, 1 to 128
//! characters, not starting with `.` — so no `/`, no `..`, no hidden files.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest note text, in bytes.
pub const MAX_TEXT: usize = 1024 * 1024;
/// Most tags per note, and longest tag.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_LEN: usize = 64;
/// Most results of `search`, and how much of each text it shows.
pub const MAX_RESULTS: usize = 100;
pub const PREVIEW_CHARS: usize = 500;

/// A note as stored and as returned by `recall`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// The note's key.
    pub key: String,
    /// The text.
    pub text: String,
    /// Tags, in the order given.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the key was first remembered (RFC 3339 UTC).
    pub created: String,
    /// When it was last remembered (RFC 3339 UTC).
    pub updated: String,
}

/// A note in `list` and `search` results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Summary {
    /// The note's key.
    pub key: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// When it was last remembered (RFC 3339 UTC).
    pub updated: String,
    /// Its text, or the first 500 characters followed by "…" (search only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

/// The notes directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Serializes writers, so `created` survives concurrent updates.
    write: Mutex<()>,
}

/// Checks a key; the error says what is allowed.
pub fn check_key(key: &str) -> Result<(), String> {
    let valid = (1..=128).contains(&key.len())
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid key {key:?}: use 1 to 128 characters from A-Z a-z 0-9 _ . - \
             (not starting with '.'), e.g. \"project-deadline\""
        ))
    }
}

fn clean_tags(tags: Vec<String>) -> Result<Vec<String>, String> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().trim_start_matches('#').to_owned();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > MAX_TAG_LEN {
            return Err(format!(
                "tag {tag:?} is longer than {MAX_TAG_LEN} characters"
            ));
        }
        if !clean.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            clean.push(tag);
        }
    }
    if clean.len() > MAX_TAGS {
        return Err(format!("{} tags: at most {MAX_TAGS}", clean.len()));
    }
    Ok(clean)
}

impl Store {
    /// Opens `dir`, creating it if needed.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)
            .map_err(|err| anyhow::anyhow!("notes directory {}: {err}", dir.display()))?;
        if !dir.is_dir() {
            anyhow::bail!("notes directory {} is not a directory", dir.display());
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            write: Mutex::new(()),
        })
    }

    /// The notes directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn read(&self, key: &str) -> Result<Option<Note>, String> {
        match fs::read(self.path(key)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
                format!("note {key} is damaged ({err}): remember it again or forget it")
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(format!("note {key}: {err}")),
        }
    }

    /// `remember`: creates or replaces a note; returns it and whether it is new.
    pub fn remember(
        &self,
        key: &str,
        text: String,
        tags: Vec<String>,
    ) -> Result<(Note, bool), String> {
        check_key(key)?;
        if text.len() > MAX_TEXT {
            return Err(format!(
                "text is {} bytes, more than {MAX_TEXT}: split it over several keys",
                text.len()
            ));
        }
        let tags = clean_tags(tags)?;
        let _writing = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now();
        let previous = self.read(key).ok().flatten();
        let note = Note {
            key: key.to_owned(),
            text,
            tags,
            created: previous
                .as_ref()
                .map_or_else(|| now.clone(), |note| note.created.clone()),
            updated: now,
        };
        let json = serde_json::to_vec_pretty(&note).map_err(|err| format!("note {key}: {err}"))?;
        write_atomically(&self.dir, &self.path(key), &json)
            .map_err(|err| format!("cannot save note {key}: {err}"))?;
        Ok((note, previous.is_none()))
    }

    /// `recall`.
    pub fn recall(&self, key: &str) -> Result<Note, String> {
        check_key(key)?;
        self.read(key)?
            .ok_or_else(|| format!("no note {key:?}: use list or search to find keys"))
    }

    /// `forget`.
    pub fn forget(&self, key: &str) -> Result<(), String> {
        check_key(key)?;
        let _writing = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        match fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Err(format!("no note {key:?}: nothing to forget"))
            }
            Err(err) => Err(format!("cannot forget {key}: {err}")),
        }
    }

    /// All notes, sorted by key; damaged files are skipped (and reported on
    /// stderr).
    pub fn all(&self) -> Result<Vec<Note>, String> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|err| format!("notes directory {}: {err}", self.dir.display()))?;
        let mut notes = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if check_key(key).is_err() {
                continue;
            }
            match self.read(key) {
                Ok(Some(note)) => notes.push(note),
                Ok(None) => {}
                Err(message) => eprintln!("polyclaw-server-memory: {message}"),
            }
        }
        notes.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(notes)
    }

    /// `list`: every note's key, tags and update time.
    pub fn list(&self) -> Result<Vec<Summary>, String> {
        Ok(self
            .all()?
            .into_iter()
            .map(|note| summary(note, false))
            .collect())
    }

    /// `search`: notes whose key, text or a tag contains `query` (ignoring
    /// case); `#tag` matches that tag exactly. Most recent first.
    pub fn search(&self, query: &str) -> Result<(Vec<Summary>, bool), String> {
        let query = query.trim();
        if query.is_empty() {
            return Err("query is empty: give words to look for, or #tag".to_owned());
        }
        let needle = query.to_lowercase();
        let mut found: Vec<Note> = self
            .all()?
            .into_iter()
            .filter(|note| match needle.strip_prefix('#') {
                Some(tag) if !tag.is_empty() => note.tags.iter().any(|t| t.to_lowercase() == tag),
                _ => {
                    note.key.to_lowercase().contains(&needle)
                        || note.text.to_lowercase().contains(&needle)
                        || note.tags.iter().any(|t| t.to_lowercase().contains(&needle))
                }
            })
            .collect();
        found.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.key.cmp(&b.key)));
        let truncated = found.len() > MAX_RESULTS;
        found.truncate(MAX_RESULTS);
        Ok((
            found.into_iter().map(|note| summary(note, true)).collect(),
            truncated,
        ))
    }
}

fn summary(note: Note, preview: bool) -> Summary {
    let preview = preview.then(|| {
        let mut chars = note.text.chars();
        let mut text: String = chars.by_ref().take(PREVIEW_CHARS).collect();
        if chars.next().is_some() {
            text.push('…');
        }
        text
    });
    Summary {
        key: note.key,
        tags: note.tags,
        updated: note.updated,
        preview,
    }
}

/// Writes `bytes` to `target` through a temporary file in `dir` and a rename.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create_new(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Now as RFC 3339 UTC with seconds.
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// A time as RFC 3339 UTC with seconds, e.g. `2026-11-23T10:00:00Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_cannot_play_path_tricks() {
        for key in ["a", "project-deadline", "v1.2_notes", &"k".repeat(128)] {
            assert!(check_key(key).is_ok(), "{key}");
        }
        for key in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            ".hidden",
            "a\\b",
            "a b",
            "é",
            "a\0b",
            &"k".repeat(129),
        ] {
            assert!(check_key(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn remembers_atomically_and_keeps_created() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&dir.path().join("notes"))?;
        let (first, new) = store
            .remember(
                "k",
                "one".into(),
                vec![" #Work ".into(), "work".into(), "".into()],
            )
            .map_err(anyhow::Error::msg)?;
        assert!(new);
        assert_eq!(first.tags, ["Work"]);
        let (second, new) = store
            .remember("k", "two".into(), vec![])
            .map_err(anyhow::Error::msg)?;
        assert!(!new);
        assert_eq!(second.created, first.created);
        assert_eq!(store.recall("k").map_err(anyhow::Error::msg)?.text, "two");
        let files: Vec<String> = fs::read_dir(store.dir())?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["k.json"], "no temporary files left");
        Ok(())
    }

    #[test]
    fn skips_foreign_and_damaged_files() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open(dir.path())?;
        store
            .remember("good", "g".into(), vec![])
            .map_err(anyhow::Error::msg)?;
        fs::write(dir.path().join("bad.json"), "{not json")?;
        fs::write(dir.path().join("readme.txt"), "x")?;
        fs::write(dir.path().join(".good.json.tmp-1-1"), "x")?;
        let keys: Vec<String> = store
            .list()
            .map_err(anyhow::Error::msg)?
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(keys, ["good"]);
        assert!(store.recall("bad").is_err_and(|e| e.contains("damaged")));
        Ok(())
    }

    #[test]
    fn rfc3339_formats_utc() {
        let at = |secs| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_424_645), "2026-11-23T09:04:05Z");
    }
}
