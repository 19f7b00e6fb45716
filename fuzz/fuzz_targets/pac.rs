//! PAC scripts on arbitrary text: the engine never panics or hangs past its deadline.
#![no_main]

use std::path::Path;
use std::time::Duration;

use connect_preflight::allowlist::pac::evaluate_within;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let requests = [(
        "https://acme.my.connect.aws/ccp-v2/".to_owned(),
        "acme.my.connect.aws".to_owned(),
    )];
    let _ = evaluate_within(
        text,
        Path::new("fuzz.pac"),
        &requests,
        Duration::from_millis(200),
    );
});
