//! Generation: a missing capability becomes a new, tested, isolated MCP server.
//!
//! A *template* (`templates/NAME/`: a manifest, the JSON Schema of its specs, files to render
//! with minijinja, a build recipe) plus a *spec* (server name, tools, examples) become an image,
//! which is proven in quarantine before anything else sees it:
//!
//! validate spec → render → build image → run in quarantine → contract test → register →
//! hot-add.
//!
//! - `spec`: reading a spec (YAML or JSON), checking it against its template's schema (every
//!   issue with its path) and the checks every template shares (examples name real tools,
//!   their arguments fit the tools' input schemas).
//! - `template`: loading templates and rendering their files.
//! - `pipeline`: the stages, reported through a [`Progress`] callback; any failure removes
//!   what was made (image, container, registration) and says which stage failed and why.
//! - `catalog`: known servers by capability, the planner's first resort for a gap
//!   ([`catalog::fill_gaps`]).
//! - `remove`: a generated server's registration, mesh entry and image, for
//!   `polyclaw servers remove` and `polyclaw__remove_server`.
//!
//! Never here: anything that weakens the quarantine. A generated server runs with the default
//! hardening (no network, no secrets, limits) both in quarantine and in the mesh.

pub mod catalog;
pub mod pipeline;
pub mod remove;
pub mod spec;
pub mod template;

pub use pipeline::{Generated, Request, generate};

/// One stage of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The spec against its template's schema and the shared checks.
    Validate,
    /// Template files rendered with the spec.
    Render,
    /// The image built through the engine.
    Build,
    /// The image run in a hardened container, not part of the mesh.
    Quarantine,
    /// `tools/list` matches the spec; every example passes.
    Contract,
    /// The server persisted under the state folder.
    Register,
    /// The server added to the running mesh.
    HotAdd,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 7] = [
        Stage::Validate,
        Stage::Render,
        Stage::Build,
        Stage::Quarantine,
        Stage::Contract,
        Stage::Register,
        Stage::HotAdd,
    ];

    /// Its name in reports and errors.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Stage::Validate => "validate",
            Stage::Render => "render",
            Stage::Build => "build",
            Stage::Quarantine => "quarantine",
            Stage::Contract => "contract",
            Stage::Register => "register",
            Stage::HotAdd => "hot-add",
        }
    }

    /// 1-based position.
    #[must_use]
    pub fn number(self) -> usize {
        Stage::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the pipeline reports as it goes.
#[derive(Debug, Clone)]
pub struct StageEvent {
    /// The stage.
    pub stage: Stage,
    /// `false` when it begins, `true` when it is done.
    pub done: bool,
    /// What happens or happened, in a few words.
    pub message: String,
}

/// Receives [`StageEvent`]s (the CLI prints a line per stage; the MCP tool sends progress).
pub type Progress<'a> = &'a (dyn Fn(StageEvent) + Send + Sync);
