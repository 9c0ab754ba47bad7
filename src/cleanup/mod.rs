//! Cleanup: inventory (I/O) → plan (pure) → execute (I/O) → report.

pub mod execute;
pub mod git;
pub mod guard;
pub mod inventory;
pub mod model;
/// Origin records moved to `crate::origin` (publish writes them); named here as before.
pub use crate::origin;
pub mod plan;
pub mod report;
pub mod repositories;
