//! CLI tests of the binary. Every test that runs a live check points it at loopback fakes
//! (`--endpoints`, `--dns-server`, `--ip-ranges`, `--ca-file`) and scrubs the environment, so no
//! test ever reaches a real host.

mod check;
mod lab;
