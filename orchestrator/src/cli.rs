//! The command line, as clap types only. Behaviour lives in `polyclaw::commands`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use polyclaw::clients::connect::Client;
use polyclaw::config::Expose;

/// polyclaw — one MCP server in front of many.
///
/// Connect your IDE or agent to polyclaw as a single MCP server; polyclaw runs and reaches the
/// MCP servers listed in polyclaw.toml and serves all their tools, prompts and resources.
#[derive(Debug, Parser)]
#[command(
    name = "polyclaw",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Start here:\n  polyclaw serve --http          serve on http://127.0.0.1:8765/mcp\n  polyclaw connect vscode        show how to plug polyclaw into VS Code\n  polyclaw doctor                check the config and every server"
)]
pub struct Cli {
    /// Config file [default: ./polyclaw.toml, else the embedded default]
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "PATH",
        env = "POLYCLAW_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// More log output on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP to clients: over stdio (what IDE configs launch) or Streamable HTTP.
    Serve(ServeArgs),
    /// Inspect the servers in the registry.
    #[command(subcommand)]
    Servers(ServersCommand),
    /// List or call the tools of every server.
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Convert an MCP client's JSON config (Claude Desktop, VS Code, Cursor) into polyclaw.toml.
    Import(ImportArgs),
    /// Check the config, start every server once, and report what works.
    Doctor,
    /// Print (or write) the config that plugs polyclaw into an MCP client.
    Connect(ConnectArgs),
    /// Show or check configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Validate, show or run a plan (a task graph over the registry's tools).
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Look at plan runs kept in the state folder.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Build container images of polyclaw's own MCP servers and the bases of generated ones (no
    /// registry needed).
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Make a new MCP server from a template and a spec: validate, render, build an image,
    /// prove it in quarantine against the spec's examples, and register it.
    Generate(GenerateArgs),
    /// List the templates servers can be generated from.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// The queue of tool calls waiting for a person's approval: list, approve, deny.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Show the audit trail: every tool call, decision, approval and registry change.
    Audit(AuditArgs),
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List the calls waiting for approval (with --all, decided ones too).
    List {
        /// Decided, used and expired approvals too.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a waiting call: the caller's next identical call runs, once.
    Approve {
        /// The approval's id (from `polyclaw approvals list` or the caller's error).
        id: String,
    },
    /// Refuse a waiting call.
    Deny {
        /// The approval's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Keep printing new lines as they are written.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Print the JSON lines as they are stored.
    #[arg(long)]
    pub json: bool,
    /// Only lines about this server.
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Only lines about this tool (its full name, e.g. git__git_commit).
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Stages (one progress line each on stderr):
  validate    the spec against the template's JSON Schema, every problem with its path
  render      the template's files (minijinja) and the binaries its recipe names
  build       the image, through the Docker Engine API (labels: template, spec SHA-256, time)
  quarantine  the image run hardened: no network, no secrets, memory/CPU/pids limits
  contract    tools/list must match the spec; every example must give its expected text
  register    kept under <state dir>/generated/NAME.toml, loaded at every start
  hot-add     a running `polyclaw serve` with the same state folder adds it within 2 s

Any failure removes the image, the container and the registration, and says which stage
failed and why. Example: polyclaw generate --template command --spec templates/command/example.yaml")]
pub struct GenerateArgs {
    /// The template (`polyclaw templates list`), e.g. `command`.
    #[arg(long, short = 't', value_name = "NAME")]
    pub template: String,
    /// The spec: YAML or JSON with name, description, tools and examples (the template's
    /// schema: `polyclaw templates list --json`).
    #[arg(long, short = 's', value_name = "FILE")]
    pub spec: PathBuf,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List the templates with what each is for.
    List {
        /// Print JSON, with each template's spec schema.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build `FROM scratch` images `polyclaw/NAME:latest` of fs, exec, http, memory, echo and
    /// polyclaw itself through the Docker Engine API, from the binaries of the README's
    /// `cargo build --release` (run first; a no-op when it already ran).
    Build {
        /// Only these (e.g. `fs memory`).
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// polyclaw's source tree [default: the current folder or the binary's checkout].
        #[arg(long, value_name = "DIR")]
        source: Option<PathBuf>,
    },
    /// Build a base image for generated servers, locally (debootstrap, no registry).
    ///
    /// `python`: Debian bookworm (minbase) with python3 and the pinned Python MCP SDK, tagged
    /// polyclaw/python-base:bookworm-mcp2.3.0. A few minutes the first time (network-bound),
    /// then cached: it is skipped while the image exists. Needs root, debootstrap and pip.
    Base {
        /// Which base: `python`.
        #[arg(value_parser = ["python"])]
        which: String,
        /// Debian mirror debootstrap downloads from.
        #[arg(
            long,
            value_name = "URL",
            default_value = "http://deb.debian.org/debian"
        )]
        mirror: String,
        /// Build it again even if it exists.
        #[arg(long)]
        rebuild: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Print the JSON Schema of the plan format.
    Schema,
    /// Check a plan against the registry without running it; every problem is listed.
    Validate {
        /// Plan file (JSON or YAML).
        file: PathBuf,
    },
    /// Print a plan's task graph: steps, dependencies, the order they can run in.
    Show {
        /// Plan file (JSON or YAML).
        file: PathBuf,
    },
    /// Run a plan, showing each step as it starts and ends; the run is kept.
    Run {
        /// Plan file (JSON or YAML).
        file: PathBuf,
        /// Print the final report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List kept runs, newest first.
    List,
    /// Show one run's report.
    Show {
        /// The run id (a unique prefix is enough).
        id: String,
        /// Also draw the run's task graph, steps coloured by state, as an SVG file.
        #[arg(long, value_name = "FILE")]
        svg: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8765")]
    pub http: Option<SocketAddr>,

    /// Require `Authorization: Bearer TOKEN` on HTTP requests.
    #[arg(
        long,
        env = "POLYCLAW_TOKEN",
        hide_env_values = true,
        requires = "http"
    )]
    pub token: Option<String>,

    /// Serve HTTP on a non-loopback address without a token (anyone who reaches the port can
    /// run tools). Refused otherwise.
    #[arg(long, requires = "http")]
    pub insecure_no_auth: bool,

    /// Which tools to list: `all`, or `search` (only polyclaw's own tools; find_tools and
    /// call_tool reach the rest). Overrides `front.expose`.
    #[arg(long, value_enum)]
    pub expose: Option<ExposeArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExposeArg {
    All,
    Search,
}

impl From<ExposeArg> for Expose {
    fn from(e: ExposeArg) -> Self {
        match e {
            ExposeArg::All => Self::All,
            ExposeArg::Search => Self::Search,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// Start every server and list them with status and tool counts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a generated server: its registration and its image (servers from the config
    /// file are removed by editing the file).
    Remove {
        /// The server's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List every tool with its namespaced name.
    List {
        /// Print JSON (full tool definitions) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool and print its result.
    Call {
        /// The namespaced tool name, e.g. `time__get_current_time`.
        name: String,
        /// Arguments as a JSON object.
        #[arg(long, short = 'a', value_name = "JSON", default_value = "{}")]
        args: String,
        /// Print the raw JSON result.
        #[arg(long)]
        json: bool,
    },
    /// Accept the changed definition of tools that polyclaw blocked (`[security] tool_drift`).
    ///
    /// A running polyclaw picks the approval up on the tool's next call.
    Approve {
        /// The server, as named in the config.
        server: String,
        /// Its tools, as the server names them (no prefix); none: every tool of the server.
        tools: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The client's JSON file (claude_desktop_config.json, .vscode/mcp.json, ~/.cursor/mcp.json, .mcp.json).
    pub file: PathBuf,
    /// Write polyclaw.toml here instead of printing it.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The client to connect.
    #[arg(value_enum)]
    pub client: Client,
    /// Connect over HTTP to a running `polyclaw serve --http` at this URL instead of launching polyclaw over stdio.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// With --url: the environment variable holding the bearer token.
    #[arg(long, value_name = "NAME", requires = "url")]
    pub token_env: Option<String>,
    /// Merge the entry into the client's config file (a .bak copy is kept).
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the embedded default configuration (a starting point for polyclaw.toml).
    Default,
    /// Validate the configuration and print the resolved servers (no secrets).
    Check,
    /// Print the JSON Schema of polyclaw.toml.
    Schema,
}
