//! JSON with comments and trailing commas (VS Code's JSONC), as MCP clients write their
//! configuration files: read with every line and column kept, so a syntax error names the
//! right spot.

use serde_json::Value;

/// Parses JSON that may contain `//` and `/* */` comments and trailing commas (VS Code's
/// JSONC), and a leading byte-order mark.
///
/// # Errors
/// A sentence with the line and column of the first syntax error and what to do.
pub fn parse_jsonc(text: &str) -> Result<Value, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let clean = strip_jsonc(text);
    if clean.trim().is_empty() {
        return Err("the file is empty; it should hold the client's MCP configuration".into());
    }
    serde_json::from_str(&clean).map_err(|e| {
        format!(
            "invalid JSON at {}; fix the file there (a JSON checker such as `python3 -m json.tool \
             FILE` points at the spot) and run the command again",
            json_error(&e)
        )
    })
}

/// Describes a JSON syntax error: where and what (`line 3, column 7: expected `:``).
pub fn json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&suffix).unwrap_or(&full);
    format!("line {}, column {}: {what}", e.line(), e.column())
}

/// Blanks out comments and trailing commas outside strings, keeping every line break and byte
/// offset, so a JSON error still points at the right line and column.
pub fn strip_jsonc(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (b, bytes.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                out.push(b);
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out.push(if bytes[i] == b'\r' { b'\r' } else { b' ' });
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let Some(len) = text[i + 2..].find("*/") else {
                    // Unterminated: keep it, so the parser reports it where it starts.
                    out.extend_from_slice(&bytes[i..]);
                    break;
                };
                let end = i + 2 + len + 2;
                out.extend(
                    bytes[i..end]
                        .iter()
                        .map(|&c| if c == b'\n' || c == b'\r' { c } else { b' ' }),
                );
                i = end;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    blank_trailing_commas(&mut out);
    // Only whole ASCII-delimited runs were blanked, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Replaces each `,` that is followed (after white space) by `}` or `]` with a space.
fn blank_trailing_commas(bytes: &mut [u8]) {
    let mut in_string = false;
    let mut escaped = false;
    for i in 0..bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if b == b'"' {
            in_string = true;
        } else if b == b',' {
            let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) {
                bytes[i] = b' ';
            }
        }
    }
}
