//! Backends: where a [`Store`](crate::Store) keeps its records, one file each.

pub mod memory;
