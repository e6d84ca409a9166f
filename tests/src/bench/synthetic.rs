//! Synthetic tools and queries for P7: deterministic (a fixed-seed generator), shaped like a
//! real registry — `server__verb_noun` names, one-sentence descriptions, a few parameters —
//! and queries in words ("send a message to a channel") drawn from the same vocabulary.

use polyclaw_planner::search::ToolDoc;

const SERVERS: &[&str] = &[
    "github",
    "gitlab",
    "slack",
    "jira",
    "linear",
    "gmail",
    "drive",
    "dropbox",
    "postgres",
    "mysql",
    "sqlite",
    "redis",
    "s3",
    "gcs",
    "stripe",
    "shopify",
    "k8s",
    "docker",
    "notion",
    "confluence",
    "calendar",
    "zoom",
    "sentry",
    "grafana",
    "datadog",
    "pagerduty",
    "twilio",
    "hubspot",
    "salesforce",
    "figma",
    "fs",
    "git",
    "time",
    "weather",
    "maps",
    "search",
];

const VERBS: &[&str] = &[
    "get",
    "list",
    "create",
    "update",
    "delete",
    "search",
    "send",
    "read",
    "write",
    "run",
    "fetch",
    "query",
    "sync",
    "archive",
    "export",
    "import",
    "convert",
    "resize",
    "translate",
    "summarize",
    "schedule",
    "cancel",
    "approve",
    "merge",
    "close",
    "open",
    "assign",
    "tag",
    "move",
    "copy",
    "upload",
    "download",
    "restart",
    "scale",
    "deploy",
    "rollback",
];

const NOUNS: &[&str] = &[
    "file",
    "issue",
    "message",
    "channel",
    "user",
    "repository",
    "branch",
    "commit",
    "invoice",
    "ticket",
    "event",
    "meeting",
    "image",
    "document",
    "page",
    "table",
    "row",
    "email",
    "contact",
    "task",
    "deployment",
    "container",
    "log",
    "metric",
    "alert",
    "secret",
    "bucket",
    "object",
    "record",
    "order",
    "payment",
    "customer",
    "comment",
    "label",
    "release",
    "pipeline",
    "dashboard",
    "incident",
    "forecast",
    "route",
    "timezone",
    "folder",
    "report",
];

const QUALIFIERS: &[&str] = &[
    "",
    "",
    "",
    "by_id",
    "batch",
    "details",
    "history",
    "status",
    "summary",
    "attachments",
];

const FILLERS: &[&str] = &[
    "Returns the result as JSON.",
    "Requires an access token with the right scope.",
    "Pagination is supported through a cursor.",
    "Fails if the item does not exist.",
    "Use a filter to narrow the results down.",
    "Works on the default workspace unless one is given.",
];

const PARAMS: &[&str] = &[
    "id", "name", "query", "limit", "cursor", "path", "channel", "text", "owner", "repo", "title",
    "body", "status", "date", "timezone", "format", "email", "amount", "currency",
];

/// A small xorshift generator: deterministic, so every run searches the same tools.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        let len = u64::try_from(from.len()).unwrap_or(1).max(1);
        let i = usize::try_from(self.next() % len).unwrap_or(0);
        from.get(i).copied().unwrap_or_default()
    }
}

/// `(verb, noun, qualifier)` triples, unique, `n` of them.
fn shapes(n: usize, seed: u64) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let mut rng = Rng(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let shape = (
            rng.pick(SERVERS),
            rng.pick(VERBS),
            rng.pick(NOUNS),
            rng.pick(QUALIFIERS),
        );
        if seen.insert(shape) {
            out.push(shape);
        }
    }
    out
}

fn base_name(verb: &str, noun: &str, qualifier: &str) -> String {
    if qualifier.is_empty() {
        format!("{verb}_{noun}")
    } else {
        format!("{verb}_{noun}_{qualifier}")
    }
}

/// `n` synthetic tool documents (namespaced names, descriptions, parameters).
#[must_use]
pub fn tool_docs(n: usize) -> Vec<ToolDoc> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    shapes(n, 0x2545_f491_4f6c_dd1d)
        .into_iter()
        .map(|(server, verb, noun, qualifier)| {
            let extra = qualifier.replace('_', " ");
            let description = format!(
                "{} a {noun}{} in {server}. {}",
                capitalise(verb),
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(" ({extra})")
                },
                rng.pick(FILLERS)
            );
            let params = vec![
                format!("{noun}_id"),
                rng.pick(PARAMS).to_owned(),
                rng.pick(PARAMS).to_owned(),
            ];
            ToolDoc {
                name: format!("{server}__{}", base_name(verb, noun, qualifier)),
                description,
                params,
            }
        })
        .collect()
}

/// `n` distinct tool names without a server prefix, for the echo server's `add_tool`.
#[must_use]
pub fn tool_names(n: usize) -> Vec<String> {
    shapes(n, 0x2545_f491_4f6c_dd1d)
        .into_iter()
        .map(|(server, verb, noun, qualifier)| {
            format!("{server}_{}", base_name(verb, noun, qualifier))
        })
        .collect()
}

/// `n` queries in words, 2 to 5 terms, some with words no tool has.
#[must_use]
pub fn queries(n: usize) -> Vec<String> {
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("{} a {}", rng.pick(VERBS), rng.pick(NOUNS)),
            1 => format!(
                "{} the {} in {}",
                rng.pick(VERBS),
                rng.pick(NOUNS),
                rng.pick(SERVERS)
            ),
            2 => format!(
                "{} {} {} by {}",
                rng.pick(VERBS),
                rng.pick(NOUNS),
                rng.pick(QUALIFIERS).replace('_', " "),
                rng.pick(PARAMS)
            ),
            _ => format!(
                "how do I {} my {} quickly",
                rng.pick(VERBS),
                rng.pick(NOUNS)
            ),
        })
        .collect()
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_deterministic_tools() {
        let docs = tool_docs(1000);
        assert_eq!(docs.len(), 1000);
        let names: std::collections::HashSet<_> = docs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), 1000);
        assert_eq!(tool_docs(3)[2].name, docs[2].name);
        let plain = tool_names(1000);
        assert!(plain.iter().all(|n| n.len() <= 64 && !n.contains("__")));
        assert_eq!(queries(8).len(), 8);
    }
}
