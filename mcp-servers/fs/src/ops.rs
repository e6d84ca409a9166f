//! The file operations behind the tools and resources, synchronous (the
//! server runs them on the blocking pool). Each returns its output type,
//! which is also the tool's `structuredContent` and output schema, or an
//! error message meant for the caller.

use std::{
    collections::VecDeque,
    fs,
    io::{self, Read, Write},
    os::unix::{ffi::OsStrExt, fs::PermissionsExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

use schemars::JsonSchema;
use serde::Serialize;

use crate::{glob::Pattern, root::Root};

/// Default and largest `max_bytes` of `read_file`.
pub const DEFAULT_READ: u64 = 1024 * 1024;
pub const MAX_READ: u64 = 16 * 1024 * 1024;
/// Most entries `list_dir` returns.
pub const MAX_ENTRIES: usize = 10_000;
/// Most matches `search` returns, and most entries it looks at.
pub const MAX_MATCHES: usize = 1000;
pub const MAX_VISITED: usize = 200_000;
/// Most files `resources/list` lists.
pub const MAX_RESOURCES: usize = 1000;
/// Largest file `resources/read` returns.
pub const MAX_RESOURCE_BYTES: u64 = 8 * 1024 * 1024;

/// What an entry is (symlinks are not followed when listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl Kind {
    fn of(file_type: fs::FileType) -> Self {
        if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_dir() {
            Self::Dir
        } else if file_type.is_file() {
            Self::File
        } else {
            Self::Other
        }
    }
}

/// One directory entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Entry {
    /// File name.
    pub name: String,
    /// file, dir, symlink or other.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Size in bytes (of the link itself for symlinks).
    pub size: u64,
}

/// Output of `list_dir`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Listing {
    /// The directory, relative to the root.
    pub path: String,
    /// Entries sorted by name.
    pub entries: Vec<Entry>,
    /// Whether entries were left out (more than 10000).
    pub truncated: bool,
}

/// Output of `read_file`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FileContent {
    /// The file, relative to the root.
    pub path: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// Whether only the first `max_bytes` were read.
    pub truncated: bool,
    /// "utf-8" (text) or "base64" (binary data).
    pub encoding: String,
    /// The content read.
    pub content: String,
}

/// Output of `write_file`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Written {
    /// The file, relative to the root.
    pub path: String,
    /// Bytes written.
    pub bytes: u64,
    /// Whether the file did not exist before.
    pub created: bool,
}

/// Output of `stat`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Stat {
    /// The path, relative to the root (symlinks resolved).
    pub path: String,
    /// file, dir or other.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, RFC 3339 UTC (absent if unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Permission bits in octal, e.g. "644".
    pub mode: String,
    /// Whether the owner cannot write it.
    pub readonly: bool,
}

/// One match of `search`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Match {
    /// The path, relative to the root.
    pub path: String,
    /// file, dir, symlink or other.
    #[serde(rename = "type")]
    pub kind: Kind,
}

/// Output of `search`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Matches {
    /// Matching paths in walk order (breadth-first, sorted by name).
    pub matches: Vec<Match>,
    /// Whether the search stopped early (1000 matches or 200000 entries).
    pub truncated: bool,
}

fn io_error(root: &Root, real: &Path, err: &io::Error) -> String {
    let path = root.relative(real);
    match err.kind() {
        io::ErrorKind::NotFound => format!("{path} does not exist"),
        io::ErrorKind::PermissionDenied => format!("{path}: permission denied"),
        _ => format!("{path}: {err}"),
    }
}

/// `list_dir`.
pub fn list_dir(root: &Root, path: &str) -> Result<Listing, String> {
    let real = root.resolve(path)?;
    let metadata = fs::metadata(&real).map_err(|err| io_error(root, &real, &err))?;
    if !metadata.is_dir() {
        return Err(format!(
            "{} is not a directory: use read_file or stat",
            root.relative(&real)
        ));
    }
    let (mut entries, truncated) =
        read_entries(&real, MAX_ENTRIES).map_err(|err| io_error(root, &real, &err))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing {
        path: root.relative(&real),
        entries,
        truncated,
    })
}

fn read_entries(dir: &Path, limit: usize) -> io::Result<(Vec<Entry>, bool)> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        if entries.len() == limit {
            return Ok((entries, true));
        }
        let entry = entry?;
        let Ok(metadata) = entry.metadata() else {
            continue; // removed meanwhile
        };
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind: Kind::of(metadata.file_type()),
            size: metadata.len(),
        });
    }
    Ok((entries, false))
}

/// `read_file`: the first `max_bytes` (default 1 MiB, at most 16 MiB), as
/// text when it is UTF-8, else as base64.
pub fn read_file(root: &Root, path: &str, max_bytes: Option<u64>) -> Result<FileContent, String> {
    let real = root.resolve(path)?;
    let rel = root.relative(&real);
    let metadata = fs::metadata(&real).map_err(|err| io_error(root, &real, &err))?;
    if metadata.is_dir() {
        return Err(format!("{rel} is a directory: use list_dir"));
    }
    let limit = max_bytes.unwrap_or(DEFAULT_READ).min(MAX_READ);
    let mut bytes = Vec::new();
    fs::File::open(&real)
        .and_then(|file| file.take(limit).read_to_end(&mut bytes))
        .map_err(|err| io_error(root, &real, &err))?;
    let size = metadata.len().max(bytes.len() as u64);
    let truncated = (bytes.len() as u64) < size;
    let (encoding, content) = encode(bytes, truncated);
    Ok(FileContent {
        path: rel,
        size,
        truncated,
        encoding: encoding.to_owned(),
        content,
    })
}

/// Text if `bytes` is UTF-8 (allowing a character cut at the end when
/// `truncated`), else base64.
pub fn encode(bytes: Vec<u8>, truncated: bool) -> (&'static str, String) {
    match String::from_utf8(bytes) {
        Ok(text) => ("utf-8", text),
        Err(err) => {
            let utf8 = err.utf8_error();
            let mut bytes = err.into_bytes();
            if truncated && utf8.error_len().is_none() {
                bytes.truncate(utf8.valid_up_to());
                if let Ok(text) = String::from_utf8(bytes.clone()) {
                    return ("utf-8", text);
                }
            }
            ("base64", base64(&bytes))
        }
    }
}

/// `write_file`: creates missing parent directories, then replaces the file
/// atomically (temporary file in the same directory, then rename), keeping
/// the permissions of the file it replaces.
pub fn write_file(root: &Root, path: &str, content: &str) -> Result<Written, String> {
    let real = root.resolve(path)?;
    let rel = root.relative(&real);
    let previous = match fs::metadata(&real) {
        Ok(metadata) if metadata.is_dir() => {
            return Err(format!("{rel} is a directory: give a file path"));
        }
        Ok(metadata) => Some(metadata.permissions()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(io_error(root, &real, &err)),
    };
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(format!("{path}: not a file path"));
    };
    fs::create_dir_all(parent).map_err(|err| io_error(root, parent, &err))?;
    let tmp = temporary(parent, name.as_bytes());
    let written = (|| {
        let mut file = fs::File::create_new(&tmp)?;
        file.write_all(content.as_bytes())?;
        if let Some(permissions) = &previous {
            file.set_permissions(permissions.clone())?;
        }
        file.sync_all()?;
        fs::rename(&tmp, &real)
    })();
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(root, &real, &err));
    }
    Ok(Written {
        path: rel,
        bytes: content.len() as u64,
        created: previous.is_none(),
    })
}

/// A fresh temporary name next to the target: `.NAME.tmp-PID-N`.
fn temporary(dir: &Path, name: &[u8]) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = String::from_utf8_lossy(name);
    dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// `stat` (of the symlink target, if the path is a symlink).
pub fn stat(root: &Root, path: &str) -> Result<Stat, String> {
    let real = root.resolve(path)?;
    let metadata = fs::metadata(&real).map_err(|err| io_error(root, &real, &err))?;
    Ok(Stat {
        path: root.relative(&real),
        kind: Kind::of(metadata.file_type()),
        size: metadata.len(),
        modified: metadata.modified().ok().and_then(rfc3339),
        mode: format!("{:o}", metadata.permissions().mode() & 0o7777),
        readonly: metadata.permissions().mode() & 0o200 == 0,
    })
}

/// `search`: entries under `path` whose name (or path) matches `pattern`,
/// breadth-first, not following symlinks.
pub fn search(root: &Root, pattern: &str, path: &str) -> Result<Matches, String> {
    let pattern = Pattern::new(pattern)?;
    let base = root.resolve(path)?;
    if !fs::metadata(&base)
        .map_err(|err| io_error(root, &base, &err))?
        .is_dir()
    {
        return Err(format!("{} is not a directory", root.relative(&base)));
    }
    let mut matches = Vec::new();
    let mut truncated = false;
    walk(&base, MAX_VISITED, |real, kind| {
        let rel = real.strip_prefix(&base).unwrap_or(real).to_string_lossy();
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if pattern.matches(&rel, &name) {
            if matches.len() == MAX_MATCHES {
                truncated = true;
                return false;
            }
            matches.push(Match {
                path: root.relative(real),
                kind,
            });
        }
        true
    })
    .map(|complete| Matches {
        matches,
        truncated: truncated || !complete,
    })
}

/// Visits entries under `dir` breadth-first, each directory's entries sorted
/// by name, without following symlinks; `visit` returns false to stop.
/// Returns false if it stopped early (by `visit` or after `limit` entries).
/// Unreadable subdirectories are skipped.
pub fn walk(
    dir: &Path,
    limit: usize,
    mut visit: impl FnMut(&Path, Kind) -> bool,
) -> Result<bool, String> {
    let mut queue = VecDeque::from([dir.to_path_buf()]);
    let mut seen = 0usize;
    while let Some(dir) = queue.pop_front() {
        let Ok(read) = fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<(PathBuf, Kind)> = read
            .filter_map(Result::ok)
            .filter_map(|entry| Some((entry.path(), Kind::of(entry.file_type().ok()?))))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, kind) in entries {
            seen += 1;
            if seen > limit || !visit(&path, kind) {
                return Ok(false);
            }
            if kind == Kind::Dir {
                queue.push_back(path);
            }
        }
    }
    Ok(true)
}

/// Regular files under the root for `resources/list`: (path relative to
/// the root, size), breadth-first, at most [`MAX_RESOURCES`].
pub fn resource_files(root: &Root) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    let _ = walk(root.dir(), MAX_VISITED, |real, kind| {
        if kind == Kind::File
            && let Some(rel) = real.strip_prefix(root.dir()).ok().and_then(Path::to_str)
        {
            let size = fs::symlink_metadata(real).map(|m| m.len()).unwrap_or(0);
            files.push((rel.to_owned(), size));
        }
        files.len() < MAX_RESOURCES
    });
    files
}

/// Reads a file for `resources/read`: (path relative to the root, bytes).
pub fn resource_bytes(root: &Root, path: &str) -> Result<(String, Vec<u8>), String> {
    let real = root.resolve(path)?;
    let rel = root.relative(&real);
    let metadata = fs::metadata(&real).map_err(|err| io_error(root, &real, &err))?;
    if !metadata.is_file() {
        return Err(format!("{rel} is not a file"));
    }
    if metadata.len() > MAX_RESOURCE_BYTES {
        return Err(format!(
            "{rel} is {} bytes, more than the {MAX_RESOURCE_BYTES} a resource may have: use read_file with max_bytes",
            metadata.len()
        ));
    }
    let bytes = fs::read(&real).map_err(|err| io_error(root, &real, &err))?;
    Ok((rel, bytes))
}

/// A MIME type guessed from the file extension.
pub fn mime_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "log" | "rs" | "py" | "sh" | "c" | "h" | "go" | "toml" | "ini" | "cfg" => {
            "text/plain"
        }
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "js" => "text/javascript",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A time as RFC 3339 UTC with seconds, e.g. `2026-11-23T10:00:00Z`.
pub fn rfc3339(time: SystemTime) -> Option<String> {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let days = i64::try_from(secs / 86_400).ok()?;
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
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn rfc3339_formats_utc() {
        let at = |secs| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(at(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(at(1_795_424_645).as_deref(), Some("2026-11-23T09:04:05Z"));
    }

    #[test]
    fn encode_keeps_text_cut_mid_character() {
        assert_eq!(encode("héllo".into(), false), ("utf-8", "héllo".into()));
        // "hé" cut inside the é.
        assert_eq!(encode(vec![b'h', 0xC3], true), ("utf-8", "h".into()));
        assert_eq!(encode(vec![b'h', 0xC3], false).0, "base64");
        assert_eq!(encode(vec![0xFF, 0, 1], true), ("base64", "/wAB".into()));
    }

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(mime_type("a/b.MD"), "text/markdown");
        assert_eq!(mime_type("x.json"), "application/json");
        assert_eq!(mime_type("noext"), "application/octet-stream");
    }
}
