//! The `polyclaw` binary: parse the command line, set up logging on stderr, build the
//! runtime, call into the library, turn the outcome into an exit code. Nothing else.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(polyclaw::commands::run(cli.into()));
    // Every child was stopped by `run`; don't wait for stray blocking tasks (stdin reader).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &cli::Cli) {
    let default = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "polyclaw=info,warn",
            1 => "polyclaw=debug,info",
            _ => "trace",
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Known secrets are redacted from every line once a hub has read the config.
        .with_writer(polyclaw::registry::redact::Stderr)
        // Colours only for a person at a terminal, not in log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .init();
}

impl From<cli::Cli> for polyclaw::commands::Invocation {
    fn from(cli: cli::Cli) -> Self {
        use polyclaw::commands::Action;
        let action = match cli.command {
            cli::Command::Serve(a) => Action::Serve {
                http: a.http,
                token: a.token,
                expose: a.expose.map(Into::into),
                insecure_no_auth: a.insecure_no_auth,
            },
            cli::Command::Approvals(cli::ApprovalsCommand::List { all, json }) => {
                Action::ApprovalsList { all, json }
            }
            cli::Command::Approvals(cli::ApprovalsCommand::Approve { id }) => {
                Action::ApprovalsDecide { id, approve: true }
            }
            cli::Command::Approvals(cli::ApprovalsCommand::Deny { id }) => {
                Action::ApprovalsDecide { id, approve: false }
            }
            cli::Command::Audit(a) => Action::Audit {
                follow: a.follow,
                json: a.json,
                server: a.server,
                tool: a.tool,
            },
            cli::Command::Servers(cli::ServersCommand::List { json }) => {
                Action::ServersList { json }
            }
            cli::Command::Tools(cli::ToolsCommand::List { json }) => Action::ToolsList { json },
            cli::Command::Tools(cli::ToolsCommand::Call { name, args, json }) => {
                Action::ToolsCall { name, args, json }
            }
            cli::Command::Tools(cli::ToolsCommand::Approve { server, tools }) => {
                Action::ToolsApprove { server, tools }
            }
            cli::Command::Import(a) => Action::Import {
                file: a.file,
                output: a.output,
                force: a.force,
            },
            cli::Command::Doctor => Action::Doctor,
            cli::Command::Connect(a) => Action::Connect {
                client: a.client,
                url: a.url,
                token_env: a.token_env,
                write: a.write,
            },
            cli::Command::Config(cli::ConfigCommand::Default) => Action::ConfigDefault,
            cli::Command::Config(cli::ConfigCommand::Check) => Action::ConfigCheck,
            cli::Command::Config(cli::ConfigCommand::Schema) => Action::ConfigSchema,
            cli::Command::Plan(cli::PlanCommand::Schema) => Action::PlanSchema,
            cli::Command::Plan(cli::PlanCommand::Validate { file }) => {
                Action::PlanValidate { file }
            }
            cli::Command::Plan(cli::PlanCommand::Show { file }) => Action::PlanShow { file },
            cli::Command::Plan(cli::PlanCommand::Run { file, json }) => {
                Action::PlanRun { file, json }
            }
            cli::Command::Runs(cli::RunsCommand::List) => Action::RunsList,
            cli::Command::Images(cli::ImagesCommand::Build { only, source }) => {
                Action::ImagesBuild { only, source }
            }
            cli::Command::Images(cli::ImagesCommand::Base {
                which: _,
                mirror,
                rebuild,
            }) => Action::ImagesBasePython { mirror, rebuild },
            cli::Command::Runs(cli::RunsCommand::Show { id, svg }) => Action::RunsShow { id, svg },
            cli::Command::Generate(a) => Action::Generate {
                template: a.template,
                spec: a.spec,
                json: a.json,
            },
            cli::Command::Servers(cli::ServersCommand::Remove { name }) => {
                Action::ServersRemove { name }
            }
            cli::Command::Templates(cli::TemplatesCommand::List { json }) => {
                Action::TemplatesList { json }
            }
        };
        Self {
            config: cli.config,
            action,
        }
    }
}
