//! Cleanup: inventory (I/O) → plan (pure) → execute (I/O) → report.

pub mod execute;
/// Forge clients moved to the crate root (`crate::forge`); this alias keeps older paths working.
pub use crate::forge;
pub mod git;
pub mod guard;
pub mod inventory;
pub mod model;
pub mod origin;
pub mod plan;
pub mod report;
