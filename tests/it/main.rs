//! dockhand's integration tests, as one test binary: the shared `support` code (real and fake
//! registries, running the binary, fixtures) is compiled and linked once instead of once per test
//! file, and every helper is reachable from every test.
//!
//! A new test file is one module here: put it in `tests/it/` and add its `mod` line below
//! (a file directly in `tests/` would become a test binary of its own again).
//! Test ids are `module::name` (`cargo nextest run -E 'test(/^cleanup::/)'`).

mod all_repositories;
mod ci;
mod cleanup;
mod cli;
mod examples;
mod fake_oci;
mod fleet;
mod forge_github;
mod forge_gitlab;
mod github_budgets;
mod harness;
mod kube_in_use;
mod packaging;
mod promote;
mod proptests;
mod publish;
mod registries;
mod registry;
mod robustness;
mod sources;
mod support;
mod sync;
mod targets;
mod terminal;
mod untagged;
