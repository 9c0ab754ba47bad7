//! The option table and its value layers live in [`crate::options`] (the library below the edge
//! reads them too); named here for the settings code.

pub use crate::options::*;
