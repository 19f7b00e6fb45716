//! Tests of the built binary: its command line, outputs, errors and exit codes. Every test that
//! runs a live check points it at loopback fakes (`--endpoints`, `--dns-server`, `--ip-ranges`,
//! `--ca-file`) and scrubs the environment, so no test ever reaches a real host.

mod agent;
mod audit;
mod catalog;
mod ccplog;
mod ccplog_gen;
mod check;
mod common;
mod core;
mod docs;
mod firewall;
mod hostile;
mod lab;
mod pac_reference;
mod packaging;
mod remedies;
mod reports;
mod schema;
mod summarize;
mod usage;
