//! One thin file per subcommand. Each calls the stages below it in order (config → catalog →
//! route → plan → run → judge → report → render) and returns the exit code; none holds a stage
//! itself, and nothing below this folder knows a command exists.

pub(crate) mod agent;
pub(crate) mod audit;
pub(crate) mod catalog;
pub(crate) mod ccp_log;
pub(crate) mod check;
pub(crate) mod endpoints;
pub(crate) mod generate;
pub(crate) mod profile;
pub(crate) mod ranges;
pub(crate) mod summarize;
