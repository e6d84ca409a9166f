//! The architecture checks itself: each layer names only the layers below it, and nothing
//! outside `runtime/` starts a process. Read off the source files, so a violation fails
//! `cargo test` with the file and what it named.

use std::path::{Path, PathBuf};

/// Bottom first: a module may name itself and those before it. `error` and `tls` are shared
/// by all; `lib.rs` and `main.rs` wire everything.
const LAYERS: [&str; 9] = [
    "registry", "config", "clients", "runtime", "hub", "generate", "plans", "front", "commands",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`hub/call.rs` → `hub`, `tls.rs` → `tls`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::NAME` a piece of code names, with `use crate::{a, b}` groups opened.
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

fn all_sources() -> (PathBuf, Vec<PathBuf>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    (src, files)
}

#[test]
fn each_layer_names_only_the_layers_below_it() {
    let (src, files) = all_sources();
    assert!(
        files.len() > 40,
        "found only {} files under {}",
        files.len(),
        src.display()
    );
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = rank(&module) else { continue };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for named in named_modules(&code(&text)) {
            if let Some(theirs) = rank(&named)
                && theirs > own
            {
                wrong.push(format!(
                    "{} ({module}) names crate::{named}, a layer above it",
                    file.strip_prefix(&src).unwrap_or(file).display()
                ));
            }
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "layers run {}; move the code or invert the call:\n{}",
        LAYERS.join(" ← "),
        wrong.join("\n")
    );
}

#[test]
fn only_runtime_starts_processes() {
    let (src, files) = all_sources();
    let mut wrong = Vec::new();
    for file in &files {
        if module_of(&src, file) == "runtime" {
            continue;
        }
        let code = code(&std::fs::read_to_string(file).unwrap_or_default());
        for needle in ["Command::new", "process::Command", "Command::spawn"] {
            if code.contains(needle) {
                wrong.push(format!(
                    "{} uses {needle}",
                    file.strip_prefix(&src).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "only runtime/ starts processes (it stops and reaps them); move this there:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        named_modules("use crate::{hub::Hub, front};\nlet x = crate::plans::store::save;"),
        vec!["hub", "front", "plans"]
    );
    assert_eq!(
        code("a\n// crate::front\n#[cfg(test)]\nmod tests { crate::front }"),
        "a"
    );
    assert_eq!(
        module_of(Path::new("/s"), Path::new("/s/hub/call.rs")),
        "hub"
    );
    assert!(rank("hub") < rank("front"));
}
