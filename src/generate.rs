//! The man page and shell completions, generated from the command-line definition so they never
//! drift from it. Packaging runs `connect-preflight generate …` and ships the files.

use std::fmt::Write as _;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell};

/// The man page (section 1): clap_mangen's page for the top-level command, then one entry per
/// command and subcommand with its own options, so `man connect-preflight` documents them all.
pub(crate) fn man_page() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone()).manual("connect-preflight manual");
    let mut out = Vec::new();
    for render in [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
        clap_mangen::Man::render_subcommands_section,
    ] {
        // Writing to a Vec cannot fail.
        let _ = render(&man, &mut out);
    }
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        command_entry(&mut page, "connect-preflight", sub);
    }
    let mut tail = Vec::new();
    let _ = man.render_extra_section(&mut tail);
    let _ = man.render_version_section(&mut tail);
    page.push_str(&String::from_utf8_lossy(&tail));
    page
}

/// One `.SS` entry for a command: its full name, what it does, and its own options (the global
/// ones are in OPTIONS above).
fn command_entry(page: &mut String, parent: &str, cmd: &clap::Command) {
    let path = format!("{parent} {}", cmd.get_name());
    let _ = writeln!(page, ".SS \"{}\"", escape(&path));
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        text_lines(page, &about.to_string());
    }
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set())
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
    {
        page.push_str(".TP\n");
        page.push_str(&argument_label(arg));
        page.push('\n');
        let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        if !values.is_empty() {
            let _ = write!(help, " [possible values: {}]", values.join(", "));
        }
        if !help.is_empty() {
            text_lines(page, &help);
        }
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        command_entry(page, &path, sub);
    }
}

/// `\fB\-r\fR, \fB\-\-region\fR \fIREGION\fR`, or `\fIIP\fR` for a positional argument.
fn argument_label(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), ToString::to_string);
    if arg.is_positional() {
        return format!("\\fI{}\\fR", escape(&value));
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("\\fB\\-{}\\fR", escape(&short.to_string())));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", escape(long)));
    }
    let mut label = names.join(", ");
    if arg.get_action().takes_values() {
        let _ = write!(label, " \\fI{}\\fR", escape(&value));
    }
    label
}

/// Text lines, each safe to start a roff line (a leading `.` or `'` would be a request).
fn text_lines(page: &mut String, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            page.push_str(".PP\n");
        } else {
            page.push_str("\\&");
            page.push_str(&escape(line));
            page.push('\n');
        }
    }
}

/// Escapes text for roff: backslashes and hyphens (so `--flag` renders as typed).
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A shell's completion script.
pub(crate) fn completions(shell: CompletionShell) -> String {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
        CompletionShell::Elvish => Shell::Elvish,
    };
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "connect-preflight", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command path, e.g. `ranges lookup`, from the definition itself.
    fn command_paths(cmd: &clap::Command, parent: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{parent} {}", sub.get_name()).trim().to_owned();
            out.push(path.clone());
            command_paths(sub, &path, out);
        }
    }

    #[test]
    fn the_man_page_documents_every_command_and_is_plain_roff() {
        let page = man_page();
        assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
        assert!(page.contains(".TH connect-preflight 1"));
        let mut paths = Vec::new();
        command_paths(&Cli::command(), "", &mut paths);
        assert!(paths.contains(&"ranges lookup".to_owned()));
        for path in paths {
            let heading = format!(".SS \"connect\\-preflight {}\"", escape(&path));
            assert!(
                page.contains(&heading),
                "no entry {heading} in the man page"
            );
        }
        // Every line is a request or macro, or text that cannot be mistaken for one.
        for line in page.lines() {
            assert!(!line.starts_with('\''), "a text line starts with ': {line}");
            if let Some(request) = line.strip_prefix('.') {
                let name = request.split_whitespace().next().unwrap_or_default();
                assert!(
                    [
                        "TH", "SH", "SS", "TP", "PP", "IP", "RS", "RE", "B", "I", "br", "ie", "el",
                        "nh", "ad", "ds", "fi", "nf", "in", "sp", "TQ", "LP", "P", "HP"
                    ]
                    .contains(&name)
                        || name.starts_with('\\'),
                    "unknown request .{name} in: {line}"
                );
            }
        }
        // Options of subcommands are there, with hyphens escaped.
        assert!(page.contains("\\fB\\-\\-dns\\-server\\fR \\fIIP[:PORT]\\fR"));
        assert!(page.contains("Exit codes: 0 ready"));
    }

    #[test]
    fn bash_completion_knows_the_commands() {
        let script = completions(CompletionShell::Bash);
        assert!(script.contains("endpoints"));
        assert!(script.contains("ranges"));
        assert!(script.contains("--dns-server"));
        assert!(script.contains("complete -F"));
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_binary() {
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Zsh,
            CompletionShell::Fish,
            CompletionShell::Powershell,
            CompletionShell::Elvish,
        ] {
            let script = completions(shell);
            assert!(script.contains("connect-preflight"), "{shell:?}");
            assert!(script.contains("summarize"), "{shell:?}");
        }
    }
}
