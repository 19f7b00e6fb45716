//! Domain allow-list readers (plain, URL-style, squid) on arbitrary bytes: never a panic, and
//! every entry found names a line of the input; a squid configuration's `http_access` evaluation
//! never panics either.
#![no_main]

use std::path::Path;

use connect_preflight::allowlist::domains::{parse_plain, parse_squid};
use connect_preflight::allowlist::{Strictness, text_of};
use connect_preflight::audit::squid::{Config, Request};
use connect_preflight::ranges::IpSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.txt");
    let Ok(text) = text_of(path, data.to_vec()) else {
        return;
    };
    let lines = text.lines().count().max(1);
    let config = Config::parse(&text, Path::new("/nonexistent/fuzz.conf"));
    let agents = IpSet::from_ranges([(
        "10.20.0.0".parse().unwrap(),
        "10.20.255.255".parse().unwrap(),
    )]);
    for from in [None, Some(&agents)] {
        let _ = config.decide(&Request {
            host: "acme.my.connect.aws",
            port: 443,
            from,
        });
    }
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        for parse in [parse_plain, parse_squid] {
            if let Ok(list) = parse(&text, path, strictness) {
                for entry in &list.entries {
                    if *entry.span.path == *path {
                        assert!(entry.span.line >= 1 && entry.span.line <= lines);
                    }
                }
            }
        }
    }
});
