//! Where the servers under test and the load generator run: on every core as the
//! kernel places them, or each on cores of its own.

use std::ffi::OsStr;
use std::process::Command;

/// How a throughput run places its processes on the machine's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Server and wrk (two threads) on every core, as the kernel places them. On a
    /// two-core machine each request then waits in turn for a core both want.
    Shared,
    /// The server alone on core 0 (nginx with one worker, tokio runtimes with one
    /// worker thread, as each sizes itself to the cores it may use) and wrk with
    /// one thread alone on core 1: what each server does with one core of its own,
    /// without the scheduler's choices between wrk's threads and the server's.
    Split,
}

impl Placement {
    /// `taskset`'s list of the cores a server runs on, when it is pinned.
    pub fn server_cores(self) -> Option<&'static str> {
        match self {
            Placement::Shared => None,
            Placement::Split => Some("0"),
        }
    }

    /// `taskset`'s list of the cores wrk runs on, when it is pinned.
    pub fn load_cores(self) -> Option<&'static str> {
        match self {
            Placement::Shared => None,
            Placement::Split => Some("1"),
        }
    }

    /// wrk's threads: one per core it runs on.
    pub fn load_threads(self) -> u32 {
        match self {
            Placement::Shared => 2,
            Placement::Split => 1,
        }
    }
}

/// `program`, pinned to `cores` with `taskset` when given.
pub fn on_cores(program: impl AsRef<OsStr>, cores: Option<&str>) -> Command {
    match cores {
        Some(cores) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cores]).arg(program);
            command
        }
        None => Command::new(program),
    }
}
