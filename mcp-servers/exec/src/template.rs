//! Argument templates: `"--count={count}"` is literal text with `{name}`
//! placeholders; `{{` and `}}` are literal braces. A template always renders
//! to exactly one string (one argv element or one environment value), or to
//! nothing when it mentions an argument that has no value — never to several
//! words: no shell, no splitting, no globbing.

use std::collections::BTreeMap;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Arg(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Whether `name` is a valid argument name: `[A-Za-z_][A-Za-z0-9_]*`, at
/// most 64 characters.
pub fn valid_arg_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Template {
    /// Parses `text`; the error says what is wrong (the caller adds where).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(format!(
                                    "unclosed '{{' in {text:?} (write {{{{ for a literal brace)"
                                ));
                            }
                        }
                    }
                    if !valid_arg_name(&name) {
                        return Err(format!(
                            "{{{name}}} in {text:?} is not an argument name: use letters, digits \
                             and _ (write {{{{ and }}}} for literal braces)"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Arg(name));
                }
                '}' => {
                    return Err(format!(
                        "unmatched '}}' in {text:?} (write }}}} for a literal brace)"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self { pieces })
    }

    /// The argument names it mentions.
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Arg(name) => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// Whether it mentions no argument.
    pub fn is_literal(&self) -> bool {
        self.args().next().is_none()
    }

    /// Renders with the argument values; `None` when a mentioned argument
    /// has no value (the whole element is then left out).
    pub fn render(&self, values: &BTreeMap<String, String>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Arg(name) => out.push_str(values.get(name)?),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn renders_one_element_per_template() -> Result<(), String> {
        let t = Template::parse("--count={count}")?;
        assert_eq!(t.args().collect::<Vec<_>>(), ["count"]);
        assert_eq!(
            t.render(&values(&[("count", "3")])).as_deref(),
            Some("--count=3")
        );
        // Spaces, quotes and shell syntax stay inside the one element.
        let t = Template::parse("{q}")?;
        let nasty = "a b; rm -rf / $(x) 'c' \"d\" *";
        assert_eq!(t.render(&values(&[("q", nasty)])).as_deref(), Some(nasty));
        // A missing value drops the element.
        assert_eq!(Template::parse("-n{n}")?.render(&values(&[])), None);
        assert!(Template::parse("plain")?.is_literal());
        assert_eq!(
            Template::parse("{{literal}} {a}{b}")?
                .render(&values(&[("a", "1"), ("b", "2")]))
                .as_deref(),
            Some("{literal} 12")
        );
        Ok(())
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(Template::parse("{unclosed").is_err_and(|e| e.contains("unclosed")));
        assert!(Template::parse("x}").is_err_and(|e| e.contains("unmatched")));
        assert!(Template::parse("{}").is_err());
        assert!(Template::parse("{a b}").is_err());
        assert!(Template::parse("{1a}").is_err());
    }

    #[test]
    fn argument_names() {
        assert!(valid_arg_name("path"));
        assert!(valid_arg_name("_x9"));
        assert!(!valid_arg_name(""));
        assert!(!valid_arg_name("9x"));
        assert!(!valid_arg_name("a-b"));
        assert!(!valid_arg_name(&"a".repeat(65)));
    }
}
