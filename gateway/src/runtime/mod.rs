//! The compiled, immutable form of the dynamic configuration that requests are served from.

pub mod compile;
pub mod router_table;
pub mod service;
pub mod status;
pub mod wrr;

pub use compile::{compile, CompileContext};
pub use router_table::{Route, RouterTable};
pub use status::ConfigStatus;

/// One consistent version of the configuration: a router table per entrypoint and the state
/// of every object. Swapped in whole; a request keeps the snapshot it started with.
#[derive(Debug, Default)]
pub struct Snapshot {
    tables: Vec<RouterTable>,
    /// Every object's state.
    pub status: ConfigStatus,
}

impl Snapshot {
    /// A snapshot that routes nothing (404 everywhere), for `entry_points` entrypoints.
    pub fn empty(entry_points: usize) -> Self {
        Self {
            tables: (0..entry_points).map(|_| RouterTable::default()).collect(),
            status: ConfigStatus::default(),
        }
    }

    /// The router table of the entrypoint at `index` in [`CompileContext::entry_points`].
    pub fn table(&self, index: usize) -> Option<&RouterTable> {
        self.tables.get(index)
    }
}
