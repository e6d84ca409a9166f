//! What the CLI's subcommands do, as library functions, so tests drive exactly what users
//! run. `run` dispatches; each submodule holds one family of commands. Human output goes to
//! stdout, logs to stderr.

mod generate;
mod guard;
pub mod images;
mod inspect;
mod plan;
mod serve;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::clients::{connect, import};
use crate::config::{Config, Expose};
use crate::error::Error;

/// A parsed command line.
#[derive(Debug)]
pub struct Invocation {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// The subcommand.
    pub action: Action,
}

/// One subcommand with its arguments.
#[derive(Debug)]
pub enum Action {
    /// `serve`
    Serve {
        /// `--http ADDR`
        http: Option<SocketAddr>,
        /// `--token`
        token: Option<String>,
        /// `--expose`
        expose: Option<Expose>,
        /// `--insecure-no-auth`
        insecure_no_auth: bool,
    },
    /// `approvals list`
    ApprovalsList {
        /// `--all`
        all: bool,
        /// `--json`
        json: bool,
    },
    /// `approvals approve|deny ID`
    ApprovalsDecide {
        /// The approval.
        id: String,
        /// Approve (else deny).
        approve: bool,
    },
    /// `audit`
    Audit {
        /// `--follow`
        follow: bool,
        /// `--json`
        json: bool,
        /// `--server`
        server: Option<String>,
        /// `--tool`
        tool: Option<String>,
    },
    /// `servers list`
    ServersList {
        /// `--json`
        json: bool,
    },
    /// `tools list`
    ToolsList {
        /// `--json`
        json: bool,
    },
    /// `tools approve`
    ToolsApprove {
        /// The server.
        server: String,
        /// Its tools (none: all).
        tools: Vec<String>,
    },
    /// `tools call`
    ToolsCall {
        /// Tool name.
        name: String,
        /// JSON arguments.
        args: String,
        /// `--json`
        json: bool,
    },
    /// `import`
    Import {
        /// Input file.
        file: PathBuf,
        /// `--output`
        output: Option<PathBuf>,
        /// `--force`
        force: bool,
    },
    /// `doctor`
    Doctor,
    /// `connect`
    Connect {
        /// Which client.
        client: connect::Client,
        /// `--url`
        url: Option<String>,
        /// `--token-env`
        token_env: Option<String>,
        /// `--write`
        write: bool,
    },
    /// `config default`
    ConfigDefault,
    /// `config check`
    ConfigCheck,
    /// `config schema`
    ConfigSchema,
    /// `plan schema`
    PlanSchema,
    /// `plan validate FILE`
    PlanValidate {
        /// Plan file.
        file: PathBuf,
    },
    /// `plan show FILE`
    PlanShow {
        /// Plan file.
        file: PathBuf,
    },
    /// `plan run FILE`
    PlanRun {
        /// Plan file.
        file: PathBuf,
        /// `--json`
        json: bool,
    },
    /// `runs list`
    RunsList,
    /// `images build`
    ImagesBuild {
        /// `--only`
        only: Vec<String>,
        /// `--source`
        source: Option<PathBuf>,
    },
    /// `images base python`
    ImagesBasePython {
        /// `--mirror`
        mirror: String,
        /// `--rebuild`
        rebuild: bool,
    },
    /// `generate --template T --spec FILE`
    Generate {
        /// Template name.
        template: String,
        /// Spec file (YAML or JSON).
        spec: PathBuf,
        /// `--json`
        json: bool,
    },
    /// `servers remove NAME`
    ServersRemove {
        /// The generated server.
        name: String,
    },
    /// `templates list`
    TemplatesList {
        /// `--json`
        json: bool,
    },
    /// `runs show ID`
    RunsShow {
        /// Run id or prefix.
        id: String,
        /// `--svg FILE`
        svg: Option<PathBuf>,
    },
}

/// Runs one invocation to completion.
///
/// # Errors
/// Whatever the command failed with; the message says what to do next.
pub async fn run(inv: Invocation) -> Result<ExitCode, Error> {
    let load = || Config::discover(inv.config.as_deref());
    match inv.action {
        Action::Serve {
            http,
            token,
            expose,
            insecure_no_auth,
        } => {
            if let Some(addr) = http {
                serve::check_exposure(addr, token.is_some(), insecure_no_auth)?;
            }
            let mut config = load()?;
            if let Some(e) = expose {
                config.front.expose = e;
            }
            serve::serve(config, http, token).await?;
            Ok(ExitCode::SUCCESS)
        }
        Action::ApprovalsList { all, json } => guard::list(&load()?, all, json),
        Action::ApprovalsDecide { id, approve } => guard::decide(&load()?, &id, approve),
        Action::Audit {
            follow,
            json,
            server,
            tool,
        } => guard::show(&load()?, &guard::AuditFilter { server, tool }, json, follow).await,
        Action::ServersList { json } => inspect::servers_list(&load()?, json).await,
        Action::ToolsList { json } => inspect::tools_list(&load()?, json).await,
        Action::ToolsCall { name, args, json } => {
            inspect::tools_call(&load()?, &name, &args, json).await
        }
        Action::ToolsApprove { server, tools } => {
            let config = load()?;
            if !config.servers.iter().any(|s| s.name == server) {
                return Err(Error::UnknownServer(server));
            }
            let pins = crate::registry::pins::Pins::new(
                Some(config.plans.pins_path()),
                config.security.tool_drift,
            );
            let n = pins.approve(&server, &tools).map_err(Error::InvalidInput)?;
            out(&format!(
                "approved {n} tool(s) of `{server}`: their next definition is accepted and pinned"
            ));
            Ok(ExitCode::SUCCESS)
        }
        Action::Doctor => Ok(inspect::doctor(inv.config.as_deref()).await),
        Action::Import {
            file,
            output,
            force,
        } => import_file(&file, output.as_deref(), force),
        Action::Connect {
            client,
            url,
            token_env,
            write,
        } => connect_client(client, inv.config, url, token_env, write),
        Action::ConfigDefault => {
            out(crate::config::EMBEDDED_DEFAULT);
            Ok(ExitCode::SUCCESS)
        }
        Action::ConfigCheck => {
            let config = load()?;
            out(&format!(
                "{} is valid: {} server(s)",
                config.source,
                config.servers.len()
            ));
            for s in &config.servers {
                out(&format!(
                    "  {:<16} {:<8} {}",
                    s.name,
                    s.kind(),
                    s.endpoint()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::PlanSchema => {
            out(
                &serde_json::to_string_pretty(&polyclaw_planner::plan::plan_schema())
                    .unwrap_or_default(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::PlanValidate { file } => plan::validate(&load()?, &file).await,
        Action::PlanShow { file } => plan::show(&load()?, &file).await,
        Action::PlanRun { file, json } => plan::run(&load()?, &file, json).await,
        Action::RunsList => plan::runs_list(&load()?),
        Action::ImagesBuild { only, source } => images::build(source.as_deref(), &only).await,
        Action::ImagesBasePython { mirror, rebuild } => images::base_python(&mirror, rebuild).await,
        Action::RunsShow { id, svg } => plan::runs_show(&load()?, &id, svg.as_deref()),
        Action::Generate {
            template,
            spec,
            json,
        } => generate::generate(&load()?, &template, &spec, json).await,
        Action::ServersRemove { name } => generate::servers_remove(&load()?, &name).await,
        Action::TemplatesList { json } => generate::templates_list(&load()?, json),
        Action::ConfigSchema => {
            let schema = schemars::schema_for!(crate::config::RawConfig);
            out(&serde_json::to_string_pretty(&schema).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes a line to stdout, ignoring a closed pipe (`polyclaw tools list | head`).
pub(crate) fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

fn import_file(
    file: &std::path::Path,
    output: Option<&std::path::Path>,
    force: bool,
) -> Result<ExitCode, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        context: format!("cannot read {}", file.display()),
        source,
    })?;
    let (raw, warnings) = import::import_mcp_servers(file, &text)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let toml = import::to_toml_from(&raw, file, &warnings)?;
    match output {
        None => out(&toml),
        Some(path) => {
            if path.exists() && !force {
                return Err(Error::InvalidInput(format!(
                    "{} exists; pass --force to overwrite it",
                    path.display()
                )));
            }
            std::fs::write(path, toml).map_err(|source| Error::Io {
                context: format!("cannot write {}", path.display()),
                source,
            })?;
            eprintln!(
                "wrote {} with {} server(s); check it with `polyclaw --config {} doctor`",
                path.display(),
                raw.servers.len(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connect_client(
    client: connect::Client,
    config: Option<PathBuf>,
    url: Option<String>,
    token_env: Option<String>,
    write: bool,
) -> Result<ExitCode, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        context: "cannot find the polyclaw binary's path".into(),
        source,
    })?;
    let config = config.map(|c| std::fs::canonicalize(&c).unwrap_or(c));
    let launch = connect::Launch {
        exe,
        config,
        http_url: url,
        token_env,
    };
    let snippet = connect::client_config(client, &launch);
    let json = connect::document(client, &snippet.json);
    if write {
        let Some(path) = &snippet.path else {
            return Err(Error::InvalidInput(
                "this client has no config file polyclaw knows how to write; add the entry by hand"
                    .into(),
            ));
        };
        let outcome = connect::write_into(path, client, &snippet.json)?;
        eprintln!("{outcome}");
        for n in &outcome.notes {
            eprintln!("note: {n}");
        }
    } else {
        if let Some(path) = &snippet.path {
            out(&format!("# add this to {}", path.display()));
        }
        out(&json);
        if let Some(shell) = &snippet.shell {
            out(&format!("\n# or run:\n{shell}"));
        }
    }
    for n in &snippet.notes {
        eprintln!("note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
