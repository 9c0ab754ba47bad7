//! `dockhand sync`: keep a mirror repository equal to its source for the matching tags.
//!
//! `plan` is pure (two tag → digest maps in, the actions out); `execute` carries a plan out
//! through the copy engine and the registry's untag path; `report` renders the outcome. The dry
//! run and the real run share the plan, so the dry run shows exactly what the real run does.

pub mod execute;
pub mod plan;
pub mod report;
