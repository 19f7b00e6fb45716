//! Compiles `ranges/ip-ranges.json` into the compact form the binary embeds, after the same
//! validation that `ranges update` applies, so a corrupt snapshot fails the build, never a user.

#[path = "src/ranges/format.rs"]
#[allow(dead_code, reason = "the library uses the parts the build does not")]
mod format;

use std::path::PathBuf;

fn main() {
    let source = "ranges/ip-ranges.json";
    println!("cargo::rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("reading {source}: {e}"));
    let raw: format::RawFile =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
    format::validate(&raw).unwrap_or_else(|e| panic!("{source}: {e}"));
    let compact = format::Compact::from_raw(raw);
    let bytes = compact.encode();
    assert_eq!(
        format::Compact::decode(&bytes).as_ref(),
        Some(&compact),
        "the compact form round-trips"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("ip-ranges.bin");
    std::fs::write(&out, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
