//! The CCP log reader on arbitrary bytes: never a panic, whatever the file holds; a file read
//! whole counts no more dropped entries than it has, and the scrubber lets no control character through.
#![no_main]

use std::path::PathBuf;

use connect_preflight::allowlist::text_of;
use connect_preflight::ccplog::{self, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = PathBuf::from("agent-log.txt");
    let Ok(text) = text_of(&path, data.to_vec()) else {
        return;
    };
    let _ = ccplog::json::parse(&text);
    assert!(!ccplog::scrub::text(&text, 300).chars().any(char::is_control));
    let inputs = [Input { path, text }];
    if let Ok(log) = ccplog::analyse(&inputs, &Default::default()) {
        let file = &log.input.files[0];
        assert!(file.duplicates + file.not_entries <= file.entries);
        let report = ccplog::report::build(log, String::new(), 0);
        let _ = ccplog::report::text(&report);
        let _ = ccplog::report::json(&report);
    }
});
