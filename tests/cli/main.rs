//! Tests of the built binary: its command line, outputs, errors and exit codes.

mod common;
mod core;
mod docs;
mod reports;
mod schema;
mod summarize;
