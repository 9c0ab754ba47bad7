//! Cleanup: inventory (I/O) → plan (pure) → execute (I/O) → report.

pub mod execute;
pub mod git;
pub mod guard;
pub mod inventory;
pub mod model;
pub mod origin;
pub mod plan;
pub mod report;
