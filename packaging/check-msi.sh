#!/usr/bin/env bash
# Builds an MSI from wix/main.wxs with msitools' wixl (plus, with msibuild, the rows wixl cannot
# build: the type 19 action that stops an install with an unknown REGION and its ActionText), then
# reads its tables back with msiinfo: the shortcut, the per-user properties, the custom actions,
# the Regions the install accepts (against ranges/catalog.toml), and where the
# InstallExecuteSequence puts each action (a deferred action after InstallFinalize is skipped by
# Windows Installer; the Region check comes before anything is installed).
#
#   packaging/check-msi.sh                      a stand-in file for the executable
#   packaging/check-msi.sh --exe PATH [--out DIR] [--version V]
#                                               the MSI around a real connect-preflight.exe
#
# The tables prove the .wxs links into the intended MSI; that it installs, upgrades and
# uninstalls is proven by running it under Wine (tests/wine, after packaging/build-windows.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

exe= out=target/packaging/msi version=
while [ $# -gt 0 ]; do
  case $1 in
    --exe) exe=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    *) echo "check-msi: unknown argument $1" >&2; exit 64 ;;
  esac
done
[ -n "$version" ] || version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

rm -rf "$out/bin" "$out/connect-preflight.msi" "$out/wixl.log"
mkdir -p "$out/bin"
if [ -n "$exe" ]; then
  cp "$exe" "$out/bin/connect-preflight.exe"
else
  printf 'stand-in for connect-preflight.exe\n' >"$out/bin/connect-preflight.exe"
fi
msi=$out/connect-preflight.msi

# wixl takes only relative source paths; it prints unsupported attributes as warnings: none allowed.
# x64, as cargo-wix builds it for the x86_64 executable (wixl's default is an x86 package).
bin_dir=$(realpath --relative-to=. "$out/bin")
wixl -a x64 -D Version="$version" -D CargoTargetBinDir="$bin_dir" -D Wixl=1 -o "$msi" \
  wix/main.wxs 2>"$out/wixl.log" || { cat "$out/wixl.log" >&2; exit 1; }
if [ -s "$out/wixl.log" ]; then
  echo "wixl warned:" >&2
  cat "$out/wixl.log" >&2
  exit 1
fi

fail() { echo "check-msi: $*" >&2; exit 1; }

# What wixl cannot build (the .wxs has it for the WiX Toolset, under <?ifndef Wixl?>): the
# immediate type 19 action "display error and end install" that stops an install with an unknown
# REGION, its place in the InstallExecuteSequence and its ActionText (the line the log shows).
# The message is the .wxs's UnknownRegionMessage, so both builds say the same.
message=$(sed -n 's/^ *<?define UnknownRegionMessage = "\(.*\)" ?>$/\1/p' wix/main.wxs)
[ -n "$message" ] || fail "no UnknownRegionMessage in wix/main.wxs"
case $message in *"'"*) fail "UnknownRegionMessage must not contain a single quote (SQL)" ;; esac
custom=$(sed -n "s/^ *<Custom Action='RejectUnknownRegion' Sequence='\([0-9]*\)'>\(.*\)<\/Custom>$/\1 \2/p" wix/main.wxs \
  | sed 's/&gt;/>/g; s/&lt;/</g; s/&amp;/\&/g')
[ -n "$custom" ] || fail "no RejectUnknownRegion in wix/main.wxs's InstallExecuteSequence"
sequence=${custom%% *} condition=${custom#* }
msibuild "$msi" -q "INSERT INTO \`CustomAction\` (\`Action\`, \`Type\`, \`Source\`, \`Target\`) VALUES ('RejectUnknownRegion', 19, '', '$message')"
msibuild "$msi" -q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Condition\`, \`Sequence\`) VALUES ('RejectUnknownRegion', '$condition', $sequence)"
msibuild "$msi" -q "CREATE TABLE \`ActionText\` (\`Action\` CHAR(72) NOT NULL, \`Description\` CHAR(0) LOCALIZABLE, \`Template\` CHAR(0) LOCALIZABLE PRIMARY KEY \`Action\`)"
msibuild "$msi" -q "INSERT INTO \`ActionText\` (\`Action\`, \`Description\`, \`Template\`) VALUES ('RejectUnknownRegion', '$message', '')"
table() { msiinfo export "$msi" "$1" | tr -d '\r'; }

table Shortcut | grep $'\tConnect network check\tAgentShortcut\t\[INSTALLDIR\]connect-preflight.exe\tagent --pause\t' \
  > /dev/null || fail "no Start-menu shortcut running connect-preflight.exe agent --pause"
table Property | grep $'^MSIINSTALLPERUSER\t1$' > /dev/null || fail "MSIINSTALLPERUSER is not 1"
table Property | grep '^ALLUSERS' > /dev/null && fail "ALLUSERS is set: the install would not be per-user"
table Property | grep $'^UpgradeCode\t{727E6A61-0A98-4E5E-8995-7BD6DAC27BDC}$' > /dev/null || fail "UpgradeCode changed"
table Property | grep $'^ProductVersion\t'"$version"'$' > /dev/null || fail "ProductVersion is not $version"
table Directory | grep $'^UserPrograms\tLocalAppDataFolder\tPrograms$' > /dev/null || fail "not under LocalAppData\\Programs"
# 1042 = 18 (run an installed file) + 1024 (deferred), impersonating the installing user.
table CustomAction | grep $'^WriteSiteProfile\t1042\tConnectPreflightExe\tprofile write --quiet --force --instance="\[INSTANCE\]" --region="\[REGION\]" --from="\[PROFILE_URL\]"' \
  > /dev/null || fail "the profile-writing custom action is missing or changed"
# The Regions the install accepts are the catalog's, the same list `connect-preflight endpoints`
# knows (tests/wine checks the built MSI against the executable's list).
regions=$(awk '/^\[\[/ { region = ($0 == "[[region]]") } region && /^code = / { gsub(/"/, "", $3); printf ";%s", $3 } END { print ";" }' ranges/catalog.toml)
[ "$regions" != ";" ] || fail "no Regions found in ranges/catalog.toml"
table Property | grep -x "KNOWNREGIONS"$'\t'"$regions" > /dev/null \
  || fail "KNOWNREGIONS in wix/main.wxs is not the catalog's Regions: set it to $regions"
table CustomAction | grep -x $'SetRegionKey\t2099\tREGIONKEY\t;\\[REGION\\];\t' > /dev/null \
  || fail "SetRegionKey (type 51, 2048 added by wixl and ignored for an immediate action: REGIONKEY = ;[REGION];) is missing or changed"
table CustomAction | grep -F -x "RejectUnknownRegion"$'\t19\t\t'"$message"$'\t' > /dev/null \
  || fail "RejectUnknownRegion (type 19: display the error and end the install) is missing or changed"
table ActionText | grep -F -x "RejectUnknownRegion"$'\t'"$message"$'\t' > /dev/null \
  || fail "RejectUnknownRegion has no ActionText (the line the log shows)"
msiinfo suminfo "$msi" | grep -x 'Template: x64;1033' > /dev/null || fail "not an x64 package"
table Upgrade | grep 'WIX_DOWNGRADE_DETECTED' > /dev/null || fail "no downgrade detection"
for file in connect-preflight.exe profile.sample.toml LICENSE-MIT LICENSE-APACHE; do
  table File | grep $'\t'"$file"$'\t' > /dev/null || fail "$file is not installed"
done

# The order of the install script. A deferred custom action only runs when it is sequenced
# between InstallInitialize and InstallFinalize; the profile is written once the executable is
# installed (InstallFiles), and an older version is removed before anything is installed.
seq() {
  table InstallExecuteSequence | awk -F'\t' -v a="$1" '$1 == a { print $3 }'
}
for action in CostFinalize SetRegionKey RejectUnknownRegion InstallValidate RemoveExistingProducts InstallInitialize InstallFiles WriteSiteProfile InstallFinalize; do
  [ -n "$(seq "$action")" ] || fail "InstallExecuteSequence has no $action"
done
before() { [ "$(seq "$1")" -lt "$(seq "$2")" ] || fail "$1 ($(seq "$1")) does not come before $2 ($(seq "$2"))"; }
# The Region is checked by immediate actions once the properties are final (CostFinalize), before
# InstallValidate and anything of the install script; an older version is not yet removed.
before CostFinalize SetRegionKey
before SetRegionKey RejectUnknownRegion
before RejectUnknownRegion InstallValidate
before InstallInitialize WriteSiteProfile
before InstallFiles WriteSiteProfile
before WriteSiteProfile InstallFinalize
before InstallValidate RemoveExistingProducts
before RemoveExistingProducts InstallInitialize
table InstallExecuteSequence | grep -x $'SetRegionKey\tREGION AND NOT REMOVE~="ALL"\t[0-9]*' > /dev/null \
  || fail "SetRegionKey's condition changed"
table InstallExecuteSequence | grep -F -x "RejectUnknownRegion"$'\t'"$condition"$'\t'"$(seq RejectUnknownRegion)" > /dev/null \
  || fail "RejectUnknownRegion's condition changed"
table InstallExecuteSequence | grep $'^WriteSiteProfile\t(INSTANCE OR REGION OR PROFILE_URL) AND NOT REMOVE~="ALL"\t' \
  > /dev/null || fail "WriteSiteProfile's condition changed"

what="a stand-in executable"
[ -z "$exe" ] || what="$exe"
echo "check-msi: $msi links around $what; Shortcut, Property, Directory, CustomAction, Upgrade and File tables as intended; WriteSiteProfile at $(seq WriteSiteProfile), between InstallFiles ($(seq InstallFiles)) and InstallFinalize ($(seq InstallFinalize)); RejectUnknownRegion (type 19) at $(seq RejectUnknownRegion), between CostFinalize ($(seq CostFinalize)) and InstallValidate ($(seq InstallValidate))"
