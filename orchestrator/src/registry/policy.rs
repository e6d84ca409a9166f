//! The tool-call policy: which calls run, which wait for a person (`ask`) or a model
//! (`judge`), and which never run (`deny`).
//!
//! A [`Policy`] is compiled from `[policy]` (config validates it and reports every issue with
//! its key path). For one tool it gives a [`Verdict`]: the first `[[policy.rules]]` entry that
//! matches the tool's exposed name (globs), its server and its annotations wins; with none,
//! the `autonomy` level decides from the annotations. A server's annotations are only its
//! claims: `[[policy.hints]]` overrides them per tool or server before any rule reads them.
//!
//! Pure data: nothing here asks anyone, runs anything or reads a file.

use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use rmcp::model::ToolAnnotations;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Runs.
    Allow,
    /// Never runs; the caller is told why.
    Deny,
    /// Runs once a person approves (elicitation to the client, else the approvals queue).
    Ask,
    /// Runs once a model approves (the client's model by sampling, else `[llm]`).
    Judge,
}

impl Action {
    /// The word used in config and audit lines.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Ask => "ask",
            Self::Judge => "judge",
        }
    }
}

/// `[policy] autonomy`: what happens to a call no rule matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Autonomy {
    /// Read-only tools run; every other call is denied.
    ReadOnly,
    /// Read-only tools run; every other call asks a person (the default).
    #[default]
    Ask,
    /// Everything runs.
    Full,
}

impl Autonomy {
    /// The word used in config and audit lines.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read-only",
            Self::Ask => "ask",
            Self::Full => "full",
        }
    }
}

/// A tool's behaviour hints (MCP `ToolAnnotations`), `None` where unstated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hints {
    /// The tool does not change its environment.
    #[serde(rename = "readOnlyHint", skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// A change it makes may destroy something (meaningful when not read-only).
    #[serde(rename = "destructiveHint", skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
    /// Calling it twice with the same arguments does nothing more.
    #[serde(rename = "idempotentHint", skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// It reaches outside entities (the web, other systems).
    #[serde(rename = "openWorldHint", skip_serializing_if = "Option::is_none")]
    pub open_world: Option<bool>,
}

impl Hints {
    /// A server's claims.
    #[must_use]
    pub fn of(annotations: Option<&ToolAnnotations>) -> Self {
        annotations.map_or_else(Self::default, |a| Self {
            read_only: a.read_only_hint,
            destructive: a.destructive_hint,
            idempotent: a.idempotent_hint,
            open_world: a.open_world_hint,
        })
    }

    /// `other`'s stated hints replace these.
    #[must_use]
    pub fn overridden_by(self, other: &Self) -> Self {
        Self {
            read_only: other.read_only.or(self.read_only),
            destructive: other.destructive.or(self.destructive),
            idempotent: other.idempotent.or(self.idempotent),
            open_world: other.open_world.or(self.open_world),
        }
    }

    /// The hints with MCP's defaults filled in: not read-only, destructive unless read-only,
    /// not idempotent, open-world.
    #[must_use]
    pub fn effective(&self) -> Effective {
        let read_only = self.read_only.unwrap_or(false);
        Effective {
            read_only,
            destructive: !read_only && self.destructive.unwrap_or(true),
            idempotent: self.idempotent.unwrap_or(false),
            open_world: self.open_world.unwrap_or(true),
        }
    }

    /// Whether every hint stated here has the same value in `tool`.
    fn matched_by(&self, tool: Effective) -> bool {
        self.read_only.is_none_or(|v| v == tool.read_only)
            && self.destructive.is_none_or(|v| v == tool.destructive)
            && self.idempotent.is_none_or(|v| v == tool.idempotent)
            && self.open_world.is_none_or(|v| v == tool.open_world)
    }
}

/// [`Hints`] with the defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// `readOnlyHint`
    #[serde(rename = "readOnlyHint")]
    pub read_only: bool,
    /// `destructiveHint`
    #[serde(rename = "destructiveHint")]
    pub destructive: bool,
    /// `idempotentHint`
    #[serde(rename = "idempotentHint")]
    pub idempotent: bool,
    /// `openWorldHint`
    #[serde(rename = "openWorldHint")]
    pub open_world: bool,
}

/// Which tools a rule or hint entry is about.
#[derive(Debug, Clone)]
pub struct Selector {
    /// Globs over exposed names (`server__tool`); empty: every tool.
    tools: GlobSet,
    /// The globs as written, for messages.
    tool_globs: Vec<String>,
    /// Server names; empty: every server.
    servers: Vec<String>,
}

impl Selector {
    /// A selector of `tools` globs and `servers`.
    ///
    /// # Errors
    /// The glob that does not parse, with why.
    pub fn new(tools: &[String], servers: &[String]) -> Result<Self, (usize, String)> {
        let mut set = GlobSetBuilder::new();
        for (i, glob) in tools.iter().enumerate() {
            set.add(Glob::new(glob).map_err(|e| (i, e.kind().to_string()))?);
        }
        let tools_set = set.build().map_err(|e| (0, e.to_string()))?;
        Ok(Self {
            tools: tools_set,
            tool_globs: tools.to_vec(),
            servers: servers.to_vec(),
        })
    }

    fn matches(&self, server: &str, exposed: &str) -> bool {
        (self.tool_globs.is_empty() || self.tools.is_match(exposed))
            && (self.servers.is_empty() || self.servers.iter().any(|s| s == server))
    }
}

/// One `[[policy.rules]]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Which tools.
    pub select: Selector,
    /// The annotations a tool must have (after hints) for the rule to apply.
    pub when: Hints,
    /// What happens.
    pub action: Action,
    /// Why, for the person asked, the model judging and the caller denied.
    pub reason: Option<String>,
}

/// One `[[policy.hints]]` entry: annotations that replace a server's claims.
#[derive(Debug, Clone)]
pub struct HintOverride {
    /// Which tools.
    pub select: Selector,
    /// The hints it states.
    pub hints: Hints,
}

/// Why a call got its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// `[[policy.rules]]` entry number `index` (0-based), with its reason.
    Rule {
        /// Its place in the file.
        index: usize,
        /// Its `reason`, if any.
        reason: Option<String>,
    },
    /// No rule matched: the autonomy level decided.
    Autonomy(Autonomy),
}

impl Why {
    /// Who decided, in a few words, for audit lines (`policy rule 2`, `autonomy ask`).
    #[must_use]
    pub fn short(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Rule { index, .. } => format!("policy rule {}", index + 1).into(),
            Self::Autonomy(a) => match a {
                Autonomy::ReadOnly => "autonomy read-only".into(),
                Autonomy::Ask => "autonomy ask".into(),
                Autonomy::Full => "autonomy full".into(),
            },
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rule {
                index,
                reason: Some(reason),
            } => write!(f, "policy rule {} ({reason})", index + 1),
            Self::Rule { index, reason: None } => write!(f, "policy rule {}", index + 1),
            Self::Autonomy(Autonomy::ReadOnly) => {
                f.write_str("autonomy `read-only` lets only read-only tools run")
            }
            Self::Autonomy(Autonomy::Ask) => f.write_str(
                "autonomy `ask` asks before any tool that is not read-only (`[policy] autonomy`, or a rule, changes that)",
            ),
            Self::Autonomy(Autonomy::Full) => f.write_str("autonomy `full`"),
        }
    }
}

/// The policy's answer for one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What happens.
    pub action: Action,
    /// Why.
    pub why: Why,
    /// The tool's annotations as the policy read them.
    pub hints: Effective,
}

/// `[policy]`, compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    /// What happens to calls no rule matches.
    pub autonomy: Autonomy,
    /// First match wins.
    pub rules: Vec<Rule>,
    /// Applied in order, later entries over earlier ones.
    pub hints: Vec<HintOverride>,
    /// Commands a client's `polyclaw__add_server` may run on the host (by name, e.g. `uvx`).
    pub host_commands: Vec<String>,
    /// How long a pending approval waits before it counts as denied.
    pub approval_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            autonomy: Autonomy::default(),
            rules: Vec::new(),
            hints: Vec::new(),
            host_commands: Vec::new(),
            approval_timeout: Duration::from_secs(300),
        }
    }
}

impl Policy {
    /// A policy that lets everything run (for polyclaw's own calls in tests and tools).
    #[must_use]
    pub fn allow_all() -> Self {
        Self {
            autonomy: Autonomy::Full,
            ..Self::default()
        }
    }

    /// The tool's hints after `[[policy.hints]]`.
    #[must_use]
    pub fn hints_for(&self, server: &str, exposed: &str, claimed: Hints) -> Hints {
        self.hints
            .iter()
            .filter(|h| h.select.matches(server, exposed))
            .fold(claimed, |acc, h| acc.overridden_by(&h.hints))
    }

    /// What happens to a call of `exposed` (a tool of `server` that claims `claimed`).
    #[must_use]
    pub fn decide(&self, server: &str, exposed: &str, claimed: Hints) -> Verdict {
        let hints = self.hints_for(server, exposed, claimed).effective();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.select.matches(server, exposed) && rule.when.matched_by(hints) {
                return Verdict {
                    action: rule.action,
                    why: Why::Rule {
                        index,
                        reason: rule.reason.clone(),
                    },
                    hints,
                };
            }
        }
        let action = match (self.autonomy, hints.read_only) {
            (Autonomy::Full, _) | (_, true) => Action::Allow,
            (Autonomy::Ask, false) => Action::Ask,
            (Autonomy::ReadOnly, false) => Action::Deny,
        };
        Verdict {
            action,
            why: Why::Autonomy(self.autonomy),
            hints,
        }
    }

    /// Whether a client may add a server that runs `command` on the host: only a command
    /// listed in `host_commands`, exactly as written there (`uvx` is found on the `PATH`;
    /// `/opt/bin/uvx` is another command).
    #[must_use]
    pub fn allows_host_command(&self, command: &str) -> bool {
        self.host_commands.iter().any(|allowed| allowed == command)
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, Autonomy, HintOverride, Hints, Policy, Rule, Selector, Why};

    fn select(tools: &[&str], servers: &[&str]) -> Selector {
        let tools: Vec<String> = tools.iter().map(|s| (*s).to_string()).collect();
        let servers: Vec<String> = servers.iter().map(|s| (*s).to_string()).collect();
        Selector::new(&tools, &servers).expect("globs")
    }

    const READ_ONLY: Hints = Hints {
        read_only: Some(true),
        destructive: None,
        idempotent: None,
        open_world: None,
    };

    #[test]
    fn autonomy_decides_from_the_annotations_when_no_rule_matches() {
        let mut p = Policy::default();
        assert_eq!(
            p.decide("git", "git__status", READ_ONLY).action,
            Action::Allow
        );
        let unknown = p.decide("git", "git__commit", Hints::default());
        assert_eq!(
            unknown.action,
            Action::Ask,
            "unannotated tools are not read-only"
        );
        assert!(unknown.hints.destructive, "MCP's default: destructive");
        assert_eq!(unknown.why, Why::Autonomy(Autonomy::Ask));
        p.autonomy = Autonomy::ReadOnly;
        assert_eq!(
            p.decide("git", "git__commit", Hints::default()).action,
            Action::Deny
        );
        p.autonomy = Autonomy::Full;
        assert_eq!(
            p.decide("git", "git__commit", Hints::default()).action,
            Action::Allow
        );
    }

    #[test]
    fn the_first_matching_rule_wins_and_reads_annotations_after_hints() {
        let p = Policy {
            rules: vec![
                Rule {
                    select: select(&["git__*"], &[]),
                    when: Hints {
                        destructive: Some(true),
                        ..Hints::default()
                    },
                    action: Action::Judge,
                    reason: Some("repository changes".into()),
                },
                Rule {
                    select: select(&[], &["git"]),
                    when: Hints::default(),
                    action: Action::Deny,
                    reason: None,
                },
                Rule {
                    select: select(&["*__*"], &[]),
                    when: Hints::default(),
                    action: Action::Allow,
                    reason: None,
                },
            ],
            hints: vec![HintOverride {
                select: select(&["git__log"], &["git"]),
                hints: Hints {
                    destructive: Some(false),
                    ..Hints::default()
                },
            }],
            ..Policy::default()
        };
        let commit = p.decide("git", "git__commit", Hints::default());
        assert_eq!(commit.action, Action::Judge);
        assert_eq!(commit.why.to_string(), "policy rule 1 (repository changes)");
        // Hints say git__log is not destructive: the first rule no longer applies.
        assert_eq!(
            p.decide("git", "git__log", Hints::default()).action,
            Action::Deny
        );
        // A server claiming read-only does not escape a rule that does not ask about it.
        assert_eq!(
            p.decide("git", "git__status", READ_ONLY).action,
            Action::Deny
        );
        assert_eq!(
            p.decide("time", "time__now", Hints::default()).action,
            Action::Allow
        );
        // Outside every rule: autonomy.
        assert_eq!(p.decide("x", "plain", Hints::default()).action, Action::Ask);
    }

    #[test]
    fn host_commands_match_exactly() {
        let p = Policy {
            host_commands: vec!["uvx".into(), "/usr/bin/python3".into()],
            ..Policy::default()
        };
        assert!(p.allows_host_command("uvx"));
        assert!(!p.allows_host_command("/tmp/bin/uvx"));
        assert!(p.allows_host_command("/usr/bin/python3"));
        assert!(!p.allows_host_command("sh"));
        assert!(!p.allows_host_command("python3-evil"));
    }

    #[test]
    fn a_bad_glob_is_named() {
        let err = Selector::new(&["ok".into(), "a[".into()], &[]).expect_err("bad glob");
        assert_eq!(err.0, 1);
    }
}
