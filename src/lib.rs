//! dockhand: publish built images to any container registry and clean up old tags.
//!
//! The binary (`main.rs`) is thin glue; the layers, from the edge inwards:
//! `cli` (raw arguments) → `settings` (validated, layered over env and `config`) → `commands`
//! (one per subcommand) → `registry` (one transport, the OCI data plane, per-implementation
//! behaviour). Pure cores — `naming`, `detect`, `implementation` — do no I/O.

// Only `env` reads the process environment (clippy.toml); everything else asks its snapshot.
#![warn(clippy::disallowed_methods)]

pub mod ci;
pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod detect;
#[cfg(test)]
mod docs_guard;
pub mod env;
pub mod error;
pub mod fixtures;
pub mod forge;
pub mod implementation;
pub mod kube;
pub mod log;
#[cfg(test)]
mod module_graph;
pub mod naming;
pub mod options;
pub mod origin;
pub mod promote;
pub mod publish;
pub mod registry;
pub mod secret;
pub mod settings;
pub mod signals;
pub mod sync;

pub use error::{Error, Kind, Result};
