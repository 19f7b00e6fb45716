//! Tests of the binary as users and pipelines run it.

mod audit;
