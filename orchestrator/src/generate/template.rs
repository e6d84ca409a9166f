//! Templates: folders of data under `templates/` (`template.toml`, the JSON Schema of the
//! specs it takes, files rendered with minijinja, and a build recipe). Loading checks the
//! manifest strictly (unknown keys are errors); rendering is strict too (an undefined variable
//! is an error that names the file and line), and autoescaping is off: a template writes
//! JSON with the `tojson` filter.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Deserialize;
use serde_json::Value;

use crate::config::GenerateConfig;
use crate::error::Error;
use crate::runtime::docker::ContextFile;

/// The manifest file of a template.
pub const MANIFEST: &str = "template.toml";

/// A loaded template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its name (the folder's name).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The JSON Schema its specs must meet.
    pub schema: Value,
    /// Files rendered into the build context.
    pub render: Vec<RenderFile>,
    /// How the image is made.
    pub build: Recipe,
    /// How its container is started.
    pub run: Run,
    /// The server derives its tools itself (`tools = "server"`, e.g. from an OpenAPI
    /// document): specs need no `tools`, the contract test takes the server's tools/list and
    /// checks the examples against it.
    pub tools_from_server: bool,
}

/// Where a template's tools come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ToolsFrom {
    /// The spec's `tools`.
    #[default]
    Spec,
    /// The server's tools/list.
    Server,
}

/// How a generated server's container is started.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Run {
    /// The container's command (the image's entrypoint and command are replaced by it when
    /// not empty); it becomes the registration's `args`.
    pub command: Vec<String>,
    /// The container's network, in quarantine and in the mesh: none unless the template's
    /// servers must reach something (`bridge` for the `openapi` template, which calls its
    /// API). Containers with a network reach the host as `host.docker.internal`.
    pub network: Option<String>,
}

/// One file to render: `from` (in the template folder) → `to` (in the build context).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderFile {
    /// Source, relative to the template folder.
    pub from: String,
    /// Destination in the build context.
    pub to: String,
}

/// A release binary of one of polyclaw's own packages, put in the build context (with the
/// shared libraries it needs, under `rootfs/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnBinary {
    /// The cargo package (`polyclaw-server-exec`).
    pub package: String,
    /// Its path in the build context.
    pub to: String,
}

/// How a template's image is made, besides its rendered files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recipe {
    /// Binaries of polyclaw's packages: next to the running polyclaw, else built by the
    /// README's `cargo build --release` in the source tree.
    pub own_binaries: Vec<OwnBinary>,
    /// Copy the spec's `binaries` (absolute host paths of executables; a dynamically linked
    /// one brings its loader and libraries under `rootfs/`) to
    /// `rootfs/bin/<file name>` in the context; templates get them as `binaries`.
    pub spec_binaries: bool,
    /// Run on the host before the build, in the rendered context: argv whose first element
    /// is a context file (e.g. the exec binary checking its manifest). Non-zero exit fails
    /// the render stage with its output.
    pub check: Vec<String>,
    /// A base image polyclaw builds itself, which the Dockerfile starts `FROM` (rendered as
    /// `base_image`): `python` ([`crate::runtime::docker::python_base`]; `generate.python_base`
    /// replaces it). Built before the first image that needs it.
    pub base: Option<String>,
}

/// The bases a recipe may name.
pub const BASES: &[&str] = &["python"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    description: String,
    schema: String,
    #[serde(default)]
    render: Vec<RenderFile>,
    #[serde(default)]
    build: Recipe,
    #[serde(default)]
    run: Run,
    #[serde(default)]
    tools: ToolsFrom,
}

/// The templates folder: `generate.templates_dir`, else `templates/` of polyclaw's source tree.
///
/// # Errors
/// [`Error::InvalidInput`] when neither exists.
pub fn templates_dir(config: &GenerateConfig) -> Result<PathBuf, Error> {
    if let Some(dir) = &config.templates_dir {
        return Ok(PathBuf::from(dir));
    }
    let source = crate::runtime::docker::cargo::source_dir(None).map_err(|_| {
        Error::InvalidInput(
            "cannot find the templates folder; set `generate.templates_dir` in polyclaw.toml or run polyclaw from its source tree".into(),
        )
    })?;
    Ok(source.join("templates"))
}

/// Every template in `dir`, in name order; folders that fail to load are returned as errors.
#[must_use]
pub fn list(dir: &Path) -> Vec<Result<Template, Error>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![Err(Error::InvalidInput(format!(
            "cannot read the templates folder {}",
            dir.display()
        )))];
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join(MANIFEST).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names.iter().map(|n| load(dir, n)).collect()
}

/// Loads template `name` from `dir`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the template and what is wrong (unknown template: the
/// ones that exist).
pub fn load(dir: &Path, name: &str) -> Result<Template, Error> {
    let ok_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let folder = dir.join(name);
    let manifest = folder.join(MANIFEST);
    if !ok_name || !manifest.is_file() {
        let known: Vec<String> = list_names(dir);
        return Err(Error::InvalidInput(format!(
            "no template `{name}` in {}; the templates are: {}",
            dir.display(),
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let bad = |what: String| Error::InvalidInput(format!("template `{name}`: {what}"));
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| bad(format!("cannot read {}: {e}", manifest.display())))?;
    let raw: RawTemplate = toml::from_str(&text).map_err(|e| {
        bad(format!(
            "{} is not valid: {}",
            manifest.display(),
            e.message()
        ))
    })?;
    if raw.name != name {
        return Err(bad(format!(
            "{MANIFEST} says name = \"{}\"; it must be the folder's name",
            raw.name
        )));
    }
    let schema_path = folder.join(&raw.schema);
    let schema_text = std::fs::read_to_string(&schema_path).map_err(|e| {
        bad(format!(
            "cannot read its schema {}: {e}",
            schema_path.display()
        ))
    })?;
    let schema: Value = serde_json::from_str(&schema_text).map_err(|e| {
        bad(format!(
            "its schema {} is not JSON: {e}",
            schema_path.display()
        ))
    })?;
    if let Err(e) = jsonschema::options().build(&schema) {
        return Err(bad(format!("its schema is not a valid JSON Schema: {e}")));
    }
    if let Some(base) = &raw.build.base
        && !BASES.contains(&base.as_str())
    {
        return Err(bad(format!(
            "build.base `{base}` is not a base polyclaw builds; use one of: {}",
            BASES.join(", ")
        )));
    }
    for f in &raw.render {
        if !folder.join(&f.from).is_file() {
            return Err(bad(format!("render.from `{}` does not exist", f.from)));
        }
        if !safe_relative(&f.to) {
            return Err(bad(format!(
                "render.to `{}` must be a relative path inside the build context",
                f.to
            )));
        }
    }
    Ok(Template {
        name: raw.name,
        description: raw.description,
        dir: folder,
        schema,
        render: raw.render,
        build: raw.build,
        run: raw.run,
        tools_from_server: raw.tools == ToolsFrom::Server,
    })
}

fn list_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join(MANIFEST).is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `path` is relative and stays inside its folder.
#[must_use]
pub fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl Template {
    /// Renders every `render` file with `context` (which holds at least `spec`).
    ///
    /// # Errors
    /// A message naming the file, line and cause.
    pub fn render_files(&self, context: &Value) -> Result<Vec<ContextFile>, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(true);
        let mut sources = Vec::new();
        for f in &self.render {
            let path = self.dir.join(&f.from);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            sources.push((f.from.clone(), text));
        }
        for (name, text) in &sources {
            env.add_template(name, text)
                .map_err(|e| describe(&e, name))?;
        }
        let mut out = Vec::new();
        for f in &self.render {
            let template = env
                .get_template(&f.from)
                .map_err(|e| describe(&e, &f.from))?;
            let text = template
                .render(context)
                .map_err(|e| describe(&e, &f.from))?;
            out.push(ContextFile {
                path: f.to.clone(),
                data: text.into_bytes(),
                mode: 0o644,
            });
        }
        Ok(out)
    }
}

fn describe(e: &minijinja::Error, file: &str) -> String {
    let mut text = file.to_string();
    if let Some(line) = e.line() {
        text.push_str(&format!(" line {line}"));
    }
    text.push_str(&format!(": {}", e.kind()));
    if let Some(detail) = e.detail() {
        text.push_str(&format!(": {detail}"));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates")
    }

    #[test]
    fn command_template_loads_and_renders_an_exec_manifest() {
        let t = load(&templates(), "command").unwrap();
        assert_eq!(t.name, "command");
        assert!(t.build.spec_binaries);
        let spec = json!({
            "name": "num", "description": "d \"quoted\"",
            "tools": [{
                "name": "factor", "description": "factor n",
                "input_schema": {"type": "object", "properties": {
                    "n": {"type": "integer", "description": "the number"},
                    "mode": {"type": "string", "enum": ["a", "b"], "default": "a"}
                }, "required": ["n"]},
                "command": ["/bin/busybox", "factor", "{n}", "--m={mode}"]
            }],
            "examples": []
        });
        let context = json!({
            "spec": spec,
            "binaries": [{"context": "rootfs/bin/busybox", "image": "/bin/busybox"}],
        });
        let files = t.render_files(&context).unwrap();
        let manifest = files
            .iter()
            .find(|f| f.path == "rootfs/manifest.json")
            .unwrap();
        let m: Value = serde_json::from_slice(&manifest.data).unwrap();
        assert_eq!(m["server"]["name"], "num");
        assert_eq!(m["tools"][0]["args"]["n"]["required"], true);
        assert_eq!(m["tools"][0]["args"]["mode"]["required"], false);
        assert_eq!(m["tools"][0]["args"]["mode"]["default"], "a");
        assert_eq!(m["tools"][0]["command"][2], "{n}");
        let dockerfile = files.iter().find(|f| f.path == "Dockerfile").unwrap();
        let text = String::from_utf8_lossy(&dockerfile.data);
        assert!(text.contains("COPY rootfs/ /"), "{text}");
        assert_eq!(t.run.command[0], "/exec");
    }

    #[test]
    fn python_template_renders_a_server_that_compiles() {
        let t = load(&templates(), "python").unwrap();
        assert_eq!(t.build.base.as_deref(), Some("python"));
        let text = std::fs::read_to_string(t.dir.join("example.yaml")).unwrap();
        let spec = crate::generate::spec::parse_text(&text).unwrap();
        let context = json!({"spec": spec, "base_image": "polyclaw/python-base:x"});
        let files = t.render_files(&context).unwrap();
        let dockerfile = files.iter().find(|f| f.path == "Dockerfile").unwrap();
        assert!(
            String::from_utf8_lossy(&dockerfile.data).starts_with("FROM polyclaw/python-base:x\n")
        );
        let server = files.iter().find(|f| f.path == "server.py").unwrap();
        let source = String::from_utf8_lossy(&server.data);
        // Typed keyword-only parameters (in name order); optional ones default to the
        // schema's default.
        assert!(
            source.contains("def _polyclaw_tool_1(*, limit: int | None = 3, text: str):"),
            "{source}"
        );
        assert!(
            source.contains("    return str(len(words(text)))"),
            "{source}"
        );
        assert!(source.contains("import hashlib\nimport re\n"), "{source}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.py");
        std::fs::write(&path, server.data.as_slice()).unwrap();
        #[expect(
            clippy::disallowed_methods,
            reason = "the test checks the rendered file with the host's python3"
        )]
        let out = std::process::Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(&path)
            .output()
            .expect("python3 runs (the interop tests need it too)");
        assert!(
            out.status.success(),
            "{}\n{source}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn python_defaults_become_python_literals() {
        let t = load(&templates(), "python").unwrap();
        let spec = json!({
            "name": "d", "description": "d",
            "tools": [{
                "name": "t", "description": "it's \"quoted\"",
                "input_schema": {"type": "object", "properties": {
                    "flag": {"type": "boolean", "default": true},
                    "off": {"type": "boolean", "default": false},
                    "ratio": {"type": "number", "default": 0.5},
                    "label": {"type": "string", "default": "a'b\"c"},
                    "items": {"type": "array"}
                }},
                "body": "return 1"
            }, {
                "name": "none", "description": "no arguments",
                "input_schema": {"type": "object"},
                "body": "return 'x'"
            }],
            "examples": []
        });
        let files = t
            .render_files(&json!({"spec": spec, "base_image": "b"}))
            .unwrap();
        let server = files.iter().find(|f| f.path == "server.py").unwrap();
        let source = String::from_utf8_lossy(&server.data);
        assert!(source.contains("flag: bool | None = True"), "{source}");
        assert!(source.contains("off: bool | None = False"), "{source}");
        assert!(source.contains("ratio: float | None = 0.5"), "{source}");
        assert!(source.contains("items: list | None = None"), "{source}");
        assert!(source.contains("def _polyclaw_tool_1():"), "{source}");
    }

    #[test]
    fn unknown_templates_are_named() {
        let err = load(&templates(), "nope").err().unwrap().to_string();
        assert!(err.contains("command"), "{err}");
        assert!(load(&templates(), "../command").is_err());
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert!(safe_relative("bin/x"));
        assert!(!safe_relative("../x"));
        assert!(!safe_relative("/x"));
        assert!(!safe_relative(""));
    }
}
