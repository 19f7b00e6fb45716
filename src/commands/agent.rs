//! `agent`: what the desktop shortcut runs. The check with the site profile, its progress in the
//! window, an HTML and a JSON report saved under a name with the host and the time, the HTML
//! opened in the default browser, and one line for the agent to send to support. Nothing on the
//! machine changes beyond the reports folder.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::commands::check::{self, Produced};
use crate::config::{AgentConfig, CheckConfig, Config};
use crate::error::{Error, ExitCode, Result};
use crate::report::{Report, Status};

/// The folder name in the user's Documents when the profile names none.
pub(crate) const REPORTS_FOLDER: &str = "Connect network check";

pub(crate) fn run(
    config: &Config,
    args: &AgentConfig,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    let outcome = checked(config, args, env, warnings);
    let code = match &outcome {
        Ok(code) => *code,
        Err(err) => {
            // The agent may have double-clicked a shortcut: show the error before the window closes.
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "connect-preflight: error: {err}");
            err.exit_code()
        }
    };
    if args.pause && std::io::stdin().is_terminal() {
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "\nPress Enter to close this window.");
        let _ = stdout.flush();
        let _ = std::io::stdin().lock().read_line(&mut String::new());
    }
    Ok(code)
}

fn checked(
    config: &Config,
    args: &AgentConfig,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ExitCode> {
    if config.region.is_none() {
        let looked: Vec<String> = crate::config::default_profile_paths(env)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(Error::usage(format!(
            "the network check needs a site profile naming the instance and Region; ask your support team to install one \
             (looked for: {})",
            looked.join(", ")
        )));
    }
    let dir = report_dir(args.report_dir.clone())?;
    let check = CheckConfig::for_agent(config, env)?;
    let produced = check::produce(config, &check, warnings)?;
    let Produced::Report {
        report,
        interrupted,
    } = produced
    else {
        return Err(Error::Other(anyhow::anyhow!(
            "the check listed its plan instead of running"
        )));
    };
    let host = host_name(env);
    let stem = format!(
        "connect-preflight-{host}-{}",
        compact_time(&report.started_at)
    );
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.clone(),
        source,
    })?;
    let html = dir.join(format!("{stem}.html"));
    let json = dir.join(format!("{stem}.json"));
    crate::output::write_atomically(&json, crate::report::json::render(&report).as_bytes())?;
    crate::output::write_atomically(&html, crate::report::html::render(&report).as_bytes())?;

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{}", headline(&report));
    let _ = writeln!(out, "Report saved: {}", html.display());
    let _ = writeln!(out, "              {}", json.display());
    let _ = writeln!(
        out,
        "Send this line and the report to your support team:\n  {}",
        support_line(&report, &host, &stem)
    );
    if !args.no_open && !open_in_browser(&html) {
        let _ = writeln!(
            out,
            "(Open the report yourself: the browser could not be started.)"
        );
    }
    if interrupted {
        return Ok(ExitCode::Interrupted);
    }
    Ok(report.verdict.into())
}

/// The reports folder: `given` (`--report-dir`, else the profile's `report_dir`), else the user's
/// Documents, else the user's local data folder.
pub(crate) fn report_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    if let Some(docs) =
        directories::UserDirs::new().and_then(|u| u.document_dir().map(Path::to_owned))
    {
        return Ok(docs.join(REPORTS_FOLDER));
    }
    directories::ProjectDirs::from("", "", "connect-preflight")
        .map(|d| d.data_local_dir().join("reports"))
        .ok_or_else(|| Error::usage("no folder is known for reports on this machine; give --report-dir or report_dir in the profile"))
}

/// This machine's name, reduced to characters safe in a file name.
pub(crate) fn host_name(env: &dyn Fn(&str) -> Option<String>) -> String {
    let raw = env("COMPUTERNAME")
        .or_else(|| env("HOSTNAME"))
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    if clean.is_empty() {
        "workstation".to_owned()
    } else {
        clean
    }
}

/// `2026-11-24T19:45:07Z` → `20261124-194507`.
fn compact_time(rfc3339: &str) -> String {
    let digits: String = rfc3339
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() == 14 {
        format!("{}-{}", &digits[..8], &digits[8..])
    } else {
        digits
    }
}

fn headline(report: &Report) -> String {
    let c = &report.counts;
    let advice = match report.verdict {
        crate::report::Verdict::Ready => "This workstation can run the CCP and its softphone.",
        crate::report::Verdict::Degraded => {
            "The CCP should work, but something needs attention: send the report to support."
        }
        crate::report::Verdict::Incomplete => {
            "Not everything was tested, so readiness is not known: run it again, or send the report to support."
        }
        crate::report::Verdict::NotReady => {
            "The CCP or its softphone will not work here as it is: send the report to support."
        }
    };
    format!(
        "Network check: {}. {advice} ({} passed, {} warnings, {} failed)",
        report.verdict.label(),
        c.pass,
        c.warn,
        c.fail
    )
}

/// One line with what support needs first: who, when, what, and the worst findings.
pub(crate) fn support_line(report: &Report, host: &str, stem: &str) -> String {
    let target = [
        report.target.instance.as_deref(),
        report.target.region.as_deref(),
        report.target.site.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let worst: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .chain(report.checks.iter().filter(|c| c.status == Status::Warn))
        .take(3)
        .map(|c| format!("{} {}", c.id, c.reason))
        .collect();
    let worst = if worst.is_empty() {
        String::new()
    } else {
        format!(" · {}", worst.join("; "))
    };
    format!(
        "connect-preflight {} · {host} · {} · {target} · {} ({} failed, {} warnings){worst} · {stem}",
        report.tool.version,
        report.started_at,
        report.verdict.label(),
        report.counts.fail,
        report.counts.warn
    )
}

/// Opens a file with the desktop's default program; false when that could not be started.
fn open_in_browser(path: &Path) -> bool {
    let mut command = if cfg!(windows) {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]).arg(path);
        c
    } else if cfg!(target_os = "macos") {
        let mut c = std::process::Command::new("open");
        c.arg(path);
        c
    } else {
        let mut c = std::process::Command::new("xdg-open");
        c.arg(path);
        c
    };
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command.spawn().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, Kind, Reason, Target};

    #[test]
    fn names_and_lines() {
        assert_eq!(compact_time("2026-11-24T19:45:07Z"), "20261124-194507");
        assert_eq!(
            compact_time("2026-11-24T19:45:07.123+00:00"),
            "20261124-194507"
        );
        let env = |k: &str| (k == "COMPUTERNAME").then(|| "PC 12/é".to_owned());
        assert_eq!(host_name(&env), "PC_12__");
        let checks = vec![
            Check::new(
                "tls/acme.my.connect.aws:443",
                Kind::Tls,
                Status::Fail,
                Reason::Intercepted,
                "x",
            ),
            Check::new(
                "media/turn",
                Kind::Media,
                Status::Warn,
                Reason::PoorQuality,
                "y",
            ),
            Check::new("dns/a", Kind::Dns, Status::Pass, Reason::Ok, "z"),
        ];
        let target = Target {
            instance: Some("acme.my.connect.aws".into()),
            region: Some("eu-central-1".into()),
            ..Target::default()
        };
        let report = Report::new("check", target, "2026-11-24T19:45:07Z".into(), checks);
        let line = support_line(&report, "PC-12", "connect-preflight-PC-12-20261124-194507");
        assert_eq!(
            line,
            format!(
                "connect-preflight {} · PC-12 · 2026-11-24T19:45:07Z · acme.my.connect.aws eu-central-1 · NOT READY (1 failed, 1 warnings) \
                 · tls/acme.my.connect.aws:443 intercepted; media/turn poor_quality · connect-preflight-PC-12-20261124-194507",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(headline(&report).starts_with("Network check: NOT READY."));
    }
}
