//! The STUN/TURN reply parser on arbitrary datagrams: never a panic, and a parsed reply carries
//! the transaction ID of the bytes it came from.
#![no_main]

use connect_preflight::media::message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((id, _reply)) = message::parse(data) {
        assert_eq!(&data[8..20], &id[..]);
    }
});
