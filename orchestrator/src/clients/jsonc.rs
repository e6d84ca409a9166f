//! JSON with comments and trailing commas (VS Code's JSONC), as MCP clients write their
//! configuration files, read with `jsonc-parser`: exactly JSON plus `//` and `/* */`
//! comments and trailing commas (none of its JSON5 extensions), object keys in file order,
//! and a syntax error named by line and column.

use jsonc_parser::ast;
use jsonc_parser::{CollectOptions, CommentCollectionStrategy, ParseOptions};
use serde_json::Value;

/// JSON plus comments and, when `trailing_commas`, trailing commas.
fn options(trailing_commas: bool) -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: trailing_commas,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// A parsed file.
#[derive(Debug)]
pub struct Document<'a> {
    /// Its value; `None` when the file holds only white space and comments.
    pub value: Option<ast::Value<'a>>,
    /// Whether it had comments or trailing commas (which a rewrite cannot keep).
    pub had_comments: bool,
}

/// Parses JSONC (a leading byte-order mark is skipped).
///
/// # Errors
/// Where the first syntax error is and what it is: `line 3, column 7: Expected colon ...`.
pub fn parse(text: &str) -> Result<Document<'_>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let collect = CollectOptions {
        comments: CommentCollectionStrategy::Separate,
        tokens: false,
    };
    let parsed = jsonc_parser::parse_to_ast(text, &collect, &options(true)).map_err(|e| {
        format!(
            "line {}, column {}: {}",
            e.line_display(),
            e.column_display(),
            e.kind()
        )
    })?;
    let comments = parsed
        .comments
        .as_ref()
        .is_some_and(|c| c.values().any(|list| !list.is_empty()));
    let trailing_commas = !comments
        && jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &options(false)).is_err();
    Ok(Document {
        value: parsed.value,
        had_comments: comments || trailing_commas,
    })
}

/// Parses a client's configuration file into a `Value`.
///
/// # Errors
/// A sentence with the line and column of the first syntax error and what to do.
pub fn parse_jsonc(text: &str) -> Result<Value, String> {
    let document = parse(text).map_err(|where_what| {
        format!(
            "invalid JSON at {where_what}; fix the file there (a JSON checker such as \
             `python3 -m json.tool FILE` points at the spot) and run the command again"
        )
    })?;
    document
        .value
        .map(Value::from)
        .ok_or_else(|| "the file is empty; it should hold the client's MCP configuration".into())
}

/// A JSON number literal as serde_json reads it (`None` past f64's range).
#[must_use]
pub fn number(text: &str) -> Option<serde_json::Number> {
    serde_json::from_str::<serde_json::Number>(text).ok()
}

#[cfg(test)]
mod tests {
    use super::{parse, parse_jsonc};
    use serde_json::json;

    #[test]
    fn comments_and_trailing_commas_are_read_and_noticed() {
        let value =
            parse_jsonc("{\"a\": \"x\\\" // y\", /* c */ \"b\": [1, 2,],}").expect("parses");
        assert_eq!(value, json!({"a": "x\" // y", "b": [1, 2]}));
        assert!(parse("{\"a\": 1} // note").is_ok_and(|d| d.had_comments));
        assert!(parse("{\"a\": [1,]}").is_ok_and(|d| d.had_comments));
        assert!(parse("{\"a\": 1}").is_ok_and(|d| !d.had_comments));
        assert!(parse_jsonc("\u{feff}{}").is_ok());
    }

    #[test]
    fn nothing_looser_than_jsonc_passes() {
        for loose in [
            "{a: 1}",
            "{'a': 1}",
            "{\"a\": 0x10}",
            "{\"a\": .5}",
            "{\"a\": 1 \"b\": 2}",
        ] {
            assert!(parse(loose).is_err(), "{loose}");
        }
    }

    #[test]
    fn errors_name_line_and_column_and_empty_files_say_so() {
        let message = parse_jsonc("{\n  \"a\": {\"b\" 1}\n}").expect_err("invalid");
        assert!(
            message.starts_with("invalid JSON at line 2, column "),
            "{message}"
        );
        assert!(message.contains("fix the file"), "{message}");
        let empty = parse_jsonc("  // nothing\n").expect_err("empty");
        assert!(empty.contains("empty"), "{empty}");
    }
}
