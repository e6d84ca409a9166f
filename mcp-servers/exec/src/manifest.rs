//! The manifest (TOML or JSON; the format is described in `README.md`):
//! loading, validation with errors that name the key and the fix, the input
//! JSON Schema of each tool, and turning call arguments into argv and env.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::template::{Template, valid_arg_name};

/// Default and largest `timeout_secs`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// Default and largest `max_output_bytes` (per stream).
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;
pub const MAX_MAX_OUTPUT: usize = 64 * 1024 * 1024;

/// The manifest as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    tools: Vec<RawTool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: Option<String>,
    instructions: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    name: String,
    description: String,
    command: Vec<String>,
    #[serde(default)]
    args: BTreeMap<String, RawArg>,
    timeout_secs: Option<u64>,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    max_output_bytes: Option<usize>,
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArg {
    #[serde(rename = "type")]
    kind: ArgType,
    description: String,
    #[serde(default = "yes")]
    required: bool,
    default: Option<Value>,
    #[serde(rename = "enum")]
    choices: Option<Vec<String>>,
    flag: Option<String>,
}

fn yes() -> bool {
    true
}

/// The JSON type of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArgType {
    String,
    Integer,
    Number,
    Boolean,
}

impl ArgType {
    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }

    /// The name with its article, for messages: "an integer".
    fn with_article(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
        }
    }

    /// Renders a value of this type as one argv string, or says why not.
    fn render(self, value: &Value) -> Option<String> {
        match (self, value) {
            (Self::String, Value::String(s)) => Some(s.clone()),
            (Self::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            (Self::Number, Value::Number(n)) => Some(n.to_string()),
            (Self::Boolean, Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A validated argument.
#[derive(Debug, Clone)]
pub struct Arg {
    pub kind: ArgType,
    pub description: String,
    pub required: bool,
    pub default: Option<Value>,
    pub choices: Option<Vec<String>>,
    pub flag: Option<String>,
}

/// A validated tool.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub program: String,
    pub command: Vec<Template>,
    pub args: BTreeMap<String, Arg>,
    pub timeout: Duration,
    pub cwd: Option<PathBuf>,
    pub env: BTreeMap<String, Template>,
    pub max_output: usize,
    pub read_only: bool,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub instructions: Option<String>,
    pub tools: Vec<Arc<ToolDef>>,
}

/// What to run for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub argv: Vec<String>,
    /// Variables to set (`Some`) or remove (`None`, a template without value).
    pub env: Vec<(String, Option<String>)>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`: JSON if it ends in
    /// `.json`, else TOML. Relative `cwd` and program paths are relative to
    /// the manifest's directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("manifest {}: {err}", path.display()))?;
        let json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = std::path::absolute(&base).unwrap_or(base);
        Self::parse(&text, json, &base)
            .map_err(|err| anyhow::anyhow!("manifest {}: {err}", path.display()))
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str, json: bool, base: &Path) -> anyhow::Result<Self> {
        let raw: RawManifest = if json {
            serde_json::from_str(text).map_err(|err| anyhow::anyhow!("invalid JSON: {err}"))?
        } else {
            toml::from_str(text).map_err(|err| anyhow::anyhow!("invalid TOML: {err}"))?
        };
        validate(raw, base)
    }

    /// A tool by name.
    pub fn tool(&self, name: &str) -> Option<&Arc<ToolDef>> {
        self.tools.iter().find(|tool| tool.name == name)
    }
}

/// Whether `name` is a valid tool name: `[A-Za-z0-9_-]{1,64}` (what every
/// client accepts).
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn validate(raw: RawManifest, base: &Path) -> anyhow::Result<Manifest> {
    let mut errors = Vec::new();
    if raw.tools.is_empty() {
        errors.push(
            "no tools: add at least one [[tools]] table with name, description and command"
                .to_owned(),
        );
    }
    let mut tools: Vec<Arc<ToolDef>> = Vec::new();
    for (index, tool) in raw.tools.into_iter().enumerate() {
        let at = format!("tools[{index}] ({:?})", tool.name);
        if tools.iter().any(|t| t.name == tool.name) {
            errors.push(format!(
                "{at}: name is used by an earlier tool: names must be unique"
            ));
        }
        match validate_tool(tool, base, &at) {
            Ok(def) => tools.push(Arc::new(def)),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    let name = raw.server.name.unwrap_or_else(|| "exec".to_owned());
    if name.trim().is_empty() {
        errors.push("server.name is empty: give the server a name or leave the key out".to_owned());
    }
    if !errors.is_empty() {
        anyhow::bail!(
            "{} problem(s):\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        );
    }
    Ok(Manifest {
        name,
        instructions: raw.server.instructions,
        tools,
    })
}

fn validate_tool(tool: RawTool, base: &Path, at: &str) -> Result<ToolDef, Vec<String>> {
    let mut errors = Vec::new();
    if !valid_tool_name(&tool.name) {
        errors.push(format!(
            "{at}: name must be 1 to 64 characters from A-Z a-z 0-9 _ - (e.g. \"git_log\")"
        ));
    }
    if tool.description.trim().is_empty() {
        errors.push(format!(
            "{at}: description is empty: say what the tool does, for the model"
        ));
    }
    let mut args = BTreeMap::new();
    for (name, arg) in tool.args {
        match validate_arg(&name, arg, &format!("{at}: args.{name}")) {
            Ok(arg) => {
                args.insert(name, arg);
            }
            Err(message) => errors.push(message),
        }
    }
    let mut used: Vec<String> = Vec::new();
    let mut command = Vec::new();
    for (i, element) in tool.command.iter().enumerate() {
        match Template::parse(element) {
            Ok(template) => {
                used.extend(template.args().map(str::to_owned));
                command.push(template);
            }
            Err(message) => errors.push(format!("{at}: command[{i}]: {message}")),
        }
    }
    let program = match (tool.command.first(), command.first()) {
        (None, _) => {
            errors.push(format!(
                "{at}: command is empty: give the program and its arguments, \
                 e.g. command = [\"ls\", \"-l\", \"{{path}}\"]"
            ));
            String::new()
        }
        (Some(_), Some(template)) if !template.is_literal() => {
            errors.push(format!(
                "{at}: command[0] must be a fixed program, not a template: \
                 put the arguments after it"
            ));
            String::new()
        }
        (Some(program), _) if program.is_empty() => {
            errors.push(format!(
                "{at}: command[0] is empty: name the program to run"
            ));
            String::new()
        }
        (Some(program), _) => {
            let path = Path::new(program.as_str());
            if program.contains('/') && path.is_relative() {
                base.join(path).to_string_lossy().into_owned()
            } else {
                program.clone()
            }
        }
    };
    let mut env = BTreeMap::new();
    for (name, value) in &tool.env {
        if name.is_empty() || name.contains(['=', '\0']) {
            errors.push(format!(
                "{at}: env key {name:?} is not a variable name: no '=' or NUL, not empty"
            ));
        }
        match Template::parse(value) {
            Ok(template) => {
                used.extend(template.args().map(str::to_owned));
                env.insert(name.clone(), template);
            }
            Err(message) => errors.push(format!("{at}: env.{name}: {message}")),
        }
    }
    if tool
        .command
        .iter()
        .chain(tool.env.values())
        .any(|s| s.contains('\0'))
    {
        errors.push(format!("{at}: command and env must not contain NUL bytes"));
    }
    for name in &used {
        if !args.contains_key(name) {
            errors.push(format!(
                "{at}: {{{name}}} is used but not declared: add \
                 args.{name} = {{ type = \"string\", description = \"...\" }} to the tool"
            ));
        }
    }
    for name in args.keys() {
        if !used.contains(name) {
            errors.push(format!(
                "{at}: args.{name} is declared but not used: put {{{name}}} in command or env, \
                 or remove the argument"
            ));
        }
    }
    let timeout_secs = tool.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        errors.push(format!(
            "{at}: timeout_secs = {timeout_secs}: use 1 to {MAX_TIMEOUT_SECS} (default {DEFAULT_TIMEOUT_SECS})"
        ));
    }
    let max_output = tool.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT);
    if !(1..=MAX_MAX_OUTPUT).contains(&max_output) {
        errors.push(format!(
            "{at}: max_output_bytes = {max_output}: use 1 to {MAX_MAX_OUTPUT} (default {DEFAULT_MAX_OUTPUT})"
        ));
    }
    let cwd = match tool.cwd.as_deref() {
        Some("") => {
            errors.push(format!(
                "{at}: cwd is empty: give a directory or leave the key out"
            ));
            None
        }
        Some(cwd) => Some(base.join(cwd)),
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ToolDef {
        name: tool.name,
        description: tool.description,
        program,
        command,
        args,
        timeout: Duration::from_secs(timeout_secs),
        cwd,
        env,
        max_output,
        read_only: tool.read_only,
    })
}

fn validate_arg(name: &str, arg: RawArg, at: &str) -> Result<Arg, String> {
    if !valid_arg_name(name) {
        return Err(format!(
            "{at}: argument names use letters, digits and _ and do not start with a digit"
        ));
    }
    if arg.description.trim().is_empty() {
        return Err(format!(
            "{at}.description is empty: describe the argument for the model"
        ));
    }
    if let Some(default) = &arg.default {
        if arg.kind.render(default).is_none() {
            return Err(format!(
                "{at}.default = {default} is not {}: give a value of the argument's type",
                arg.kind.with_article()
            ));
        }
        if arg.required {
            return Err(format!(
                "{at}: has a default but is required: set required = false (the default is used when the caller leaves it out)"
            ));
        }
    }
    if let Some(choices) = &arg.choices {
        if arg.kind != ArgType::String {
            return Err(format!("{at}.enum is only for type = \"string\""));
        }
        if choices.is_empty() {
            return Err(format!(
                "{at}.enum is empty: list the allowed values or remove it"
            ));
        }
        if let Some(Value::String(default)) = &arg.default
            && !choices.contains(default)
        {
            return Err(format!("{at}.default {default:?} is not one of enum"));
        }
    }
    if let Some(flag) = &arg.flag
        && (arg.kind != ArgType::Boolean || flag.is_empty())
    {
        return Err(format!(
            "{at}.flag is only for type = \"boolean\" and must not be empty (e.g. flag = \"--verbose\")"
        ));
    }
    Ok(Arg {
        kind: arg.kind,
        description: arg.description,
        required: arg.required,
        default: arg.default,
        choices: arg.choices,
        flag: arg.flag,
    })
}

impl ToolDef {
    /// The input JSON Schema generated from the arguments.
    pub fn input_schema(&self) -> JsonObject {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for (name, arg) in &self.args {
            let mut property = json!({
                "type": arg.kind.name(),
                "description": arg.description,
            });
            if let Some(default) = &arg.default {
                property["default"] = default.clone();
            }
            if let Some(choices) = &arg.choices {
                property["enum"] = json!(choices);
            }
            properties.insert(name.clone(), property);
            if arg.required {
                required.push(name.clone());
            }
        }
        let mut schema = JsonObject::new();
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".into(), json!(required));
        }
        schema.insert("additionalProperties".into(), json!(false));
        schema
    }

    /// Checks call arguments against the declared ones and renders argv and
    /// env; the error is meant for the caller.
    pub fn invocation(&self, arguments: &JsonObject) -> Result<Invocation, String> {
        if let Some(unknown) = arguments.keys().find(|key| !self.args.contains_key(*key)) {
            let known: Vec<&str> = self.args.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown argument {unknown:?}: {} takes {}",
                self.name,
                if known.is_empty() {
                    "no arguments".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        }
        let mut values = BTreeMap::new();
        for (name, arg) in &self.args {
            let value = match arguments.get(name).filter(|v| !v.is_null()) {
                Some(value) => value,
                None if arg.required => {
                    return Err(format!(
                        "missing argument {name:?} ({}): {}",
                        arg.kind.name(),
                        arg.description
                    ));
                }
                None => match &arg.default {
                    Some(default) => default,
                    None => continue,
                },
            };
            let rendered = arg.kind.render(value).ok_or_else(|| {
                format!(
                    "argument {name:?} must be {}, not {value}",
                    arg.kind.with_article()
                )
            })?;
            if rendered.contains('\0') {
                return Err(format!("argument {name:?} contains a NUL byte"));
            }
            if let Some(choices) = &arg.choices
                && !choices.contains(&rendered)
            {
                return Err(format!(
                    "argument {name:?} must be one of {}, not {rendered:?}",
                    choices.join(", ")
                ));
            }
            match (&arg.flag, value) {
                (Some(flag), Value::Bool(true)) => {
                    values.insert(name.clone(), flag.clone());
                }
                (Some(_), _) => {}
                (None, _) => {
                    values.insert(name.clone(), rendered);
                }
            }
        }
        let mut argv = vec![self.program.clone()];
        argv.extend(
            self.command
                .iter()
                .skip(1)
                .filter_map(|template| template.render(&values)),
        );
        let env = self
            .env
            .iter()
            .map(|(name, template)| (name.clone(), template.render(&values)))
            .collect();
        Ok(Invocation { argv, env })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
name = "demo"

[[tools]]
name = "greet"
description = "Say hello"
command = ["echo", "hello", "{who}", "--times={times}", "{loud}"]
timeout_secs = 5
env = { GREETING = "hi {who}" }

[tools.args]
who = { type = "string", description = "Who to greet" }
times = { type = "integer", description = "How often", required = false, default = 1 }
loud = { type = "boolean", description = "Shout", required = false, flag = "--loud" }

[[tools]]
name = "mode"
description = "Pick a mode"
command = ["./bin/tool", "{mode}", "{opt}"]
cwd = "work"

[tools.args]
mode = { type = "string", description = "Mode", enum = ["fast", "slow"] }
opt = { type = "number", description = "Optional", required = false }
"#;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, false, Path::new("/etc/polyclaw"))
    }

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn loads_and_renders() -> anyhow::Result<()> {
        let manifest = parse(GOOD)?;
        assert_eq!(manifest.name, "demo");
        let greet = manifest
            .tool("greet")
            .ok_or_else(|| anyhow::anyhow!("no greet"))?;
        assert_eq!(greet.timeout, Duration::from_secs(5));
        let run = greet
            .invocation(&object(json!({"who": "Ada Lovelace; rm -rf /"})))
            .map_err(anyhow::Error::msg)?;
        assert_eq!(
            run.argv,
            ["echo", "hello", "Ada Lovelace; rm -rf /", "--times=1"]
        );
        assert_eq!(
            run.env,
            [(
                "GREETING".to_owned(),
                Some("hi Ada Lovelace; rm -rf /".to_owned())
            )]
        );
        let run = greet
            .invocation(&object(json!({"who": "x", "times": 3, "loud": true})))
            .map_err(anyhow::Error::msg)?;
        assert_eq!(run.argv, ["echo", "hello", "x", "--times=3", "--loud"]);

        let mode = manifest
            .tool("mode")
            .ok_or_else(|| anyhow::anyhow!("no mode"))?;
        assert_eq!(mode.cwd.as_deref(), Some(Path::new("/etc/polyclaw/work")));
        let run = mode
            .invocation(&object(json!({"mode": "fast"})))
            .map_err(anyhow::Error::msg)?;
        assert_eq!(run.argv, ["/etc/polyclaw/./bin/tool", "fast"]);
        let run = mode
            .invocation(&object(json!({"mode": "slow", "opt": 1.5})))
            .map_err(anyhow::Error::msg)?;
        assert_eq!(run.argv, ["/etc/polyclaw/./bin/tool", "slow", "1.5"]);
        Ok(())
    }

    #[test]
    fn generates_input_schemas() -> anyhow::Result<()> {
        let manifest = parse(GOOD)?;
        let greet = manifest
            .tool("greet")
            .ok_or_else(|| anyhow::anyhow!("no greet"))?;
        assert_eq!(
            Value::Object(greet.input_schema()),
            json!({
                "type": "object",
                "properties": {
                    "loud": {"type": "boolean", "description": "Shout"},
                    "times": {"type": "integer", "description": "How often", "default": 1},
                    "who": {"type": "string", "description": "Who to greet"},
                },
                "required": ["who"],
                "additionalProperties": false,
            })
        );
        let mode = manifest
            .tool("mode")
            .ok_or_else(|| anyhow::anyhow!("no mode"))?;
        assert_eq!(
            mode.input_schema()["properties"]["mode"]["enum"],
            json!(["fast", "slow"])
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_call_arguments() -> anyhow::Result<()> {
        let manifest = parse(GOOD)?;
        let greet = manifest
            .tool("greet")
            .ok_or_else(|| anyhow::anyhow!("no greet"))?;
        let mode = manifest
            .tool("mode")
            .ok_or_else(|| anyhow::anyhow!("no mode"))?;
        for (tool, args, needle) in [
            (greet, json!({}), "missing argument \"who\""),
            (greet, json!({"who": 1}), "must be a string"),
            (
                greet,
                json!({"who": "x", "times": 1.5}),
                "must be an integer",
            ),
            (
                greet,
                json!({"who": "x", "bogus": 1}),
                "unknown argument \"bogus\"",
            ),
            (greet, json!({"who": "a\u{0}b"}), "NUL"),
            (mode, json!({"mode": "medium"}), "must be one of fast, slow"),
        ] {
            match tool.invocation(&object(args.clone())) {
                Ok(run) => anyhow::bail!("{args} gave {run:?}"),
                Err(err) => assert!(err.contains(needle), "{args}: {err}"),
            }
        }
        Ok(())
    }

    #[test]
    fn explains_manifest_mistakes() {
        let cases = [
            ("", "no tools"),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = []",
                "command is empty",
            ),
            (
                "[[tools]]\nname = \"bad name\"\ndescription = \"d\"\ncommand = [\"ls\"]",
                "name must be 1 to 64 characters",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\", \"{p}\"]",
                "add args.p = { type = \"string\"",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"{p}\"]\n[tools.args]\np = { type = \"string\", description = \"d\" }",
                "command[0] must be a fixed program",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\"]\n[tools.args]\np = { type = \"string\", description = \"d\" }",
                "args.p is declared but not used",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\", \"{p}\"]\n[tools.args]\np = { type = \"text\", description = \"d\" }",
                "unknown variant `text`",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\"]\ntimeout = 3",
                "unknown field `timeout`",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\"]\ntimeout_secs = 0",
                "timeout_secs = 0: use 1 to",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\", \"{p\"]",
                "command[1]: unclosed '{'",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\", \"{p}\"]\n[tools.args]\np = { type = \"integer\", description = \"d\", required = false, default = \"ten\" }",
                "is not an integer",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\", \"{p}\"]\n[tools.args]\np = { type = \"string\", description = \"d\", flag = \"-p\" }",
                "flag is only for type = \"boolean\"",
            ),
            (
                "[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\"]\n[[tools]]\nname = \"x\"\ndescription = \"d\"\ncommand = [\"ls\"]",
                "names must be unique",
            ),
        ];
        for (text, needle) in cases {
            match parse(text) {
                Ok(_) => panic!("accepted:\n{text}"),
                Err(err) => {
                    let err = format!("{err:#}");
                    assert!(
                        err.contains(needle),
                        "{text}\n=> {err}\n(wanted {needle:?})"
                    );
                }
            }
        }
    }

    #[test]
    fn reads_json_too() -> anyhow::Result<()> {
        let manifest = Manifest::parse(
            r#"{"tools": [{"name": "t", "description": "d", "command": ["true"]}]}"#,
            true,
            Path::new("/"),
        )?;
        assert_eq!(manifest.name, "exec");
        assert_eq!(manifest.tools.len(), 1);
        assert!(Manifest::parse("{", true, Path::new("/")).is_err());
        Ok(())
    }
}
