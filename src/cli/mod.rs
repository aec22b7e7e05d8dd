//! The `cashier` command line: each subcommand is a module with a pure `run` function (input
//! in, output text and exit status out) so that it is tested without spawning processes.

pub mod chaos;
pub mod chaos_child;
pub mod chaos_power;
pub mod demo;
pub mod demo_medical;
pub mod load;
pub mod load_chart;
pub mod load_notify;
pub mod reconcile;
pub mod serve;
pub mod sign;
pub mod sim;
pub mod soak;
pub mod soak_child;

/// What a subcommand produced: its standard output and its exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// Text for standard output.
    pub stdout: String,
    /// The process exit status.
    pub exit_code: i32,
}
