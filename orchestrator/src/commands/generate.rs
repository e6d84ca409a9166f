//! `polyclaw generate`, `polyclaw servers remove` and `polyclaw templates list`: server
//! generation from the command line. `generate` runs the whole pipeline with a progress line
//! per stage and registers the server; a running `polyclaw serve` with the same state folder
//! picks it up by itself.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::error::Error;
use crate::generate::pipeline::{Context, Request, generate as run_pipeline};
use crate::generate::{Stage, StageEvent, remove, spec, template};
use crate::hub::registrations as store;

use super::out;

/// `generate --template T --spec FILE [--json]`
///
/// # Errors
/// An unreadable spec, or [`Error::Generate`] naming the failed stage.
pub async fn generate(
    config: &Config,
    template_name: &str,
    spec_file: &Path,
    json: bool,
) -> Result<ExitCode, Error> {
    let text = std::fs::read_to_string(spec_file).map_err(|source| Error::Io {
        context: format!("cannot read the spec {}", spec_file.display()),
        source,
    })?;
    let value = spec::parse_text(&text)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", spec_file.display())))?;
    let ctx = Context {
        config: config.generate.clone(),
        state_dir: config.plans.state_dir(),
        taken: config.servers.iter().map(|s| s.name.clone()).collect(),
        hub: None,
    };
    let total = Stage::ALL.len();
    let progress = move |e: StageEvent| {
        let mark = if e.done { "done" } else { "...." };
        eprintln!(
            "[{}/{total}] {:<10} {mark} {}",
            e.stage.number(),
            e.stage.name(),
            e.message
        );
    };
    let request = Request {
        template: template_name.to_string(),
        spec: value,
    };
    let generated = run_pipeline(&ctx, request, &progress).await?;
    if json {
        out(&serde_json::to_string_pretty(&generated).unwrap_or_default());
    } else {
        out(&format!(
            "generated `{}` from template `{}` (image {}); tools: {}",
            generated.name,
            generated.template,
            generated.image,
            generated.tools.join(", ")
        ));
        out(&format!(
            "registered in {}; remove it with `polyclaw servers remove {}`",
            generated.registration.display(),
            generated.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `servers remove NAME`: removes a generated server's registration and image.
///
/// # Errors
/// [`Error::InvalidInput`] for a configured server (it lives in the config file),
/// [`Error::UnknownServer`] for a name that is neither.
pub async fn servers_remove(config: &Config, name: &str) -> Result<ExitCode, Error> {
    let state = config.plans.state_dir();
    let Some(removal) = remove::remove(&state, name, None).await? else {
        if config.servers.iter().any(|s| s.name == name) {
            return Err(Error::InvalidInput(format!(
                "`{name}` comes from {}; remove its [servers.{name}] table there (only generated servers are removed by this command)",
                config.source
            )));
        }
        return Err(Error::UnknownServer(name.to_string()));
    };
    out(&format!(
        "removed the registration of `{name}`; a running `polyclaw serve` drops it within {} s",
        store::WATCH_EVERY.as_secs()
    ));
    for w in &removal.warnings {
        eprintln!("warning: {w}");
    }
    if removal.image_removed {
        out(&format!("removed image {}", removal.image));
    } else if removal.warnings.is_empty() {
        out(&format!("image {} was already gone", removal.image));
    }
    Ok(ExitCode::SUCCESS)
}

/// `templates list [--json]`
///
/// # Errors
/// [`Error::InvalidInput`] when the templates folder cannot be found.
pub fn templates_list(config: &Config, json: bool) -> Result<ExitCode, Error> {
    let dir = template::templates_dir(&config.generate)?;
    let all = template::list(&dir);
    if json {
        let items: Vec<serde_json::Value> = all
            .iter()
            .map(|t| match t {
                Ok(t) => serde_json::json!({"name": t.name, "description": t.description, "schema": t.schema}),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            })
            .collect();
        out(&serde_json::to_string_pretty(&items).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    out(&format!("templates in {}:", dir.display()));
    for t in &all {
        match t {
            Ok(t) => out(&format!("  {:<10} {}", t.name, t.description)),
            Err(e) => out(&format!("  (broken)   {e}")),
        }
    }
    Ok(ExitCode::SUCCESS)
}
