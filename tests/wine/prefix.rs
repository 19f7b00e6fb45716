//! Wine prefixes made by the suite: one template per run (`wineboot --init`, then the
//! `bcryptprimitives.dll` stand-in built with MinGW into its system32), and a copy of it per test,
//! so each test has its own registry, user profile and wineserver. Nothing of the host's Wine
//! configuration is used: `WINEPREFIX` always points inside a temporary folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Everything the suite needs from the machine, or why it cannot run.
pub struct Tools {
    pub wine: PathBuf,
    pub exe: PathBuf,
    pub msi: PathBuf,
}

/// Where `packaging/build-windows.sh` put the release .exe and the MSI: `CONNECT_PREFLIGHT_WINDOWS`,
/// else `packaging/windows` in this test's target folder.
fn artefacts() -> PathBuf {
    if let Some(dir) = std::env::var_os("CONNECT_PREFLIGHT_WINDOWS") {
        return PathBuf::from(dir);
    }
    target_dir().join("packaging/windows")
}

/// This test's target folder: target/debug/deps/wine-HASH -> target.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.ancestors()
        .nth(3)
        .expect("the target folder")
        .to_owned()
}

fn find_wine() -> Option<PathBuf> {
    for candidate in ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"] {
        if Path::new(candidate).is_file() {
            return Some(PathBuf::from(candidate));
        }
    }
    None
}

/// The tools, or `None` after printing a SKIP line; panics instead when CI=true, where a
/// missing engine is a failure.
pub fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    let found = TOOLS.get_or_init(|| {
        let wine = find_wine().ok_or("wine64 is not installed (Debian: wine64)")?;
        if Command::new("x86_64-w64-mingw32-gcc")
            .arg("--version")
            .output()
            .is_err()
        {
            return Err("MinGW's gcc is not installed (Debian: gcc-mingw-w64-x86-64)".to_owned());
        }
        let artefacts = artefacts();
        let exe = artefacts.join("connect-preflight.exe");
        let msi = artefacts.join("connect-preflight.msi");
        for path in [&exe, &msi] {
            if !path.is_file() {
                return Err(format!(
                    "{} is missing: run packaging/build-windows.sh first",
                    path.display()
                ));
            }
        }
        Ok(Tools { wine, exe, msi })
    });
    match found {
        Ok(tools) => Some(tools),
        Err(why) if std::env::var_os("CI").is_some_and(|v| v == "true") => {
            panic!("the Windows suite cannot run under CI: {why}")
        }
        Err(why) => {
            // Straight to stderr, in one write: the test harness captures print! and eprint! of
            // passing tests, and tests run side by side.
            let line = format!("SKIP: the Windows suite under Wine: {why}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// A Wine prefix of this test's own.
pub struct Prefix {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub wine: PathBuf,
    /// Every Wine process in a network namespace of its own with only loopback (root only). As
    /// Wine's sockets are made by its wineserver, the first process started puts the server, and
    /// so every socket of the prefix, in such a namespace.
    pub isolated: bool,
}

/// Whether network namespaces can be made here (root, `unshare` and `ip`).
pub fn can_isolate() -> bool {
    Command::new("unshare")
        .args(["--net", "--", "ip", "link", "set", "lo", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The template made once per run: a fresh prefix with the stand-in DLL, in the target folder
/// (`wine-template`), replacing the last run's (a static is never dropped, so a temporary folder
/// would be left behind at every run).
fn template(tools: &Tools) -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = target_dir().join("wine-template");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join("prefix");
        let started = Instant::now();
        let out = wine_env(Command::new(&tools.wine), &root)
            .args(["wineboot", "--init"])
            .stdin(Stdio::null())
            .output()
            .expect("wineboot runs");
        assert!(out.status.success(), "wineboot --init failed: {out:?}");
        // wineboot returns before the prefix's registry is written; the server's exit does.
        stop_server(&tools.wine, &root);
        // Wine links the user's Documents, Desktop… to the Unix home; Windows has folders.
        for user in std::fs::read_dir(root.join("drive_c/users")).unwrap() {
            for entry in std::fs::read_dir(user.unwrap().path()).unwrap() {
                let path = entry.unwrap().path();
                if path.is_symlink() {
                    std::fs::remove_file(&path).unwrap();
                    std::fs::create_dir(&path).unwrap();
                }
            }
        }
        let dll = root.join("drive_c/windows/system32/bcryptprimitives.dll");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine");
        let gcc = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "-o"])
            .arg(&dll)
            .arg(source.join("bcryptprimitives.c"))
            .arg(source.join("bcryptprimitives.def"))
            .arg("-ladvapi32")
            .output()
            .expect("MinGW's gcc runs");
        assert!(gcc.status.success(), "the stand-in DLL: {gcc:?}");
        eprintln!(
            "wine: a fresh prefix in {:.1} s ({})",
            started.elapsed().as_secs_f64(),
            root.display()
        );
        root
    })
}

/// The environment of every Wine process: this prefix, no debug output, no Mono or Gecko
/// installer prompts, and nothing of the caller's environment (proxies, display, locale).
fn wine_env(mut cmd: Command, prefix: &Path) -> Command {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", prefix.parent().unwrap())
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml,winemenubuilder.exe=")
        .env("LANG", "C.UTF-8")
        .env("NO_COLOR", "1");
    cmd
}

/// The wineserver beside the wine loader, else the one on PATH.
fn server(wine: &Path) -> PathBuf {
    let server = wine.with_file_name("wineserver");
    if server.is_file() {
        server
    } else {
        PathBuf::from("wineserver")
    }
}

/// Waits for the prefix's wineserver to end (it writes the registry as it goes).
fn stop_server(wine: &Path, prefix: &Path) {
    let _ = wine_env(Command::new(server(wine)), prefix)
        .arg("-w")
        .stdin(Stdio::null())
        .status();
}

impl Prefix {
    /// A copy of the run's template: hard links for the files Wine only reads, copies of the
    /// registry hives it rewrites.
    pub fn new(tools: &Tools) -> Self {
        let template = template(tools);
        let dir = tempfile::Builder::new().prefix("wine-").tempdir().unwrap();
        let root = dir.path().join("prefix");
        // Hard links where the template and the copy share a filesystem, else a full copy.
        let copied = |how: &str| {
            Command::new("cp")
                .arg(how)
                .arg(template)
                .arg(&root)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !copied("-al") {
            let _ = std::fs::remove_dir_all(&root);
            assert!(copied("-a"), "copying the template prefix");
        }
        for hive in ["system.reg", "user.reg", "userdef.reg"] {
            let path = root.join(hive);
            std::fs::remove_file(&path).unwrap();
            std::fs::copy(template.join(hive), &path).unwrap();
        }
        Self {
            _dir: dir,
            root,
            wine: tools.wine.clone(),
            isolated: false,
        }
    }

    /// `wine ARGS…` in this prefix, from `dir` (a Unix folder: Wine gives it as `Z:\…`).
    pub fn cmd(&self, dir: &Path) -> Command {
        let mut cmd = if self.isolated {
            let mut cmd = wine_env(Command::new("unshare"), &self.root);
            cmd.args([
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
            ])
            .arg(&self.wine);
            cmd
        } else {
            wine_env(Command::new(&self.wine), &self.root)
        };
        cmd.current_dir(dir).stdin(Stdio::null());
        cmd
    }

    /// The Wine user's profile folder (`C:\users\NAME`).
    pub fn profile(&self) -> PathBuf {
        let users = self.root.join("drive_c/users");
        std::fs::read_dir(&users)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n != "Public"))
            .expect("the Wine user's profile")
    }

    /// `wine reg add KEY /v NAME /t TYPE /d DATA /f`.
    pub fn reg_add(&self, key: &str, name: &str, kind: &str, data: &str) {
        let out = run(
            self.cmd(Path::new("/"))
                .args(["reg", "add", key, "/v", name, "/t", kind, "/d", data, "/f"]),
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "reg add {key} {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `wine reg delete KEY /f`; absent keys are fine.
    pub fn reg_delete(&self, key: &str) {
        let _ = run(
            self.cmd(Path::new("/")).args(["reg", "delete", key, "/f"]),
            Duration::from_secs(60),
        );
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        // Ends this prefix's wineserver (and with it any process left in the prefix).
        let _ = wine_env(Command::new(server(&self.wine)), &self.root)
            .arg("-k")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs to completion within `limit`, or is killed and the test fails.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("wine starts");
    let started = Instant::now();
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).ok();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).ok();
        v
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A Unix path as the Windows program sees it (Wine's `Z:` drive is the Unix root).
pub fn win(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}
