//! The approvals queue: calls that need a person's approval when the calling client cannot
//! ask one (it offers no elicitation). Each is a JSON file in `<state folder>/approvals/`, so
//! `polyclaw approvals` (another process) and the dashboard see and decide the same queue.
//!
//! A call that needs approval opens a pending entry (or finds the one already open for the same
//! tool and arguments) and fails with its id; a person approves or denies it; the caller's
//! next call of the same tool with the same arguments takes the decision — once. A pending
//! entry that nobody decides before it expires counts as denied.
//!
//! Never here: asking anyone. This only keeps the queue.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a person.
    Pending,
    /// Approved; the next matching call runs.
    Approved,
    /// Denied; the next matching call is refused.
    Denied,
    /// Its decision was taken by a call.
    Used,
}

impl Status {
    /// The word shown in listings.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
        }
    }
}

/// One entry of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Short id for `polyclaw approvals approve ID`.
    pub id: String,
    /// When it was opened (RFC 3339).
    pub created: String,
    /// When it expires, in milliseconds since the epoch.
    pub expires_ms: u64,
    /// The call it is for.
    #[serde(flatten)]
    pub call: Request,
    /// Where it stands.
    pub status: Status,
    /// Who decided (`polyclaw approvals`, `dashboard`, `expired`).
    #[serde(default)]
    pub decided_by: Option<String>,
}

impl Approval {
    /// Whether it is pending past its expiry (then it counts as denied).
    #[must_use]
    pub fn expired(&self, now_ms: u64) -> bool {
        self.status == Status::Pending && now_ms >= self.expires_ms
    }
}

/// What an approval is for: one call (or a plan's steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The server.
    pub server: String,
    /// The tool as exposed (`server__tool`), or `plan` for a plan's steps.
    pub tool: String,
    /// SHA-256 of the arguments' JSON text: the call it is for.
    pub args_sha256: String,
    /// The arguments (secrets redacted, cut to a few KiB), for the person deciding.
    pub arguments: String,
    /// Why it was stopped.
    pub why: String,
    /// The tool's annotations as the policy read them.
    pub hints: serde_json::Value,
    /// The client that asked, as it introduced itself.
    #[serde(default)]
    pub client: Option<String>,
}

/// What the queue says about a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A person approved it: it runs (the approval is used up).
    Approved(Approval),
    /// A person denied it, or nobody decided in time (the decision is used up).
    Denied(Approval),
    /// It waits for a person.
    Pending(Approval),
}

/// The queue in one state folder.
#[derive(Debug, Clone)]
pub struct Approvals {
    dir: PathBuf,
}

/// Milliseconds since the epoch.
#[must_use]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Approvals {
    /// The queue of `state_dir`.
    #[must_use]
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("approvals"),
        }
    }

    /// The folder of the queue.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn io(&self, what: &str, source: std::io::Error) -> Error {
        Error::Io {
            context: format!("cannot {what} in {}", self.dir.display()),
            source,
        }
    }

    fn write(&self, approval: &Approval) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io("make the approvals folder", e))?;
        let text = serde_json::to_vec_pretty(approval).map_err(|e| Error::Io {
            context: "cannot write an approval as JSON".into(),
            source: std::io::Error::other(e),
        })?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|e| self.io("write an approval", e))?;
        std::io::Write::write_all(&mut file, &text).map_err(|e| self.io("write an approval", e))?;
        file.persist(self.path(&approval.id))
            .map_err(|e| self.io("write an approval", e.error))?;
        Ok(())
    }

    /// Every entry, newest first. Unreadable files are skipped (and logged).
    #[must_use]
    pub fn list(&self) -> Vec<Approval> {
        let mut all: Vec<Approval> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let text = std::fs::read(e.path()).ok()?;
                match serde_json::from_slice(&text) {
                    Ok(a) => Some(a),
                    Err(err) => {
                        tracing::warn!(file = %e.path().display(), "not an approval: {err}");
                        None
                    }
                }
            })
            .collect();
        all.sort_by(|a, b| b.created.cmp(&a.created));
        all
    }

    /// One entry by id.
    ///
    /// # Errors
    /// [`Error::UnknownApproval`] when there is none.
    pub fn get(&self, id: &str) -> Result<Approval, Error> {
        let text =
            std::fs::read(self.path(id)).map_err(|_| Error::UnknownApproval(id.to_string()))?;
        serde_json::from_slice(&text).map_err(|_| Error::UnknownApproval(id.to_string()))
    }

    /// Approves or denies a pending entry.
    ///
    /// # Errors
    /// [`Error::UnknownApproval`], or [`Error::ApprovalClosed`] when it is not pending (decided
    /// already, used, or expired).
    pub fn decide(&self, id: &str, approve: bool, by: &str) -> Result<Approval, Error> {
        let mut approval = self.get(id)?;
        if approval.status != Status::Pending || approval.expired(now_ms()) {
            let state = if approval.expired(now_ms()) {
                "expired"
            } else {
                approval.status.as_str()
            };
            return Err(Error::ApprovalClosed {
                id: id.to_string(),
                state: state.to_string(),
            });
        }
        approval.status = if approve {
            Status::Approved
        } else {
            Status::Denied
        };
        approval.decided_by = Some(by.to_string());
        self.write(&approval)?;
        Ok(approval)
    }

    /// What the queue says about a call of `request.tool` with these arguments: a decision
    /// (used up by this call), the entry still pending, or a new pending entry that expires
    /// after `timeout`.
    ///
    /// # Errors
    /// [`Error::Io`] when the queue cannot be written.
    pub fn check(&self, request: &Request, timeout: std::time::Duration) -> Result<Answer, Error> {
        let now = now_ms();
        let same =
            |a: &Approval| a.call.tool == request.tool && a.call.args_sha256 == request.args_sha256;
        for mut approval in self.list().into_iter().filter(same) {
            let answer = match approval.status {
                Status::Used => continue,
                Status::Pending if approval.expired(now) => {
                    approval.decided_by = Some("expired".into());
                    Answer::Denied
                }
                Status::Pending => return Ok(Answer::Pending(approval)),
                Status::Approved => Answer::Approved,
                Status::Denied => Answer::Denied,
            };
            approval.status = Status::Used;
            self.write(&approval)?;
            return Ok(answer(approval));
        }
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let approval = Approval {
            id: fresh_id(&format!("{}:{}", request.tool, request.args_sha256))
                .chars()
                .take(8)
                .collect(),
            created: crate::hub::audit::now(),
            expires_ms: now.saturating_add(millis),
            call: request.clone(),
            status: Status::Pending,
            decided_by: None,
        };
        self.write(&approval)?;
        Ok(Answer::Pending(approval))
    }
}

/// A fresh id (64 hex digits) from `seed`, this process, the time and a counter: unique
/// enough for queues and questions a person or a client echoes back.
#[must_use]
pub fn fresh_id(seed: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    crate::hub::audit::digest(&format!("{}:{seed}:{nanos}:{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Answer, Approvals, Request, Status};
    use crate::error::Error;

    fn request(args: &str) -> Request {
        Request {
            server: "git".into(),
            tool: "git__commit".into(),
            args_sha256: crate::hub::audit::digest(args),
            arguments: args.into(),
            why: "autonomy ask".into(),
            hints: serde_json::json!({"readOnlyHint": false}),
            client: Some("test".into()),
        }
    }

    #[test]
    fn a_pending_call_runs_once_after_approval() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let q = Approvals::new(dir.path());
        let Answer::Pending(first) = q.check(&request("{}"), Duration::from_secs(60))? else {
            anyhow::bail!("a new call waits");
        };
        // The same call again finds the same entry; other arguments get their own.
        let Answer::Pending(again) = q.check(&request("{}"), Duration::from_secs(60))? else {
            anyhow::bail!("still waiting");
        };
        assert_eq!(again.id, first.id);
        let Answer::Pending(other) = q.check(&request("{\"a\":1}"), Duration::from_secs(60))?
        else {
            anyhow::bail!("other arguments wait too");
        };
        assert_ne!(other.id, first.id);
        assert_eq!(q.list().len(), 2);
        q.decide(&first.id, true, "polyclaw approvals")?;
        assert!(matches!(
            q.decide(&first.id, false, "polyclaw approvals"),
            Err(Error::ApprovalClosed { .. })
        ));
        assert!(matches!(
            q.check(&request("{}"), Duration::from_secs(60))?,
            Answer::Approved(a) if a.id == first.id
        ));
        // Used up: the next identical call asks again.
        assert!(matches!(
            q.check(&request("{}"), Duration::from_secs(60))?,
            Answer::Pending(a) if a.id != first.id
        ));
        q.decide(&other.id, false, "polyclaw approvals")?;
        assert!(matches!(
            q.check(&request("{\"a\":1}"), Duration::from_secs(60))?,
            Answer::Denied(a) if a.status == Status::Used
        ));
        assert!(matches!(q.get("nope"), Err(Error::UnknownApproval(_))));
        Ok(())
    }

    #[test]
    fn an_undecided_approval_expires_to_deny() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let q = Approvals::new(dir.path());
        let Answer::Pending(a) = q.check(&request("{}"), Duration::ZERO)? else {
            anyhow::bail!("waits");
        };
        assert!(matches!(
            q.decide(&a.id, true, "late"),
            Err(Error::ApprovalClosed { state, .. }) if state == "expired"
        ));
        assert!(matches!(
            q.check(&request("{}"), Duration::ZERO)?,
            Answer::Denied(d) if d.decided_by.as_deref() == Some("expired")
        ));
        Ok(())
    }
}
