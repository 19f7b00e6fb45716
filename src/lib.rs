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
pub mod catalog;
pub mod catalog_info;
pub mod ccplog;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod generate;
pub mod input;
pub mod judge;
pub mod media;
pub mod net;
pub mod output;
pub mod plan;
pub mod probe;
pub mod ranges;
pub mod remedy;
pub mod report;
pub mod route;
pub mod run;
pub mod sanitize;
pub mod site_profile;
pub mod summary;
pub mod system;
pub mod transport;
