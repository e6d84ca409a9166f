//! Plan runs kept on disk, so `polyclaw runs list|show` can look at them after the fact.
//! One JSON file per run under `<state dir>/runs/`. Writes go through a temporary file and a
//! rename, so a crash never leaves half a record.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// One run, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id: `YYYYMMDD-HHMMSS-NNNN` (sortable).
    pub id: String,
    /// Unix seconds at start.
    pub started_at: u64,
    /// The goal, if the plan came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The plan that ran (after replans: the last one).
    pub plan: Value,
    /// The run report.
    pub report: Value,
}

impl RunRecord {
    /// A record of a run that ends now, under a new id.
    #[must_use]
    pub fn new(goal: Option<String>, outcome: &super::executor::RunOutcome) -> Self {
        Self {
            id: new_run_id(),
            started_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            goal,
            plan: serde_json::to_value(&outcome.plan).unwrap_or_default(),
            report: serde_json::to_value(&outcome.report).unwrap_or_default(),
        }
    }
}

/// A new, unique, sortable run id.
#[must_use]
pub fn new_run_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d, hh, mm, ss) = civil(secs);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10_000;
    let salt = now.subsec_micros() % 100;
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}-{salt:02}{n:02}")
}

/// Unix seconds → (year, month, day, hour, minute, second), UTC.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (
        if m <= 2 { y + 1 } else { y },
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    )
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Saves a run record.
///
/// # Errors
/// [`Error::Io`] naming the folder.
pub fn save(dir: &Path, record: &RunRecord) -> Result<PathBuf, Error> {
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).map_err(io(format!(
        "cannot create {}; set `plans.state_dir` to a writable folder",
        runs.display()
    )))?;
    let path = runs.join(format!("{}.json", record.id));
    let tmp = runs.join(format!(".{}.json.tmp", record.id));
    let text = serde_json::to_string_pretty(record).unwrap_or_default();
    std::fs::write(&tmp, text).map_err(io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("cannot write {}", path.display())))?;
    Ok(path)
}

/// Every kept run, newest first. Unreadable files are skipped with a warning.
///
/// # Errors
/// [`Error::Io`] when the folder exists but cannot be read.
pub fn list(dir: &Path) -> Result<Vec<RunRecord>, Error> {
    let runs = dir.join("runs");
    let entries = match std::fs::read_dir(&runs) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("cannot read {}", runs.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<RunRecord>(&t).ok())
            {
                Some(r) => out.push(r),
                None => tracing::warn!(path = %path.display(), "skipping an unreadable run record"),
            }
        }
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(out)
}

/// One run by id (a unique prefix is enough).
///
/// # Errors
/// [`Error::InvalidInput`] when no run (or more than one) matches.
pub fn find(dir: &Path, id: &str) -> Result<RunRecord, Error> {
    let mut matches: Vec<RunRecord> = list(dir)?
        .into_iter()
        .filter(|r| r.id.starts_with(id))
        .collect();
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(Error::InvalidInput(format!(
            "no run `{id}` in {}; `polyclaw runs list` shows the kept runs",
            dir.display()
        ))),
        n => Err(Error::InvalidInput(format!(
            "`{id}` matches {n} runs; give more of the id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_795_000_000), (2026, 11, 18, 11, 6, 40));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn save_list_find() {
        let dir = tempfile::tempdir().unwrap();
        for goal in ["a", "b"] {
            let record = RunRecord {
                id: new_run_id(),
                started_at: 1,
                goal: Some(goal.into()),
                plan: serde_json::json!({"steps": []}),
                report: serde_json::json!({"status": "succeeded"}),
            };
            save(dir.path(), &record).unwrap();
        }
        let all = list(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        let first = &all[0].id;
        assert_eq!(&find(dir.path(), first).unwrap().id, first);
        assert!(find(dir.path(), "nope").is_err());
        assert!(list(&dir.path().join("missing")).unwrap().is_empty());
    }
}
