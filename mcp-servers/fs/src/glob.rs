//! Name matching for `search`: a glob when the pattern has `*`, `?` or `[`,
//! else a substring. Both ignore ASCII/Unicode case.
//!
//! Glob syntax: `*` any run of characters except `/`, `**` any run including
//! `/` (`**/` also matches no directory at all), `?` one character except
//! `/`, `[abc]`, `[a-z]`, `[!abc]` (or `[^abc]`) one character of (not of) a
//! set. A pattern with a `/` is matched against the whole path relative to
//! the searched directory, one without against the file name.

/// A compiled search pattern.
#[derive(Debug)]
pub enum Pattern {
    Substring(String),
    Glob {
        tokens: Vec<Token>,
        whole_path: bool,
    },
}

#[derive(Debug, PartialEq)]
pub enum Token {
    Char(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**`
    AnyPath,
    /// `**/`: nothing, or anything ending with `/`.
    AnyDirs,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Longest pattern accepted, in characters.
pub const MAX_PATTERN: usize = 512;

impl Pattern {
    /// Compiles `pattern`; errors name the problem.
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err(
                "pattern is empty: give a substring (e.g. \"report\") or a glob (e.g. \"*.md\")"
                    .to_owned(),
            );
        }
        if pattern.chars().count() > MAX_PATTERN {
            return Err(format!("pattern is longer than {MAX_PATTERN} characters"));
        }
        if !pattern.contains(['*', '?', '[']) {
            return Ok(Self::Substring(lower(pattern)));
        }
        let chars: Vec<char> = lower(pattern).chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            let token = match c {
                '?' => Token::One,
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    while chars.get(i) == Some(&'*') {
                        i += 1;
                    }
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                        Token::AnyDirs
                    } else {
                        Token::AnyPath
                    }
                }
                '*' => Token::Star,
                '[' => {
                    let (token, next) = class(&chars, i).ok_or_else(|| {
                        format!("pattern {pattern:?}: unclosed '[' (write [[] for a literal '[')")
                    })?;
                    i = next;
                    token
                }
                c => Token::Char(c),
            };
            tokens.push(token);
        }
        Ok(Self::Glob {
            tokens,
            whole_path: pattern.contains('/'),
        })
    }

    /// Whether the entry at `path` (relative to the searched directory,
    /// `/`-separated) with file name `name` matches.
    pub fn matches(&self, path: &str, name: &str) -> bool {
        match self {
            Self::Substring(needle) => lower(path).contains(needle.as_str()),
            Self::Glob { tokens, whole_path } => {
                let text: Vec<char> = lower(if *whole_path { path } else { name })
                    .chars()
                    .collect();
                let mut memo = vec![None; (tokens.len() + 1) * (text.len() + 1)];
                glob_match(tokens, 0, &text, 0, &mut memo)
            }
        }
    }
}

fn lower(text: &str) -> String {
    text.to_lowercase()
}

/// Parses a class whose `[` was just consumed; returns it and the index
/// after its `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Token, usize)> {
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        i += 1;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i));
        }
        first = false;
        match (chars.get(i), chars.get(i + 1)) {
            (Some('-'), Some(&end)) if end != ']' => {
                ranges.push((c, end));
                i += 2;
            }
            _ => ranges.push((c, c)),
        }
    }
}

/// Whether `tokens[t..]` matches `text[x..]` (memoized: O(tokens × text)).
fn glob_match(
    tokens: &[Token],
    t: usize,
    text: &[char],
    x: usize,
    memo: &mut [Option<bool>],
) -> bool {
    let key = t * (text.len() + 1) + x;
    if let Some(Some(known)) = memo.get(key) {
        return *known;
    }
    let result = match tokens.get(t) {
        None => x == text.len(),
        Some(token) => {
            let here = text.get(x).copied();
            match token {
                Token::Char(c) => here == Some(*c) && glob_match(tokens, t + 1, text, x + 1, memo),
                Token::One => {
                    here.is_some_and(|c| c != '/') && glob_match(tokens, t + 1, text, x + 1, memo)
                }
                Token::Class { negated, ranges } => {
                    here.is_some_and(|c| {
                        c != '/' && ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated
                    }) && glob_match(tokens, t + 1, text, x + 1, memo)
                }
                Token::Star => {
                    glob_match(tokens, t + 1, text, x, memo)
                        || (here.is_some_and(|c| c != '/')
                            && glob_match(tokens, t, text, x + 1, memo))
                }
                Token::AnyPath => {
                    glob_match(tokens, t + 1, text, x, memo)
                        || (here.is_some() && glob_match(tokens, t, text, x + 1, memo))
                }
                Token::AnyDirs => {
                    glob_match(tokens, t + 1, text, x, memo)
                        || text
                            .iter()
                            .enumerate()
                            .skip(x)
                            .filter(|(_, c)| **c == '/')
                            .any(|(slash, _)| glob_match(tokens, t + 1, text, slash + 1, memo))
                }
            }
        }
    };
    if let Some(slot) = memo.get_mut(key) {
        *slot = Some(result);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        match Pattern::new(pattern) {
            Ok(p) => p.matches(path, name),
            Err(err) => panic!("{pattern}: {err}"),
        }
    }

    #[test]
    fn substrings_ignore_case_and_see_the_path() {
        assert!(m("report", "docs/Q3-Report.md"));
        assert!(m("docs/q3", "docs/Q3-Report.md"));
        assert!(!m("summary", "docs/Q3-Report.md"));
    }

    #[test]
    fn globs_match_names_or_paths() {
        assert!(m("*.md", "docs/a.MD"));
        assert!(!m("*.md", "docs/a.mdx"));
        assert!(m("?.txt", "x/b.txt"));
        assert!(!m("?.txt", "x/bb.txt"));
        assert!(m("[ab]*", "z/beta"));
        assert!(!m("[!ab]*", "z/beta"));
        assert!(m("file[0-9].rs", "file7.rs"));
        assert!(m("docs/*.md", "docs/a.md"));
        assert!(!m("docs/*.md", "docs/sub/a.md"));
        assert!(m("docs/**.md", "docs/sub/a.md"));
        assert!(m("**/a.md", "a.md"));
        assert!(m("**/a.md", "x/y/a.md"));
        assert!(m("src/**/*.rs", "src/main.rs"));
        assert!(m("src/**/*.rs", "src/a/b/c.rs"));
        assert!(!m("src/**/*.rs", "lib/a.rs"));
    }

    #[test]
    fn bad_patterns_are_explained() {
        assert!(Pattern::new("").is_err());
        assert!(Pattern::new("[abc").is_err_and(|e| e.contains("unclosed")));
        assert!(Pattern::new(&"*".repeat(MAX_PATTERN + 1)).is_err());
        // Long star runs stay fast (memoized).
        assert!(!m("*a*a*a*a*a*a*a*a*b", &"a".repeat(200)));
    }
}
