//! The MSI around the release .exe, installed with Wine's `msiexec` as an administrator deploys
//! it (`/qn`, per user): the site profile written by the custom action from INSTANCE/REGION or
//! PROFILE_URL (a file, and an https URL on loopback signed by a CA the test puts in Wine's root
//! certificate store), a bad REGION failing the install, upgrades, the uninstall, and the Start
//! menu shortcut read back from its `.lnk`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lab::Ca;
use crate::prefix::{self, Prefix, Tools, win};
use crate::serve;

const PROGRAMS: &str = "AppData/Local/Programs/connect-preflight";
const SHORTCUT: &str =
    "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Connect network check.lnk";
const INSTALLED: &[&str] = &[
    "connect-preflight.exe",
    "profile.sample.toml",
    "LICENSE-MIT",
    "LICENSE-APACHE",
];

/// `msiexec ARGS… /qn /l*v LOG` through `cmd` and `start /wait /b`, which give msiexec's whole
/// exit code (a Unix exit status keeps only its low byte) and keep the console: the code, the log's text, and what the
/// processes of the install (the custom action's executable) printed on stderr.
fn msiexec(prefix: &Prefix, log_dir: &Path, args: &[&str]) -> (u32, String, String) {
    let n = std::fs::read_dir(log_dir).map(|d| d.count()).unwrap_or(0);
    let log = log_dir.join(format!("msiexec-{n}.log"));
    let script = log_dir.join(format!("msiexec-{n}.bat"));
    std::fs::write(
        &script,
        "@start /wait /b msiexec %*\r\n@echo msiexec-exit=%ERRORLEVEL%\r\n",
    )
    .unwrap();
    let out = prefix::run(
        prefix
            .cmd(log_dir)
            .args(["cmd", "/c", &win(&script)])
            .args(args)
            .args(["/qn", "/l*v", &win(&log)]),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let code = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("msiexec-exit="))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or_else(|| panic!("no exit code from msiexec: {out:?}"));
    (
        code,
        read_log(&log),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// msiexec's log, UTF-16 or 8-bit.
fn read_log(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    if bytes.len() >= 2 && (bytes[..2] == [0xff, 0xfe] || bytes.get(1) == Some(&0)) {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The profile the Linux build writes for the same request: the installed one must be the same.
fn linux_profile(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("connect-preflight.toml");
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin!("connect-preflight"))
        .env_clear()
        .env("HOME", dir.path())
        .args(["profile", "write", "--quiet"])
        .args(args)
        .arg("--output")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out).unwrap()
}

/// The profile the Linux build writes from a base profile with this text.
fn linux_profile_of(base: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.toml");
    std::fs::write(&path, base).unwrap();
    linux_profile(&["--from", path.to_str().unwrap()])
}

/// The MSI of another version, around the same executable (wixl, as CI builds the real one).
fn msi_version(tools: &Tools, version: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("msi-{version}"));
    let status = std::process::Command::new("bash")
        .arg("packaging/check-msi.sh")
        .arg("--exe")
        .arg(&tools.exe)
        .arg("--out")
        .arg(&out)
        .args(["--version", version])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "building the MSI of {version}");
    out.join("connect-preflight.msi")
}

/// What a `.lnk` says (MS-SHLLINK): the target's local path, the working folder, the arguments.
#[derive(Debug, Default)]
struct Link {
    target: String,
    working_dir: String,
    arguments: String,
}

fn read_link(bytes: &[u8]) -> Link {
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let u32_at = |at: usize| {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    };
    assert_eq!(u32_at(0), 0x4c, "not a shell link");
    let flags = u32_at(20);
    let mut at = 0x4c;
    if flags & 0x1 != 0 {
        at += 2 + u16_at(at);
    }
    let mut link = Link::default();
    if flags & 0x2 != 0 {
        let info = at;
        let size = u32_at(info);
        if u32_at(info + 8) & 0x1 != 0 {
            let start = info + u32_at(info + 16);
            let end = start + bytes[start..].iter().position(|&b| b == 0).unwrap();
            link.target = String::from_utf8_lossy(&bytes[start..end]).into_owned();
        }
        at += size;
    }
    let unicode = flags & 0x80 != 0;
    // Wine counts the terminating NUL in CountCharacters; Windows does not.
    let string = |at: &mut usize| {
        let count = u16_at(*at);
        *at += 2;
        if unicode {
            let units: Vec<u16> = (0..count)
                .map(|i| u16::from_le_bytes([bytes[*at + 2 * i], bytes[*at + 2 * i + 1]]))
                .collect();
            *at += 2 * count;
            String::from_utf16_lossy(&units)
                .trim_end_matches('\0')
                .to_owned()
        } else {
            let text = String::from_utf8_lossy(&bytes[*at..*at + count])
                .trim_end_matches('\0')
                .to_owned();
            *at += count;
            text
        }
    };
    for (flag, field) in [(0x4, 0), (0x8, 1), (0x10, 2), (0x20, 3)] {
        if flags & flag != 0 {
            let text = string(&mut at);
            match field {
                2 => link.working_dir = text,
                3 => link.arguments = text,
                _ => {}
            }
        }
    }
    link
}

fn installed(prefix: &Prefix) -> PathBuf {
    prefix.profile().join(PROGRAMS)
}

#[test]
fn the_msi_installs_per_user_writes_the_profile_and_makes_the_shortcut() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let logs = tempfile::tempdir().unwrap();
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &[
            "/i",
            &win(&tools.msi),
            "INSTANCE=acme",
            "REGION=eu-central-1",
        ],
    );
    assert_eq!(code, 0, "{log}");
    let dir = installed(&prefix);
    for file in INSTALLED {
        assert!(
            dir.join(file).is_file(),
            "{file} not installed in {}",
            dir.display()
        );
    }
    assert_eq!(
        std::fs::read(dir.join("connect-preflight.exe")).unwrap(),
        std::fs::read(&tools.exe).unwrap(),
        "the installed executable is not the release build"
    );
    // The silent deployment's profile, the same as the Linux build writes for the request.
    let profile = std::fs::read_to_string(dir.join("connect-preflight.toml"))
        .unwrap_or_else(|e| panic!("no profile written ({e}):\n{log}"));
    assert_eq!(
        profile,
        linux_profile(&["--instance", "acme", "--region", "eu-central-1"])
    );

    // The Start-menu shortcut runs the installed executable's agent command with --pause.
    let lnk = prefix.profile().join(SHORTCUT);
    let link = read_link(
        &std::fs::read(&lnk).unwrap_or_else(|e| panic!("no shortcut at {} ({e})", lnk.display())),
    );
    let install_dir = r"\AppData\Local\Programs\connect-preflight";
    assert!(
        link.target.starts_with("C:\\users\\")
            && link
                .target
                .ends_with(&format!("{install_dir}\\connect-preflight.exe")),
        "{link:?}"
    );
    assert_eq!(link.arguments, "agent --pause", "{link:?}");
    assert!(
        link.working_dir
            .trim_end_matches('\\')
            .ends_with(install_dir),
        "{link:?}"
    );

    // The installed executable finds the profile beside it.
    let out = prefix::run(
        prefix
            .cmd(Path::new("/"))
            .arg(dir.join("connect-preflight.exe"))
            .args(["check", "--list"]),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("acme.my.connect.aws"),
        "{out:?}"
    );

    // Uninstalled: the files and the shortcut go, the profile the administrator asked for stays.
    let (code, log, _) = msiexec(&prefix, logs.path(), &["/x", &win(&tools.msi)]);
    assert_eq!(code, 0, "{log}");
    for file in INSTALLED {
        assert!(!dir.join(file).exists(), "{file} left after uninstall");
    }
    assert!(!lnk.exists(), "the shortcut is left after uninstall");
    assert_eq!(
        std::fs::read_to_string(dir.join("connect-preflight.toml")).unwrap(),
        profile
    );
}

#[test]
fn a_bad_region_fails_the_install_with_1603_and_the_log_says_why() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let logs = tempfile::tempdir().unwrap();
    let known = regions_of_the_executable(&prefix, tools);
    assert!(known.contains(&"eu-central-1".to_owned()), "{known:?}");
    let list: String = known.iter().map(|r| format!("{r};")).collect();
    // Unknown, a part of a known Region, two Regions, a known one in capitals: each is stopped by
    // the immediate RejectUnknownRegion action (type 19) before anything is installed.
    for region in [
        "eu-middle-9",
        "central-1",
        "eu-central-1;us-east-1",
        "EU-CENTRAL-1",
    ] {
        let (code, log, _) = msiexec(
            &prefix,
            logs.path(),
            &[
                "/i",
                &win(&tools.msi),
                "INSTANCE=acme",
                &format!("REGION={region}"),
            ],
        );
        assert_eq!(code, 1603, "REGION={region}\n{log}");
        let why = format!(
            ": RejectUnknownRegion. REGION={region} is not an Amazon Connect Region this version \
             knows: nothing is installed and no site profile is written. Known Regions: ;{list}"
        );
        let line = log
            .lines()
            .find(|l| l.starts_with("Action ") && l.trim_end().ends_with(&why))
            .unwrap_or_else(|| panic!("the log does not say why ({why}):\n{log}"));
        // The deferred action never ran: the install script was not reached.
        assert!(!log.contains(": WriteSiteProfile."), "{log}");
        assert!(!log.contains(": InstallFiles."), "{log}");
        let dir = installed(&prefix);
        assert!(!dir.join("connect-preflight.toml").exists());
        assert!(!dir.join("connect-preflight.exe").exists());
        eprintln!("a bad REGION: msiexec exit {code}; log: {}", line.trim());
    }
    // A known Region passes the same check.
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &[
            "/i",
            &win(&tools.msi),
            "INSTANCE=acme",
            "REGION=us-gov-west-1",
        ],
    );
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(": RejectUnknownRegion."), "{log}");
    assert!(installed(&prefix).join("connect-preflight.toml").is_file());
}

/// The Regions the executable knows, from its usage error for an unknown one.
fn regions_of_the_executable(prefix: &Prefix, tools: &Tools) -> Vec<String> {
    let out = prefix::run(
        prefix
            .cmd(Path::new("/"))
            .arg(&tools.exe)
            .args(["endpoints", "--region", "zz-none-0"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    let (_, list) = text
        .split_once("Amazon Connect Regions are: ")
        .unwrap_or_else(|| panic!("no list of Regions: {text}"));
    list.trim().split(", ").map(str::to_owned).collect()
}

#[test]
fn the_msi_accepts_exactly_the_regions_the_executable_knows() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let known = regions_of_the_executable(&prefix, tools);
    let out = std::process::Command::new("msiinfo")
        .args(["export"])
        .arg(&tools.msi)
        .arg("Property")
        .output()
        .expect("msiinfo runs");
    let table = String::from_utf8_lossy(&out.stdout);
    let value = table
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("KNOWNREGIONS\t"))
        .unwrap_or_else(|| panic!("no KNOWNREGIONS in the MSI:\n{table}"));
    let in_msi: Vec<&str> = value
        .strip_prefix(';')
        .and_then(|v| v.strip_suffix(';'))
        .expect("between semicolons")
        .split(';')
        .collect();
    assert_eq!(in_msi, known);
}

/// A failed install's exit code: 1603 from Windows Installer; Wine's msi passes a failed
/// executable custom action's 1627 (ERROR_FUNCTION_FAILED) through.
fn failed(code: u32) -> bool {
    code == 1603 || code == 1627
}

/// A profile without the comment naming where it came from (a path, which differs by OS).
fn without_origin(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("# Based on "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_profile_from_a_file_or_an_https_url_is_installed_verbatim() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let logs = tempfile::tempdir().unwrap();
    let site = "# Leeds contact centre, from the intranet\nsite = \"Leeds\"\ninstance = \"acme\"\nregion = \"eu-west-2\"\nwith = [\"saml\"]\n";
    let file = logs.path().join("site.toml");
    std::fs::write(&file, site).unwrap();
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &[
            "/i",
            &win(&tools.msi),
            &format!("PROFILE_URL={}", win(&file)),
        ],
    );
    assert_eq!(code, 0, "{log}");
    let profile = installed(&prefix).join("connect-preflight.toml");
    assert_eq!(
        without_origin(&std::fs::read_to_string(&profile).unwrap()),
        without_origin(&linux_profile(&["--from", file.to_str().unwrap()]))
    );
    assert!(std::fs::read_to_string(&profile).unwrap().contains("Leeds"));
    let (code, log, _) = msiexec(&prefix, logs.path(), &["/x", &win(&tools.msi)]);
    assert_eq!(code, 0, "{log}");

    // An https URL on loopback, its certificate from a CA in the Windows root store.
    let ca = Ca::new("Intranet Root CA", "Acme IT");
    trust(&prefix, &ca);
    let (chain, key) = ca.leaf(&["localhost"], false);
    let served = site.replace("Leeds", "York");
    let port = serve::https(chain, key, served.clone());
    let url = format!("https://localhost:{port}/connect-preflight.toml");
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &["/i", &win(&tools.msi), &format!("PROFILE_URL={url}")],
    );
    assert_eq!(code, 0, "{log}");
    let written = std::fs::read_to_string(&profile).unwrap();
    assert!(written.contains(&format!("# Based on {url}.")), "{written}");
    assert_eq!(
        without_origin(&written),
        without_origin(&linux_profile_of(&served))
    );

    // The same URL from a server whose CA is not trusted: the install fails.
    let rogue = Ca::new("Rogue CA", "Rogue");
    let (chain, key) = rogue.leaf(&["localhost"], false);
    let port = serve::https(chain, key, served);
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &[
            "/i",
            &win(&tools.msi),
            &format!("PROFILE_URL=https://localhost:{port}/p.toml"),
        ],
    );
    assert!(failed(code), "{code}\n{log}");
}

#[test]
fn an_upgrade_replaces_the_profile_when_given_properties_and_keeps_it_without() {
    let Some(tools) = prefix::tools() else { return };
    let prefix = Prefix::new(tools);
    let logs = tempfile::tempdir().unwrap();
    let newer = msi_version(tools, "0.1.1", logs.path());
    let newest = msi_version(tools, "0.1.2", logs.path());
    let profile = installed(&prefix).join("connect-preflight.toml");
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &[
            "/i",
            &win(&tools.msi),
            "INSTANCE=acme",
            "REGION=eu-central-1",
        ],
    );
    assert_eq!(code, 0, "{log}");
    let (code, log, _) = msiexec(
        &prefix,
        logs.path(),
        &["/i", &win(&newer), "INSTANCE=beta", "REGION=us-east-1"],
    );
    assert_eq!(code, 0, "{log}");
    let replaced = std::fs::read_to_string(&profile).unwrap();
    assert_eq!(
        replaced,
        linux_profile(&["--instance", "beta", "--region", "us-east-1"])
    );
    let (code, log, _) = msiexec(&prefix, logs.path(), &["/i", &win(&newest)]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), replaced);
    for file in INSTALLED {
        assert!(
            installed(&prefix).join(file).is_file(),
            "{file} after the upgrade"
        );
    }
    // One product installed: the older versions were removed by the upgrades. (Wine's msi keeps
    // the per-user product's uninstall entry under HKLM.)
    let mut versions = Vec::new();
    for key in [
        r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall",
        r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall",
    ] {
        let out = prefix::run(
            prefix.cmd(Path::new("/")).args(["reg", "query", key, "/s"]),
            Duration::from_secs(60),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for entry in text
            .split("\r\n\r\n")
            .filter(|e| e.contains("connect-preflight"))
        {
            versions.extend(
                entry
                    .lines()
                    .filter(|l| l.trim_start().starts_with("DisplayVersion"))
                    .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned()),
            );
        }
    }
    assert_eq!(versions, ["0.1.2"]);
    // A downgrade is refused.
    let (code, _, _) = msiexec(&prefix, logs.path(), &["/i", &win(&tools.msi)]);
    assert_ne!(code, 0);
}

/// Puts `ca` in the Wine user's root certificate store, where Windows programs (and
/// rustls-native-certs, through the system store) find trusted roots: the registry's
/// `SystemCertificates\Root\Certificates\<SHA-1>` with the certificate as a serialized property.
fn trust(prefix: &Prefix, ca: &Ca) {
    let der = pem_to_der(&ca.pem);
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let thumbprint: String = sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    // CERT_CERT_PROP_ID (32), a reserved 1, the length, then the DER.
    let mut blob = Vec::new();
    blob.extend_from_slice(&32u32.to_le_bytes());
    blob.extend_from_slice(&1u32.to_le_bytes());
    blob.extend_from_slice(&(der.len() as u32).to_le_bytes());
    blob.extend_from_slice(&der);
    let hex: String = blob.iter().map(|b| format!("{b:02X}")).collect();
    prefix.reg_add(
        &format!(r"HKCU\Software\Microsoft\SystemCertificates\Root\Certificates\{thumbprint}"),
        "Blob",
        "REG_BINARY",
        &hex,
    );
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode(&body)
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut bits = 0u32;
    let mut count = 0;
    for c in text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
    {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}
