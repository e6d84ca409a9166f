//! `polyclaw approvals` (the queue of calls waiting for a person) and `polyclaw audit` (the
//! trail of calls, decisions, approvals and registry changes).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::process::ExitCode;
use std::time::Duration;

use super::out;
use crate::config::Config;
use crate::error::Error;
use crate::hub::approvals::{Approvals, Status, now_ms};
use crate::hub::audit::{self, Entry};

/// `approvals [list] [--all] [--json]`: pending approvals (with `--all`, decided ones too).
///
/// # Errors
/// Never for an empty queue; the listing says so.
pub fn list(config: &Config, all: bool, json: bool) -> Result<ExitCode, Error> {
    let queue = Approvals::new(&config.plans.state_dir());
    let now = now_ms();
    let shown: Vec<_> = queue
        .list()
        .into_iter()
        .filter(|a| all || (a.status == Status::Pending && !a.expired(now)))
        .collect();
    if json {
        out(&serde_json::to_string_pretty(&shown).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        out(if all {
            "no approvals yet"
        } else {
            "nothing waits for approval (`polyclaw approvals list --all` shows decided ones)"
        });
        return Ok(ExitCode::SUCCESS);
    }
    for a in &shown {
        let state = if a.expired(now) {
            "expired".to_string()
        } else if a.status == Status::Pending {
            format!(
                "pending, {} s left",
                a.expires_ms.saturating_sub(now) / 1000
            )
        } else {
            format!(
                "{} by {}",
                a.status.as_str(),
                a.decided_by.as_deref().unwrap_or("?")
            )
        };
        out(&format!("{}  {}  ({state})", a.id, a.call.tool));
        out(&format!("    arguments: {}", a.call.arguments));
        out(&format!("    why: {}", a.call.why));
        if let Some(client) = &a.call.client {
            out(&format!("    asked by: {client}, {}", a.created));
        }
    }
    if shown
        .iter()
        .any(|a| a.status == Status::Pending && !a.expired(now))
    {
        out(
            "\napprove with `polyclaw approvals approve ID`, refuse with `polyclaw approvals deny ID`; the caller's next identical call takes the decision",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `approvals approve ID` / `approvals deny ID`.
///
/// # Errors
/// [`Error::UnknownApproval`], [`Error::ApprovalClosed`].
pub fn decide(config: &Config, id: &str, approve: bool) -> Result<ExitCode, Error> {
    let state = config.plans.state_dir();
    let queue = Approvals::new(&state);
    let a = queue.decide(id, approve, "polyclaw approvals")?;
    let audit = audit::Audit::new(&state, config.audit.clone());
    let mut entry = Entry::new("approval");
    entry.server = Some(a.call.server.clone());
    entry.tool = Some(a.call.tool.clone());
    entry.args_sha256 = Some(a.call.args_sha256.clone());
    entry.decision = Some(if approve { "approved" } else { "denied" }.into());
    entry.by = Some(format!("polyclaw approvals (approval {})", a.id));
    audit.record(&entry);
    out(&format!(
        "{} {} ({}): the caller's next call of it with the same arguments {}",
        if approve { "approved" } else { "denied" },
        a.id,
        a.call.tool,
        if approve { "runs, once" } else { "is refused" }
    ));
    Ok(ExitCode::SUCCESS)
}

/// What `polyclaw audit` shows.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Only this server.
    pub server: Option<String>,
    /// Only this tool (exposed name).
    pub tool: Option<String>,
}

impl AuditFilter {
    fn keeps(&self, e: &Entry) -> bool {
        self.server
            .as_ref()
            .is_none_or(|s| e.server.as_ref() == Some(s))
            && self
                .tool
                .as_ref()
                .is_none_or(|t| e.tool.as_ref() == Some(t))
    }
}

/// `audit [--follow] [--json] [--server S] [--tool T]`.
///
/// # Errors
/// [`Error::Io`] when a file cannot be read.
pub async fn show(
    config: &Config,
    filter: &AuditFilter,
    json: bool,
    follow: bool,
) -> Result<ExitCode, Error> {
    let state = config.plans.state_dir();
    let files = audit::files(&state);
    if files.is_empty() && !follow {
        out(&format!(
            "no audit trail yet in {} (it starts with the first tool call of `polyclaw serve`)",
            state.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let print = |line: &str| {
        let Ok(entry) = serde_json::from_str::<Entry>(line) else {
            return;
        };
        if !filter.keeps(&entry) {
            return;
        }
        if json {
            out(line);
        } else {
            out(&human(&entry));
        }
    };
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
            context: format!("cannot read {}", file.display()),
            source,
        })?;
        text.lines().for_each(print);
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let path = state.join(audit::FILE_NAME);
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() < offset {
            // Rotated: the new file starts from the beginning.
            offset = 0;
        }
        if meta.len() == offset {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        if file.seek(SeekFrom::Start(offset)).is_err() {
            continue;
        }
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if !line.ends_with('\n') {
                // A line being written: read it whole next time.
                break;
            }
            offset += line.len() as u64;
            print(line.trim_end());
            line.clear();
        }
    }
}

/// One entry as a line for a person.
fn human(e: &Entry) -> String {
    let mut parts = vec![e.time.clone(), format!("{:<8}", e.kind)];
    if let Some(tool) = &e.tool {
        parts.push(tool.clone());
    } else if let Some(server) = &e.server {
        parts.push(server.clone());
    }
    if let Some(d) = &e.decision {
        parts.push(d.clone());
    }
    if let Some(o) = &e.outcome {
        parts.push(format!("→ {o}"));
    }
    if let Some(ms) = e.ms {
        parts.push(format!("{ms:.1} ms"));
    }
    if let Some(by) = &e.by {
        parts.push(format!("by {by}"));
    }
    if let Some(client) = &e.client {
        parts.push(format!("client {client}"));
    }
    if let Some(detail) = &e.detail {
        parts.push(format!("— {detail}"));
    }
    parts.join("  ")
}
