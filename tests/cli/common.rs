//! A clean environment for each run of the binary: no user profile, cache or settings leak in.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub(crate) struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.path("cache")
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("writing a test file");
        path
    }

    /// The binary with a scrubbed environment: HOME and XDG folders inside the sandbox, no
    /// proxy, colour or tool variables from the caller.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("connect-preflight").expect("the binary is built");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("xdg-cache"))
            .env("CONNECT_PREFLIGHT_CACHE_DIR", self.cache_dir())
            .current_dir(self.dir.path());
        cmd
    }
}

pub(crate) fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The embedded snapshot's JSON with a later syncToken and createDate, and one extra prefix.
pub(crate) fn newer_snapshot(sync_token: u64, create_date: &str) -> String {
    let text = std::fs::read_to_string(repo_file("ranges/ip-ranges.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["syncToken"] = serde_json::Value::String(sync_token.to_string());
    json["createDate"] = serde_json::Value::String(create_date.to_owned());
    json["prefixes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "ip_prefix": "15.193.12.0/24",
            "region": "eu-central-1",
            "service": "AMAZON_CONNECT",
            "network_border_group": "eu-central-1"
        }));
    serde_json::to_string(&json).unwrap()
}

/// Today's date in ip-ranges.json's form, so a snapshot made now is fresh.
pub(crate) fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}-00-00-00",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}
