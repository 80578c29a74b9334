//! Harnesses that prove cargohold holds under faults and load, against the real
//! binary: [`crash`] kills the server with SIGKILL in the middle of changes and
//! checks nothing acknowledged was lost; [`load`] runs many clients at once and
//! counts every answer. `cargo run --release -p cargohold-reliability -- --help`
//! runs them at full length; the test suite runs them briefly.

pub mod crash;
pub mod load;
pub mod node;

/// The progress bar of a harness run: position, length, elapsed, message.
pub fn bar_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]")
        .expect("a valid template")
}
