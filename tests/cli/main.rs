//! Tests of the built binary: its command line, outputs, errors and exit codes.

mod audit;
mod common;
mod core;
mod docs;
mod reports;
mod schema;
mod summarize;
