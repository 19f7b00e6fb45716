//! The Windows build run under Wine: the release `x86_64-pc-windows-gnu` executable and the MSI
//! around it (both from `packaging/build-windows.sh`), each test in a Wine prefix of its own made
//! from a fresh one per run. Offline commands against the Linux build, `check` against the
//! loopback servers of the CLI tests with the Windows proxy settings written to Wine's registry,
//! `agent`, and the MSI's install, upgrade and uninstall.
//!
//! Not part of a plain `cargo test` (it needs the Windows artefacts first): CI runs it with
//! `cargo test --test wine`. Without Wine or the artefacts it prints a SKIP line, and fails when
//! CI=true.

// The suite reports what it measured (the prefix's making, run times) on stderr.
#![allow(clippy::print_stderr)]

#[path = "../cli/lab.rs"]
#[allow(dead_code)]
mod lab;

mod agent;
mod check;
mod msi;
mod offline;
mod prefix;
mod serve;
