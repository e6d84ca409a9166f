//! The generation pipeline, one stage after another:
//!
//! 1. **validate** the spec against its template (every issue with its path) and make sure
//!    the name is free;
//! 2. **render** the template's files, gather the binaries the recipe names, run its host
//!    check (the exec server checks its rendered manifest);
//! 3. **build** the image through the engine (labels: template, spec SHA-256, time);
//! 4. run it in **quarantine**: a hardened container (no network, no secrets, limits) behind a
//!    supervisor of its own, not part of the mesh;
//! 5. **contract** test over MCP: `tools/list` names exactly the spec's tools with its
//!    arguments, and every example's result holds its expected text;
//! 6. **register** it under the state folder;
//! 7. **hot-add** it to the running mesh (clients get `list_changed`).
//!
//! Any failure removes what was made — the quarantine container, the image, the
//! registration, the mesh entry — and the error names the stage and why (the build log's
//! tail, each failing example with what was expected and what came back).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmcp::model::CallToolRequestParams;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{GenerateConfig, RawServer, ServerSpec};
use crate::error::{ConfigIssue, Error};
use crate::hub::Hub;
use crate::runtime::docker::{self, ContextFile, Engine, labels};
use crate::runtime::{Downstream, Relay};

use super::spec::{self, Example, Spec};
use super::template::{self, Template};
use super::{Progress, Stage, StageEvent};
use crate::hub::registrations::{self as store, Registration};

/// How long one contract example may take.
pub const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The folder of a template's build context that its Dockerfile copies to `/`: rendered
/// files, binaries and the shared libraries dynamically linked binaries need go under it.
const ROOTFS: &str = "rootfs";
/// How long the recipe's host check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest result text quoted in a failing example's report.
const QUOTE_CHARS: usize = 400;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Request {
    /// Template name (a folder under the templates folder).
    pub template: String,
    /// The spec (already parsed from YAML or JSON).
    pub spec: Value,
}

/// Where the pipeline runs.
#[derive(Clone)]
pub struct Context {
    /// `[generate]` settings.
    pub config: GenerateConfig,
    /// The state folder (registrations go to `generated/` in it).
    pub state_dir: PathBuf,
    /// Server names in use besides the mesh's (the config's, when there is no mesh).
    pub taken: Vec<String>,
    /// The running mesh to add the server to, if any.
    pub hub: Option<Arc<Hub>>,
}

impl Context {
    /// The context of a running hub: its settings, its state folder, and it to add to.
    #[must_use]
    pub fn of(hub: &Arc<Hub>) -> Self {
        Self {
            config: hub.generate.clone(),
            state_dir: hub.plans.state_dir(),
            taken: Vec::new(),
            hub: Some(Arc::clone(hub)),
        }
    }
}

/// A server that was generated.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    /// Its name.
    pub name: String,
    /// The template it came from.
    pub template: String,
    /// Its image.
    pub image: String,
    /// SHA-256 of its spec.
    pub spec_sha256: String,
    /// Its tools as clients see them (`NAME__tool`).
    pub tools: Vec<String>,
    /// How many examples passed.
    pub examples_passed: usize,
    /// Its registration file.
    pub registration: PathBuf,
    /// Whether it was added to a running mesh in this process.
    pub hot_added: bool,
    /// Milliseconds spent in each stage.
    pub stage_ms: Vec<(String, u64)>,
}

/// What was made so far, to be removed if a later stage fails.
#[derive(Default)]
struct Made {
    engine: Option<Engine>,
    image: Option<String>,
    quarantine: Option<Arc<Downstream>>,
    registered: bool,
    added: bool,
}

/// Runs the whole pipeline. On failure nothing is left behind.
///
/// # Errors
/// [`Error::Generate`] naming the stage that failed and why.
pub async fn generate(
    ctx: &Context,
    request: Request,
    progress: Progress<'_>,
) -> Result<Generated, Error> {
    let name = spec::name_of(&request.spec);
    let mut made = Made::default();
    let result = stages(ctx, request, progress, &mut made).await;
    if result.is_err() {
        cleanup(ctx, &name, made).await;
    }
    result.map_err(|(stage, message)| Error::Generate {
        server: name,
        stage: stage.name(),
        message,
    })
}

type StageResult<T> = Result<T, (Stage, String)>;

struct Timer<'a> {
    progress: Progress<'a>,
    stage_ms: Vec<(String, u64)>,
    current: Option<(Stage, Instant)>,
}

impl Timer<'_> {
    fn begin(&mut self, stage: Stage, message: impl Into<String>) {
        self.current = Some((stage, Instant::now()));
        (self.progress)(StageEvent {
            stage,
            done: false,
            message: message.into(),
        });
    }

    fn done(&mut self, message: impl Into<String>) {
        if let Some((stage, began)) = self.current.take() {
            let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.stage_ms.push((stage.name().to_string(), ms));
            (self.progress)(StageEvent {
                stage,
                done: true,
                message: message.into(),
            });
        }
    }
}

async fn stages(
    ctx: &Context,
    request: Request,
    progress: Progress<'_>,
    made: &mut Made,
) -> StageResult<Generated> {
    let mut t = Timer {
        progress,
        stage_ms: Vec::new(),
        current: None,
    };
    // 1. validate
    t.begin(
        Stage::Validate,
        format!("checking the spec against template `{}`", request.template),
    );
    let fail = |message: String| (Stage::Validate, message);
    let dir = template::templates_dir(&ctx.config).map_err(|e| fail(e.to_string()))?;
    let template = template::load(&dir, &request.template).map_err(|e| fail(e.to_string()))?;
    let spec =
        spec::validate(&template, request.spec).map_err(|issues| fail(issues_text(&issues)))?;
    name_is_free(ctx, &spec.name).map_err(fail)?;
    let tools = if template.tools_from_server {
        "tools from the server".to_string()
    } else {
        format!("{} tool(s)", spec.tools.len())
    };
    t.done(format!(
        "spec `{}` is valid: {tools}, {} example(s)",
        spec.name,
        spec.examples.len()
    ));

    // 2. render
    t.begin(Stage::Render, "rendering the template's files");
    let tag = image_tag(&spec);
    let files = render(ctx, &template, &spec, &tag)
        .await
        .map_err(|m| (Stage::Render, m))?;
    let bytes: usize = files.iter().map(|f| f.data.len()).sum();
    t.done(format!(
        "{} file(s) in the build context, {} KiB",
        files.len(),
        bytes / 1024
    ));

    // 3. build
    t.begin(Stage::Build, format!("building image {tag}"));
    let fail = |message: String| (Stage::Build, message);
    let engine = Engine::connect().await.map_err(|e| fail(e.to_string()))?;
    if template.build.base.is_some() {
        let progress = t.progress;
        let mut report = |line: &str| {
            tracing::info!(server = %spec.name, "{line}");
            progress(StageEvent {
                stage: Stage::Build,
                done: false,
                message: line.to_string(),
            });
        };
        crate::runtime::docker::python_base::ensure(
            &engine,
            ctx.config.python_base.as_deref(),
            &mut report,
        )
        .await
        .map_err(|e| fail(error_text(&e)))?;
    }
    made.engine = Some(engine.clone());
    made.image = Some(tag.clone());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let created_text = created.to_string();
    let image_labels = [
        (labels::GENERATED, "true"),
        (labels::TEMPLATE, template.name.as_str()),
        (labels::SPEC_SHA256, spec.sha256.as_str()),
        (labels::CREATED, created_text.as_str()),
        (labels::SERVER, spec.name.as_str()),
    ];
    let mut files = files;
    label_dockerfile(&mut files, &image_labels).map_err(fail)?;
    let context = docker::pack_context(&files).map_err(|e| fail(e.to_string()))?;
    let mut log = |line: &str| tracing::debug!(server = %spec.name, "build: {line}");
    // The labels go in the Dockerfile as one LABEL line: the engine's classic builder turns
    // each build-option label into a step of its own (~0.5 s each).
    docker::build_image(&engine, &tag, context, &[], &mut log)
        .await
        .map_err(|e| fail(error_text(&e)))?;
    t.done(format!("image {tag} built"));

    // 4. quarantine
    t.begin(
        Stage::Quarantine,
        match &template.run.network {
            None => "starting it in quarantine (no network, no secrets, limits)".to_string(),
            Some(n) => format!(
                "starting it in quarantine (network `{n}`, as template `{}` needs; no secrets, limits)",
                template.name
            ),
        },
    );
    let server = RawServer {
        image: Some(tag.clone()),
        args: template.run.command.clone(),
        network: template.run.network.clone(),
        description: Some(format!(
            "generated from template `{}`: {}",
            template.name, spec.description
        )),
        ..RawServer::default()
    };
    let server_spec = store::server_spec(
        &spec.name,
        &Registration {
            template: template.name.clone(),
            spec_sha256: spec.sha256.clone(),
            created,
            image: tag.clone(),
            server: server.clone(),
        },
    )
    .map_err(|issues| (Stage::Quarantine, issues_text(&issues)))?;
    let quarantine = quarantine(server_spec.clone());
    made.quarantine = Some(quarantine.clone());
    let peer = quarantine
        .peer(crate::runtime::downstream::START_TIMEOUT)
        .await
        .map_err(|e| (Stage::Quarantine, format!("the server did not start: {e}")))?;
    t.done("it answers MCP in quarantine");

    // 5. contract
    t.begin(
        Stage::Contract,
        format!(
            "checking tools/list and {} example(s) over MCP",
            spec.examples.len()
        ),
    );
    let listed = quarantine.view().tools.clone();
    let spec = if template.tools_from_server {
        server_tools(spec, &listed).map_err(|m| (Stage::Contract, m))?
    } else {
        check_tools(&spec, &listed).map_err(|m| (Stage::Contract, m))?;
        spec
    };
    let mut failures = Vec::new();
    for (i, example) in spec.examples.iter().enumerate() {
        if let Err(why) = run_example(&peer, example).await {
            failures.push(format!(
                "examples[{i}] ({} {}): {why}",
                example.tool,
                Value::Object(example.arguments.clone())
            ));
        }
    }
    // The quarantine ends either way; the mesh starts its own container.
    if let Some(q) = made.quarantine.take() {
        q.shutdown().await;
    }
    if !failures.is_empty() {
        return Err((
            Stage::Contract,
            format!(
                "{} of {} example(s) failed:\n  - {}",
                failures.len(),
                spec.examples.len(),
                failures.join("\n  - ")
            ),
        ));
    }
    t.done(format!(
        "tools/list matches the spec; {} example(s) passed",
        spec.examples.len()
    ));

    // 6. register
    t.begin(Stage::Register, "registering it under the state folder");
    let registration = Registration {
        template: template.name.clone(),
        spec_sha256: spec.sha256.clone(),
        created,
        image: tag.clone(),
        server,
    };
    made.registered = true;
    let path = store::save(&ctx.state_dir, &spec.name, &registration, &spec.value)
        .map_err(|e| (Stage::Register, e.to_string()))?;
    t.done(format!("registered in {}", path.display()));

    // 7. hot-add
    let mut tools: Vec<String> = spec
        .tools
        .iter()
        .map(|tool| crate::registry::names::qualify(&server_spec.prefix, &tool.name))
        .collect();
    let hot_added = if let Some(hub) = &ctx.hub {
        t.begin(Stage::HotAdd, "adding it to the running mesh");
        made.added = true;
        let ds = hub
            .add_server(server_spec)
            .await
            .map_err(|e| (Stage::HotAdd, e.to_string()))?;
        hub.rebuild();
        let catalog = hub.catalog();
        tools = catalog
            .tools
            .iter()
            .filter(|tool| {
                catalog
                    .tool_route(&tool.name)
                    .is_some_and(|r| r.server == ds.spec.name)
            })
            .map(|tool| tool.name.to_string())
            .collect();
        t.done(format!("serving {}", tools.join(", ")));
        true
    } else {
        t.begin(Stage::HotAdd, "no mesh in this process");
        t.done(format!(
            "a running `polyclaw serve` with this state folder adds it within {} s; others at their next start",
            store::WATCH_EVERY.as_secs()
        ));
        false
    };
    Ok(Generated {
        name: spec.name.clone(),
        template: template.name.clone(),
        image: tag,
        spec_sha256: spec.sha256.clone(),
        tools,
        examples_passed: spec.examples.len(),
        registration: path,
        hot_added,
        stage_ms: t.stage_ms,
    })
}

/// Appends one `LABEL` line with `labels` to the context's Dockerfile.
fn label_dockerfile(files: &mut [ContextFile], labels: &[(&str, &str)]) -> Result<(), String> {
    let dockerfile = files
        .iter_mut()
        .find(|f| f.path == "Dockerfile")
        .ok_or("the template renders no Dockerfile")?;
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", Value::from(*k), Value::from(*v)))
        .collect();
    if !dockerfile.data.ends_with(b"\n") {
        dockerfile.data.push(b'\n');
    }
    dockerfile
        .data
        .extend_from_slice(format!("LABEL {}\n", pairs.join(" ")).as_bytes());
    Ok(())
}

fn issues_text(issues: &[ConfigIssue]) -> String {
    format!(
        "the spec has {} problem(s):\n  - {}",
        issues.len(),
        issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  - ")
    )
}

/// An error with its causes, for reports.
fn error_text(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn name_is_free(ctx: &Context, name: &str) -> Result<(), String> {
    let in_mesh = ctx.hub.as_ref().is_some_and(|m| m.server(name).is_some());
    let registered = store::names(&ctx.state_dir).contains(name);
    if in_mesh || registered || ctx.taken.iter().any(|t| t == name) || name == "polyclaw" {
        let how = if registered {
            format!("`polyclaw servers remove {name}` removes the generated one")
        } else {
            "remove it from the config first".to_string()
        };
        return Err(format!(
            "a server named `{name}` already exists; pick another name, or {how}"
        ));
    }
    Ok(())
}

pub use crate::hub::registrations::IMAGE_PREFIX;

/// `polyclaw-gen/NAME:SHA12` (lower case, as image references must be).
fn image_tag(spec: &Spec) -> String {
    let mut repo: String = spec
        .name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    repo = repo.trim_matches('-').to_string();
    while repo.contains("--") {
        repo = repo.replace("--", "-");
    }
    if repo.is_empty() {
        repo = "server".into();
    }
    format!(
        "{IMAGE_PREFIX}{repo}:{}",
        spec.sha256.get(..12).unwrap_or("latest")
    )
}

/// The build context: rendered files, the recipe's binaries, then the host check.
async fn render(
    ctx: &Context,
    template: &Template,
    spec: &Spec,
    tag: &str,
) -> Result<Vec<ContextFile>, String> {
    let recipe = &template.build;
    let mut files = Vec::new();
    let mut binaries = Vec::new();
    // Loaders and shared libraries of dynamically linked binaries, under rootfs/ at their
    // host paths (one copy each, whichever binary needs it first).
    let mut libraries: Vec<ContextFile> = Vec::new();
    if recipe.spec_binaries {
        let listed = spec
            .value
            .get("binaries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, b) in listed.iter().enumerate() {
            let Some(host) = b.as_str() else { continue };
            let host = Path::new(host);
            let file_name = host
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| template::safe_relative(n))
                .ok_or_else(|| format!("binaries[{i}]: `{}` has no file name", host.display()))?;
            let data = tokio::fs::read(host).await.map_err(|e| {
                format!(
                    "binaries[{i}]: cannot read {} ({e}); name an executable on this host",
                    host.display()
                )
            })?;
            libraries.extend(
                docker::runtime_files(host, &data, ROOTFS)
                    .await
                    .map_err(|e| format!("binaries[{i}]: {}", error_text(&e)))?,
            );
            let context = format!("rootfs/bin/{file_name}");
            if files.iter().any(|f: &ContextFile| f.path == context) {
                return Err(format!(
                    "binaries[{i}]: another binary is already named `{file_name}`"
                ));
            }
            binaries.push(json!({
                "context": context,
                "image": format!("/bin/{file_name}"),
                "host": host.display().to_string(),
            }));
            files.push(ContextFile {
                path: context,
                data,
                mode: 0o755,
            });
        }
    }
    for own in &recipe.own_binaries {
        let path = own_binary(&own.package).await?;
        let data = tokio::fs::read(&path)
            .await
            .map_err(|e| format!("cannot read {} ({e})", path.display()))?;
        libraries.extend(
            docker::runtime_files(&path, &data, ROOTFS)
                .await
                .map_err(|e| error_text(&e))?,
        );
        files.push(ContextFile {
            path: own.to.clone(),
            data,
            mode: 0o755,
        });
    }
    for library in libraries {
        if !files.iter().any(|f| f.path == library.path) {
            files.push(library);
        }
    }
    let base_image = recipe.base.as_ref().map(|_| {
        crate::runtime::docker::python_base::base_tag(ctx.config.python_base.as_deref()).to_string()
    });
    let context = json!({
        "spec": spec.value,
        "binaries": binaries,
        "base_image": base_image,
        "image": tag,
        "template": template.name,
    });
    let rendered = template.render_files(&context)?;
    for f in rendered {
        files.retain(|existing| existing.path != f.path);
        files.push(f);
    }
    if !recipe.check.is_empty() {
        host_check(&recipe.check, &files).await?;
    }
    Ok(files)
}

/// Writes the context to a temporary folder and runs the recipe's check in it.
async fn host_check(check: &[String], files: &[ContextFile]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    for f in files {
        let path = dir.path().join(&f.path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        tokio::fs::write(&path, &f.data)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode)).await;
        }
    }
    let Some((program, args)) = check.split_first() else {
        return Ok(());
    };
    let program = dir.path().join(program);
    let (ok, output) =
        crate::runtime::process::run_check(&program, args, dir.path(), CHECK_TIMEOUT)
            .await
            .map_err(|e| error_text(&e))?;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the rendered server does not pass its check ({}):\n{}",
            check.join(" "),
            output.trim()
        ))
    }
}

/// The build of one of polyclaw's packages: next to the running binary (an installed polyclaw,
/// or `target/release` after the README's `cargo build --release`), else built in the source
/// tree the way `polyclaw images build` builds it.
async fn own_binary(package: &str) -> Result<PathBuf, String> {
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(package)))
        && beside.is_file()
    {
        return Ok(beside);
    }
    let source = crate::runtime::docker::cargo::source_dir(None).map_err(|e| e.to_string())?;
    let profile = docker::cargo::own_profile();
    tracing::info!(
        package,
        %profile,
        "compiling polyclaw's servers (the README's cargo build; the first time takes a few minutes)"
    );
    let bins = tokio::task::spawn_blocking(move || {
        docker::cargo::build(&source, &profile, docker::cargo::Output::Quiet)
    })
    .await
    .map_err(|e| format!("the build task failed: {e}"))?
    .map_err(|e| error_text(&e))?;
    bins.get(package).cloned().ok_or_else(|| {
        format!("cargo build did not build {package}; is it a default member of the workspace?")
    })
}

/// A supervisor for the new image that is not part of any mesh: its own cancellation token,
/// event channel and relay; nothing reaches clients.
fn quarantine(spec: ServerSpec) -> Arc<Downstream> {
    let root = CancellationToken::new();
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    Downstream::new(spec, &root, events, Arc::new(Relay::default()))
}

/// The server's own tools become the spec's (a template with `tools = "server"`); the
/// examples must name them and fit their input schemas.
fn server_tools(mut spec: Spec, listed: &[rmcp::model::Tool]) -> Result<Spec, String> {
    if listed.is_empty() {
        return Err("the server lists no tools".into());
    }
    spec.tools = listed
        .iter()
        .map(|t| spec::ToolSpec {
            name: t.name.to_string(),
            description: t.description.as_deref().unwrap_or_default().to_string(),
            input_schema: Value::Object((*t.input_schema).clone()),
        })
        .collect();
    let issues = spec::check_examples(&spec.tools, &spec.examples, false);
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(format!(
            "the examples do not fit the server's tools:\n  - {}",
            issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  - ")
        ))
    }
}

/// `tools/list` must name exactly the spec's tools, each with the spec's arguments.
fn check_tools(spec: &Spec, listed: &[rmcp::model::Tool]) -> Result<(), String> {
    let mut problems = Vec::new();
    for tool in &spec.tools {
        match listed.iter().find(|l| l.name == tool.name) {
            None => problems.push(format!("tool `{}` is missing from tools/list", tool.name)),
            Some(l) => {
                let want = property_names(&tool.input_schema);
                let got = property_names(&Value::Object((*l.input_schema).clone()));
                if want != got {
                    problems.push(format!(
                        "tool `{}` takes {got:?} but the spec says {want:?}",
                        tool.name
                    ));
                }
            }
        }
    }
    for l in listed {
        if !spec.tools.iter().any(|t| t.name == l.name) {
            problems.push(format!(
                "tools/list has `{}`, which the spec does not",
                l.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tools/list does not match the spec:\n  - {}",
            problems.join("\n  - ")
        ))
    }
}

fn property_names(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Calls one example and compares; `Err` says what was expected and what came back.
async fn run_example(
    peer: &rmcp::service::Peer<rmcp::service::RoleClient>,
    example: &Example,
) -> Result<(), String> {
    let mut params = CallToolRequestParams::new(example.tool.clone());
    params.arguments = Some(example.arguments.clone());
    let result = match tokio::time::timeout(EXAMPLE_TIMEOUT, peer.call_tool(params)).await {
        Err(_) => return Err(format!("no answer within {} s", EXAMPLE_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("the call failed: {e}")),
        Ok(Ok(r)) => r,
    };
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    let is_error = result.is_error.unwrap_or(false);
    let mut why = Vec::new();
    if is_error != example.is_error {
        why.push(if is_error {
            "expected a result, got an error result".to_string()
        } else {
            "expected an error result, got a result".to_string()
        });
    }
    for fragment in &example.expect {
        if !text.contains(fragment.as_str()) {
            why.push(format!("expected text containing {fragment:?}"));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        let quoted: String = text.chars().take(QUOTE_CHARS).collect();
        let cut = if text.chars().count() > QUOTE_CHARS {
            "…"
        } else {
            ""
        };
        Err(format!("{}; got {quoted:?}{cut}", why.join("; ")))
    }
}

/// Removes whatever a failed run made, in reverse order; failures are logged.
async fn cleanup(ctx: &Context, name: &str, made: Made) {
    if made.added
        && let Some(hub) = &ctx.hub
        && hub.server(name).is_some()
    {
        let _ = hub.remove_server(name).await;
    }
    if made.registered
        && let Err(e) = store::remove(&ctx.state_dir, name)
    {
        tracing::warn!(server = %name, "cannot remove the registration: {e}");
    }
    if let Some(q) = made.quarantine {
        q.shutdown().await;
    }
    if let (Some(engine), Some(image)) = (&made.engine, &made.image) {
        match engine.remove_image(image).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(server = %name, "cannot remove image {image}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_are_valid_references() {
        let mut spec = Spec {
            value: Value::Null,
            name: "My_Tools-".into(),
            description: String::new(),
            tools: Vec::new(),
            examples: Vec::new(),
            sha256: "0123456789abcdef".into(),
        };
        assert_eq!(image_tag(&spec), "polyclaw-gen/my-tools:0123456789ab");
        spec.name = "__".into();
        assert_eq!(image_tag(&spec), "polyclaw-gen/server:0123456789ab");
    }
}
