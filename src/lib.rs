//! connect-preflight: can this workstation run the Amazon Connect CCP and its softphone, and if
//! not, what exactly must the network team change?
//!
//! The program is one straight pipeline: command line and profile → [`config::Config`] → the
//! requirements of the [`catalog`] → (probes, or an audit of the customer's lists) → a
//! [`report::Report`] → a renderer → an exit code. Everything but the probes is a pure function.

pub mod allowlist;
pub mod app;
#[cfg(test)]
mod architecture;
pub mod audit;
mod catalog;
mod catalog_info;
pub mod ccplog;
pub mod cli;
mod clock;
mod commands;
pub mod config;
mod endpoints;
pub mod error;
mod generate;
mod input;
mod judge;
pub mod media;
mod net;
mod output;
mod plan;
mod probe;
pub mod ranges;
mod remedy;
pub mod report;
mod route;
mod run;
mod sanitize;
mod site_profile;
mod summary;
mod system;
mod transport;
