//! `[policy]` and `[audit]`: their on-disk shape and how `[policy]` compiles into a
//! [`Policy`], with every problem reported at its key path.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigIssue;
use crate::registry::policy::{Action, Autonomy, HintOverride, Hints, Policy, Rule, Selector};

/// `[policy]`: which tool calls run, which ask a person or a model first, which never run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicy {
    /// What happens to calls no rule matches: `read-only` (only read-only tools run), `ask`
    /// (the default: anything not read-only asks a person first) or `full` (everything runs).
    pub autonomy: Autonomy,
    /// Seconds a pending approval waits for a person before it counts as denied (default 300).
    pub approval_timeout: f64,
    /// Commands a client's `polyclaw__add_server` may run on the host, exactly as written there
    /// (e.g. `uvx`, `npx`). Anything else a client adds must be an `image` or a `url`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_commands: Vec<String>,
    /// Rules, first match wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RawRule>,
    /// Annotations that replace what servers claim about their tools, before rules read them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<RawHints>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        Self {
            autonomy: Autonomy::default(),
            approval_timeout: 300.0,
            host_commands: Vec::new(),
            rules: Vec::new(),
            hints: Vec::new(),
        }
    }
}

impl RawPolicy {
    /// Whether nothing was set.
    #[must_use]
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// One `[[policy.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Globs over exposed tool names (`git__*`, `*__delete_*`, `polyclaw__add_server`); none:
    /// every tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Server names; none: every server (`polyclaw` for polyclaw's own tools).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// Annotations the tool must have (after `[[policy.hints]]`), e.g.
    /// `{ destructiveHint = true }`; unset ones match anything.
    #[serde(default)]
    pub when: Hints,
    /// `allow`, `deny`, `ask` (a person approves) or `judge` (a model approves).
    pub action: Action,
    /// Why, shown to whoever approves and to a caller that is denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One `[[policy.hints]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHints {
    /// Globs over exposed tool names; none: every tool of `servers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Server names; none: every server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// The tool does not change its environment.
    #[serde(
        rename = "readOnlyHint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub read_only: Option<bool>,
    /// A change it makes may destroy something.
    #[serde(
        rename = "destructiveHint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub destructive: Option<bool>,
    /// Calling it twice with the same arguments does nothing more.
    #[serde(
        rename = "idempotentHint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotent: Option<bool>,
    /// It reaches outside entities.
    #[serde(
        rename = "openWorldHint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub open_world: Option<bool>,
}

/// `[audit]`: the trail of tool calls, decisions, approvals and registry changes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Write the trail (`<state folder>/audit.jsonl`); default true.
    pub enabled: bool,
    /// Record each call's arguments (secrets redacted); default false: only their SHA-256.
    pub arguments: bool,
    /// Size at which the file is rotated, in bytes (default 10 MiB).
    pub max_bytes: u64,
    /// Rotated files kept (default 5).
    pub keep: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            arguments: false,
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

impl AuditConfig {
    /// Whether nothing was set.
    #[must_use]
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the numbers.
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if self.max_bytes < 4096 {
            issues.push(ConfigIssue {
                path: "audit.max_bytes".into(),
                message: format!(
                    "{} bytes is too small to hold a few lines; use at least 4096 (default 10485760)",
                    self.max_bytes
                ),
            });
        }
        if self.keep == 0 {
            issues.push(ConfigIssue {
                path: "audit.keep".into(),
                message: "must keep at least 1 rotated file".into(),
            });
        }
    }
}

/// Compiles `[policy]`, pushing every problem found.
pub fn compile(raw: &RawPolicy, servers: &[String], issues: &mut Vec<ConfigIssue>) -> Policy {
    let mut policy = Policy {
        autonomy: raw.autonomy,
        host_commands: raw.host_commands.clone(),
        ..Policy::default()
    };
    if raw.approval_timeout.is_finite() && raw.approval_timeout > 0.0 {
        policy.approval_timeout = Duration::from_secs_f64(raw.approval_timeout);
    } else {
        issues.push(ConfigIssue {
            path: "policy.approval_timeout".into(),
            message: format!(
                "{} is not a number of seconds above 0 (default 300)",
                raw.approval_timeout
            ),
        });
    }
    for (i, command) in raw.host_commands.iter().enumerate() {
        if command.trim().is_empty() {
            issues.push(ConfigIssue {
                path: format!("policy.host_commands[{i}]"),
                message: "is empty; name a command, e.g. `uvx`".into(),
            });
        }
    }
    for (i, rule) in raw.rules.iter().enumerate() {
        let at = format!("policy.rules[{i}]");
        if let Some(select) = selector(&at, &rule.tools, &rule.servers, servers, issues) {
            policy.rules.push(Rule {
                select,
                when: rule.when,
                action: rule.action,
                reason: rule.reason.clone().filter(|r| !r.trim().is_empty()),
            });
        }
    }
    for (i, hint) in raw.hints.iter().enumerate() {
        let at = format!("policy.hints[{i}]");
        let hints = Hints {
            read_only: hint.read_only,
            destructive: hint.destructive,
            idempotent: hint.idempotent,
            open_world: hint.open_world,
        };
        if hints == Hints::default() {
            issues.push(ConfigIssue {
                path: at.clone(),
                message: "states no hint; add e.g. `readOnlyHint = true`".into(),
            });
        }
        if hint.tools.is_empty() && hint.servers.is_empty() {
            issues.push(ConfigIssue {
                path: at.clone(),
                message: "names no `tools` and no `servers`: it would override every tool's \
                          annotations; say which tools it is about"
                    .into(),
            });
        }
        if let Some(select) = selector(&at, &hint.tools, &hint.servers, servers, issues) {
            policy.hints.push(HintOverride { select, hints });
        }
    }
    policy
}

fn selector(
    at: &str,
    tools: &[String],
    servers: &[String],
    known: &[String],
    issues: &mut Vec<ConfigIssue>,
) -> Option<Selector> {
    let mut ok = true;
    for (j, server) in servers.iter().enumerate() {
        if server != "polyclaw" && !known.iter().any(|k| k == server) {
            // Generated and client-added servers come later: a warning would be kinder, but a
            // typo here silently weakens a rule, so it is an error unless the name is plausible.
            if crate::config::validate_server_name(server).is_err() {
                ok = false;
                issues.push(ConfigIssue {
                    path: format!("{at}.servers[{j}]"),
                    message: format!("`{server}` is not a server name"),
                });
            }
        }
    }
    match Selector::new(tools, servers) {
        Ok(select) => ok.then_some(select),
        Err((j, why)) => {
            issues.push(ConfigIssue {
                path: format!("{at}.tools[{j}]"),
                message: format!("is not a glob: {why}"),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RawPolicy, compile};
    use crate::registry::policy::{Action, Autonomy, Hints};

    #[test]
    fn every_problem_is_named_by_its_key_path() {
        let raw: RawPolicy = toml::from_str(
            r#"
            autonomy = "read-only"
            approval_timeout = -1
            host_commands = [""]
            [[rules]]
            tools = ["git__*", "bad["]
            action = "deny"
            [[rules]]
            servers = ["no such"]
            action = "ask"
            [[hints]]
            readOnlyHint = true
            "#,
        )
        .expect("shape");
        let mut issues = Vec::new();
        let policy = compile(&raw, &["git".to_string()], &mut issues);
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "policy.approval_timeout",
                "policy.host_commands[0]",
                "policy.rules[0].tools[1]",
                "policy.rules[1].servers[0]",
                "policy.hints[0]",
            ],
            "{issues:?}"
        );
        assert_eq!(policy.autonomy, Autonomy::ReadOnly);
    }

    #[test]
    fn a_good_policy_compiles() {
        let raw: RawPolicy = toml::from_str(
            r#"
            host_commands = ["uvx"]
            [[rules]]
            tools = ["git__git_commit"]
            when = { destructiveHint = true }
            action = "judge"
            reason = "commits"
            [[hints]]
            servers = ["git"]
            tools = ["git__git_log"]
            readOnlyHint = true
            "#,
        )
        .expect("shape");
        let mut issues = Vec::new();
        let policy = compile(&raw, &["git".to_string()], &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            policy
                .decide("git", "git__git_commit", Hints::default())
                .action,
            Action::Judge
        );
        assert_eq!(
            policy
                .decide("git", "git__git_log", Hints::default())
                .action,
            Action::Allow
        );
        assert_eq!(policy.approval_timeout.as_secs(), 300);
    }
}
