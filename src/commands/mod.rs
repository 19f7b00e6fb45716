//! One thin file per subcommand. Each calls the stages below it in order (config → catalog →
//! route → plan → run → judge → report → render) and returns the exit code; none holds a stage
//! itself, and nothing below this folder knows a command exists.

pub mod agent;
pub mod audit;
pub mod catalog;
pub mod ccp_log;
pub mod check;
pub mod endpoints;
pub mod generate;
pub mod profile;
pub mod ranges;
pub mod summarize;
