//! Integration-test harness shared by every dockhand integration test: a module of the one test
//! binary (`tests/it/main.rs`); a test module reaches it as `crate::support`.
//!
//! Everything here binds loopback only (127.0.0.1, plus the name `localhost`
//! for the redirect target), picks ports at run time, keeps its files in temp
//! directories and stops its processes and threads on `Drop`, including while
//! a test panics. The in-process servers (token server, proxy, redirect pair)
//! each run on their own thread with their own Tokio runtime, so they work
//! from `#[test]` and from `#[tokio::test]` of either flavour, and keep
//! answering while the test blocks (e.g. on `std::process::Command::output`).
//!
//! Main entry points:
//! - [`RegistryServer`]: a real `docker-registry` 2.8 process (anonymous,
//!   htpasswd or token auth).
//! - [`TokenServer`]: a Docker token server the real registry trusts.
//! - [`FaultProxy`]: a streaming reverse proxy that records and injects faults.
//! - [`RedirectPair`]: a fake registry whose blob GET redirects to another host.
//! - [`RegistryClient`], [`push_image`], [`push_index`]: seed content without dockhand.

mod bg;
pub mod client;
pub mod fake_acr;
pub mod fake_dockerhub;
pub mod fake_ecr;
pub mod fake_gcr;
pub mod fake_github;
pub mod fake_gitlab;
pub mod fake_harbor;
pub mod fake_oci;
pub mod fake_quay;
pub mod layouts;
pub mod mixed_plan;
pub mod ports;
pub mod proxy;
pub mod redirect;
pub mod registry;
pub mod report;
pub mod run;
pub mod token_server;
pub mod util;

pub use client::{Creds, MANIFEST_ACCEPT, RegistryClient, push_image, push_index};
pub use ports::{bind_loopback, free_port};
pub use proxy::{Fault, FaultAction, FaultProxy, SilentServer};
pub use redirect::RedirectPair;
pub use registry::{RegistryAuth, RegistryOptions, RegistryServer};
pub use token_server::{Grant, TokenServer, User};
pub use util::{http_date, parse_challenge, rfc3339, sha256_digest, unix_now};
