#!/usr/bin/env bash
# The Windows release artefacts, cross-built on Linux: the release connect-preflight.exe for
# x86_64-pc-windows-gnu (MinGW) and the per-user MSI around it (wixl), checked by
# packaging/check-msi.sh. Both go to $CARGO_TARGET_DIR/packaging/windows/ (default target/),
# where the Wine suite (cargo test --test wine) takes them. The signed release builds come from
# .github/workflows/release.yml on Windows (MSVC, cargo-wix with the WiX Toolset).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/packaging/windows
rustup target add x86_64-pc-windows-gnu >/dev/null 2>&1 || true

started=$(date +%s)
cargo build --locked --release --target x86_64-pc-windows-gnu
exe=$target_dir/x86_64-pc-windows-gnu/release/connect-preflight.exe
echo "build-windows: release .exe in $(( $(date +%s) - started )) s ($(stat -c %s "$exe") bytes)"

mkdir -p "$out"
cp "$exe" "$out/connect-preflight.exe"
bash packaging/check-msi.sh --exe "$exe" --out "$out/msi"
cp "$out/msi/connect-preflight.msi" "$out/connect-preflight.msi"
echo "build-windows: $out/connect-preflight.exe and $out/connect-preflight.msi"
