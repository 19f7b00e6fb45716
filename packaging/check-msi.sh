#!/usr/bin/env bash
# Builds an MSI from wix/main.wxs with msitools' wixl, using a stand-in file for the Windows
# executable, then reads its tables back with msiinfo. This proves the .wxs is valid WiX that links
# into an MSI with the intended shortcut, properties and custom action; it does not prove that
# Windows installs it, that the shortcut works, or that no elevation is asked for.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/packaging/msi
rm -rf "$out"
mkdir -p "$out/bin"
printf 'stand-in for connect-preflight.exe\n' >"$out/bin/connect-preflight.exe"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# wixl takes only relative source paths; it prints unsupported attributes as warnings: none allowed.
wixl -D Version="$version" -D CargoTargetBinDir="$out/bin" -o "$out/connect-preflight.msi" \
  wix/main.wxs 2>"$out/wixl.log" || { cat "$out/wixl.log" >&2; exit 1; }
if [ -s "$out/wixl.log" ]; then
  echo "wixl warned:" >&2
  cat "$out/wixl.log" >&2
  exit 1
fi

fail() { echo "check-msi: $*" >&2; exit 1; }
table() { msiinfo export "$out/connect-preflight.msi" "$1" | tr -d '\r'; }

table Shortcut | grep $'\tConnect network check\tAgentShortcut\t\[INSTALLDIR\]connect-preflight.exe\tagent --pause\t' \
  > /dev/null || fail "no Start-menu shortcut running connect-preflight.exe agent --pause"
table Property | grep $'^MSIINSTALLPERUSER\t1$' > /dev/null || fail "MSIINSTALLPERUSER is not 1"
table Property | grep '^ALLUSERS' > /dev/null && fail "ALLUSERS is set: the install would not be per-user"
table Property | grep $'^UpgradeCode\t{727E6A61-0A98-4E5E-8995-7BD6DAC27BDC}$' > /dev/null || fail "UpgradeCode changed"
table Directory | grep $'^UserPrograms\tLocalAppDataFolder\tPrograms$' > /dev/null || fail "not under LocalAppData\\Programs"
# 1042 = 18 (run an installed file) + 1024 (deferred), impersonating the installing user.
table CustomAction | grep $'^WriteSiteProfile\t1042\tConnectPreflightExe\tprofile write --quiet --force --instance="\[INSTANCE\]" --region="\[REGION\]" --from="\[PROFILE_URL\]"' \
  > /dev/null || fail "the profile-writing custom action is missing or changed"
table Upgrade | grep 'WIX_DOWNGRADE_DETECTED' > /dev/null || fail "no downgrade detection"
for file in connect-preflight.exe profile.sample.toml LICENSE-MIT LICENSE-APACHE; do
  table File | grep $'\t'"$file"$'\t' > /dev/null || fail "$file is not installed"
done
echo "check-msi: $out/connect-preflight.msi links; Shortcut, Property, Directory, CustomAction, Upgrade and File tables as intended"
