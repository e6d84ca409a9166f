//! The registry: what each server offers and how the front door's names map onto it.
//!
//! `names` holds the naming rules (`server__tool`); `catalog` builds the merged, routed view
//! of every server's tools, prompts and resources; `pins` notices tools whose definition
//! changed since first seen; `policy` decides which calls run, ask or never run; `redact`
//! replaces known secrets. Nothing here talks to a server: the
//! runtime fills [`ServerView`]s, the catalog only arranges them.

pub mod catalog;
pub mod names;
pub mod pins;
pub mod policy;
pub mod redact;

pub use catalog::{Catalog, Route, ServerView};
