//! BM25 search over tool names, descriptions and parameter names.
//!
//! Tokens are lower-cased alphanumeric runs; names are also split at `_`, `-`, `.` and
//! camelCase boundaries so `get_current_time` matches "current time". Name tokens weigh more
//! than description tokens. Pure data in, ranked indices out.

use std::collections::HashMap;

/// What the index knows of one tool.
#[derive(Debug, Clone, Default)]
pub struct ToolDoc {
    /// The tool's (namespaced) name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Names (and descriptions) of its input parameters.
    pub params: Vec<String>,
}

/// One search hit: the document's index in the input and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position of the tool in the slice given to [`ToolIndex::build`].
    pub index: usize,
    /// BM25 score; higher is better.
    pub score: f64,
}

/// An immutable BM25 index.
#[derive(Debug, Clone, Default)]
pub struct ToolIndex {
    /// term → (doc, weighted term frequency)
    postings: HashMap<String, Vec<(usize, f64)>>,
    /// weighted length of each document
    lengths: Vec<f64>,
    avg_len: f64,
}

const K1: f64 = 1.2;
const B: f64 = 0.75;
const NAME_WEIGHT: f64 = 3.0;
const PARAM_WEIGHT: f64 = 1.5;

impl ToolIndex {
    /// Builds the index.
    #[must_use]
    pub fn build(docs: &[ToolDoc]) -> Self {
        let mut postings: HashMap<String, Vec<(usize, f64)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(docs.len());
        for (i, doc) in docs.iter().enumerate() {
            let mut tf: HashMap<String, f64> = HashMap::new();
            let mut len = 0.0;
            let mut add = |text: &str, weight: f64| {
                for t in tokens(text) {
                    *tf.entry(t).or_default() += weight;
                    len += weight;
                }
            };
            add(&doc.name, NAME_WEIGHT);
            add(&doc.description, 1.0);
            for p in &doc.params {
                add(p, PARAM_WEIGHT);
            }
            for (term, f) in tf {
                postings.entry(term).or_default().push((i, f));
            }
            lengths.push(len);
        }
        #[expect(clippy::cast_precision_loss, reason = "document counts are small")]
        let avg_len = if lengths.is_empty() {
            0.0
        } else {
            lengths.iter().sum::<f64>() / lengths.len() as f64
        };
        Self {
            postings,
            lengths,
            avg_len,
        }
    }

    /// Number of indexed tools.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the index is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The best `limit` tools for `query`, best first; tools sharing no term are left out.
    #[must_use]
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        #[expect(clippy::cast_precision_loss, reason = "document counts are small")]
        let n = self.lengths.len() as f64;
        let mut scores: HashMap<usize, f64> = HashMap::new();
        let mut terms = tokens(query);
        terms.sort();
        terms.dedup();
        for term in terms {
            let Some(list) = self.postings.get(&term) else {
                continue;
            };
            #[expect(clippy::cast_precision_loss, reason = "document counts are small")]
            let df = list.len() as f64;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(doc, tf) in list {
                let norm = K1 * (1.0 - B + B * self.lengths[doc] / self.avg_len.max(1e-9));
                *scores.entry(doc).or_default() += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<Hit> = scores
            .into_iter()
            .map(|(index, score)| Hit { index, score })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        hits.truncate(limit);
        hits
    }

    /// How much of `query` document `doc` covers, from 0 to 1: the summed IDF of the query's
    /// distinct terms found in the document over the summed IDF of all of them (terms no tool
    /// has count with the highest IDF). Unlike BM25 scores it does not depend on the size of the
    /// registry, so it can be compared with a fixed threshold.
    #[must_use]
    pub fn coverage(&self, query: &str, doc: usize) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "document counts are small")]
        let n = self.lengths.len() as f64;
        let mut terms = tokens(query);
        terms.sort();
        terms.dedup();
        let (mut found, mut total) = (0.0, 0.0);
        for term in terms {
            let list = self.postings.get(&term);
            #[expect(clippy::cast_precision_loss, reason = "document counts are small")]
            let df = list.map_or(0, Vec::len) as f64;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            total += idf;
            if list.is_some_and(|l| l.iter().any(|&(d, _)| d == doc)) {
                found += idf;
            }
        }
        if total > 0.0 { found / total } else { 0.0 }
    }
}

/// Splits text into lower-case search terms, also at camelCase and `_`/`-`/`.` boundaries.
#[must_use]
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = c.is_lowercase() || c.is_numeric();
            current.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.retain(|t| !STOP_WORDS.contains(&t.as_str()));
    out
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "the", "of", "to", "in", "for", "on", "with", "is", "it", "or", "by", "as",
    "be", "this", "that", "from", "at",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, description: &str, params: &[&str]) -> ToolDoc {
        ToolDoc {
            name: name.into(),
            description: description.into(),
            params: params.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    #[test]
    fn tokens_split_names_and_camel_case() {
        assert_eq!(
            tokens("time__get_current_time"),
            ["time", "get", "current", "time"]
        );
        assert_eq!(
            tokens("readFileAsText"),
            ["read", "file", "as", "text"]
                .iter()
                .filter(|t| **t != "as")
                .copied()
                .collect::<Vec<_>>()
        );
        assert!(tokens("the of and").is_empty());
    }

    #[test]
    fn ranks_name_matches_first() {
        let docs = vec![
            doc(
                "git__git_status",
                "Shows the working tree status",
                &["repo_path"],
            ),
            doc(
                "time__get_current_time",
                "Get current time in a specific timezone",
                &["timezone"],
            ),
            doc(
                "time__convert_time",
                "Convert time between timezones",
                &["source_timezone", "time", "target_timezone"],
            ),
        ];
        let index = ToolIndex::build(&docs);
        let hits = index.search("current time", 10);
        assert_eq!(hits[0].index, 1);
        assert!(
            hits.iter().all(|h| h.index != 0),
            "git status shares no term"
        );
        let hits = index.search("git status of my repository", 10);
        assert_eq!(hits[0].index, 0);
        assert!(index.search("kubernetes", 10).is_empty());
    }

    #[test]
    fn coverage_weighs_rare_terms() {
        let docs = vec![
            doc(
                "slack__send_message",
                "Send a message to a channel",
                &["channel", "text"],
            ),
            doc("fs__read_file", "Read a file", &["path"]),
            doc("fs__write_file", "Write a file", &["path", "content"]),
        ];
        let index = ToolIndex::build(&docs);
        assert!((index.coverage("send message", 0) - 1.0).abs() < 1e-9);
        assert!(index.coverage("send email", 0) < 0.5);
        assert!(index.coverage("read file", 1) > index.coverage("read file", 2));
        assert!(index.coverage("send", 1).abs() < 1e-9);
        assert!(index.coverage("the of", 0).abs() < 1e-9);
    }

    #[test]
    fn limit_and_empty_index() {
        let index = ToolIndex::build(&[]);
        assert!(index.search("anything", 5).is_empty());
        let docs: Vec<ToolDoc> = (0..20)
            .map(|i| doc(&format!("s__echo{i}"), "echo text back", &["text"]))
            .collect();
        let index = ToolIndex::build(&docs);
        assert_eq!(index.search("echo", 5).len(), 5);
    }
}
