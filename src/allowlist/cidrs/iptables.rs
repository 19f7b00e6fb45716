//! `iptables-save` and `ip6tables-save` output: the ACCEPT rules' destinations and ports.

use super::*;

/// Splits a shell-quoted line into words with their columns.
fn shell_words(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    for (col, c) in line.chars().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                start.get_or_insert(col);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    out.push((s + 1, std::mem::take(&mut current)));
                }
            }
            (None, c) => {
                start.get_or_insert(col);
                current.push(c);
            }
        }
    }
    if let Some(s) = start {
        out.push((s + 1, current));
    }
    out
}

pub(super) fn parse_iptables(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
    let path = list.path.clone();
    let ipv6 = text.contains("ip6tables-save")
        || numbered_lines(text).any(|(_, l)| {
            l.starts_with("-A ")
                && shell_words(l)
                    .windows(2)
                    .any(|w| matches!(w[0].1.as_str(), "-d" | "-s") && w[1].1.contains(':'))
        });
    list.layout.ipv6 = ipv6;
    let everything = if ipv6 {
        IpSet::from_nets(&["::/0".parse().expect("literal")])
    } else {
        IpSet::from_nets(&["0.0.0.0/0".parse().expect("literal")])
    };
    let mut table = "filter".to_owned();
    for (number, line) in numbered_lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('*') {
            table = name.to_owned();
            continue;
        }
        if trimmed == "COMMIT" {
            if table == "filter" {
                list.layout.commit_line = Some(number);
            }
            continue;
        }
        if table != "filter" {
            continue;
        }
        if let Some(policy) = trimmed.strip_prefix(':') {
            // `:OUTPUT ACCEPT [0:0]`: an accepting default opens everything in that direction.
            let mut words = policy.split_whitespace();
            let (chain, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let direction = match chain {
                "OUTPUT" | "FORWARD" => Some(Direction::Outbound),
                "INPUT" => Some(Direction::Inbound),
                _ => None,
            };
            if let (Some(direction), "ACCEPT") = (direction, target) {
                list.entries.push(CidrEntry {
                    span: Span::new(&path, number, 1),
                    text: format!("{chain} policy ACCEPT"),
                    space: everything.clone(),
                    ports: all_ports(),
                    direction,
                });
            }
            continue;
        }
        let words = shell_words(line);
        if words.first().map(|w| w.1.as_str()) != Some("-A") {
            issues.push(Issue::malformed(
                Span::new(&path, number, 1),
                trimmed,
                "an iptables-save line: *table, :CHAIN POLICY, -A CHAIN ..., COMMIT or # comment",
            ))?;
            continue;
        }
        parse_iptables_rule(&words, &path, number, &everything, list, issues)?;
    }
    Ok(())
}

fn parse_iptables_rule(
    words: &[(usize, String)],
    path: &Path,
    number: usize,
    everything: &IpSet,
    list: &mut CidrList,
    issues: &mut Issues,
) -> Result<()> {
    let Some((_, chain)) = words.get(1) else {
        return issues.push(Issue::malformed(
            Span::new(path, number, 1),
            "-A",
            "-A CHAIN followed by matches",
        ));
    };
    let direction = if chain == "INPUT" {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    let mut addresses: Option<(usize, String)> = None;
    let mut protos = vec![Protocol::Tcp, Protocol::Udp];
    let mut port_ranges: Vec<(u16, u16)> = Vec::new();
    let mut target = None;
    let mut negated = false;
    let mut unusable: Option<String> = None;
    let mut i = 2;
    while i < words.len() {
        let (col, word) = (&words[i].0, words[i].1.as_str());
        let value = words.get(i + 1).map(|w| (w.0, w.1.as_str()));
        i += 1;
        if word == "!" {
            negated = true;
            continue;
        }
        let takes_value = !matches!(word, "--syn" | "-f" | "--fragment");
        let (vcol, v) = match value {
            Some(v) if takes_value => v,
            _ => (*col, ""),
        };
        let was_negated = std::mem::take(&mut negated);
        match word {
            "-d" | "--destination" | "--dst" if direction == Direction::Outbound => {
                if was_negated {
                    unusable = Some(format!("! -d {v}: a negated destination"));
                }
                addresses = Some((vcol, v.to_owned()));
            }
            "-s" | "--source" | "--src" if direction == Direction::Inbound => {
                if was_negated {
                    unusable = Some(format!("! -s {v}: a negated source"));
                }
                addresses = Some((vcol, v.to_owned()));
            }
            "-p" | "--protocol" => match proto_word(v) {
                Some(p) if !was_negated => protos = p,
                _ => unusable = Some(format!("-p {v}: not tcp or udp")),
            },
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                if was_negated {
                    unusable = Some(format!("! {word} {v}: negated ports"));
                }
                for part in v.split(',') {
                    match port_range(part) {
                        Some(r) => port_ranges.push(r),
                        None => {
                            return issues.push(Issue::malformed(
                                Span::new(path, number, vcol),
                                v,
                                "a port, a range like 1000:2000, or a comma list of them",
                            ));
                        }
                    }
                }
            }
            // Return traffic only: not a rule that opens anything.
            "--state" | "--ctstate" if !v.split(',').any(|s| s.eq_ignore_ascii_case("NEW")) => {
                return Ok(());
            }
            "-o" | "--out-interface" | "-i" | "--in-interface" if v == "lo" => return Ok(()),
            "-j" | "--jump" => target = Some(v.to_owned()),
            _ => {}
        }
        if takes_value && value.is_some() && !v.starts_with('-') {
            i += 1;
        }
    }
    if target.as_deref() != Some("ACCEPT") {
        return Ok(());
    }
    let rule_text = words
        .iter()
        .map(|w| w.1.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(why) = unusable {
        return issues.push(Issue::unusable(
            Span::new(path, number, 1),
            &rule_text,
            format!("{why}; the audit cannot tell what this rule allows, so it is not counted"),
        ));
    }
    if direction == Direction::Outbound && list.layout.chain.is_none() {
        list.layout.chain = Some(chain.clone());
    }
    let ports = if port_ranges.is_empty() {
        specs(&protos, 1, 65535)
    } else {
        port_ranges
            .iter()
            .flat_map(|&(f, l)| specs(&protos, f, l))
            .collect()
    };
    match addresses {
        None => list.entries.push(CidrEntry {
            span: Span::new(path, number, 1),
            text: rule_text,
            space: everything.clone(),
            ports,
            direction,
        }),
        Some((col, value)) => {
            let mut part_col = col;
            for part in value.split(',') {
                let col = part_col;
                part_col += part.chars().count() + 1;
                match parse_space(part) {
                    Ok(space) => list.entries.push(CidrEntry {
                        span: Span::new(path, number, col),
                        text: part.to_owned(),
                        space,
                        ports: ports.clone(),
                        direction,
                    }),
                    Err(expected) => {
                        issues.push(Issue::malformed(
                            Span::new(path, number, col),
                            part,
                            expected,
                        ))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The lines that add `additions` to a list of this syntax: `-A` rules for the chain the list filters, as `iptables-restore` reads them; rules of the other family commented.
pub(super) fn addition_lines(list: &CidrList, additions: &[Addition]) -> Vec<String> {
    let mut out = Vec::new();
    let chain = list.layout.chain.as_deref().unwrap_or("OUTPUT");
    for a in additions {
        for net in &a.nets {
            let (chain, flag) = match a.direction {
                Direction::Outbound => (chain, "-d"),
                Direction::Inbound => ("INPUT", "-s"),
            };
            let ports = if a.port.first == a.port.last {
                a.port.first.to_string()
            } else {
                format!("{}:{}", a.port.first, a.port.last)
            };
            let rule = format!(
                "-A {chain} {flag} {net} -p {p} -m {p} --dport {ports} -j ACCEPT",
                p = a.port.proto
            );
            if net.addr().is_ipv6() == list.layout.ipv6 {
                out.push(rule);
            } else {
                let tool = if net.addr().is_ipv6() {
                    "ip6tables"
                } else {
                    "iptables"
                };
                out.push(format!("# for {tool}-restore: {rule}"));
            }
        }
    }
    out
}
