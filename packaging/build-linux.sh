#!/usr/bin/env bash
# Builds the Linux packages: the release binary, then the man page and completions it generates
# (into target/packaging/), then the .deb from [package.metadata.deb] — with cargo-deb when it is
# installed, else with dpkg-deb on a tree staged from the same assets — and, given --rpm, the .rpm
# with cargo-generate-rpm. Prints the package paths.
set -euo pipefail
cd "$(dirname "$0")/.."

rpm=no
[ "${1:-}" = --rpm ] && rpm=yes

cargo build --release --locked
bin=target/release/connect-preflight
out=target/packaging
mkdir -p "$out"

"$bin" generate man --output "$out/connect-preflight.1"
"$bin" generate completions bash --output "$out/connect-preflight.bash"
"$bin" generate completions zsh --output "$out/_connect-preflight"
"$bin" generate completions fish --output "$out/connect-preflight.fish"
"$bin" generate completions powershell --output "$out/_connect-preflight.ps1"
"$bin" generate completions elvish --output "$out/connect-preflight.elv"

if command -v cargo-deb >/dev/null; then
  cargo deb --no-build --output "$out/"
else
  python3 packaging/deb-from-metadata.py "$out"
fi

if [ "$rpm" = yes ]; then
  if ! command -v cargo-generate-rpm >/dev/null; then
    echo "--rpm needs cargo-generate-rpm (cargo install cargo-generate-rpm --locked)" >&2
    exit 1
  fi
  cargo generate-rpm --output "$out/"
fi
ls -1 "$out"/*.deb "$out"/*.rpm 2>/dev/null || true
