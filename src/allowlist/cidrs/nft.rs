//! `nft list ruleset` output and `/etc/nftables.conf`: the accept rules' addresses and ports.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    line: usize,
    column: usize,
    text: String,
}

/// Words, braces, commas and semicolons as tokens; a newline is the token "\n"; `#` comments
/// and quoted strings are handled.
fn nft_tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (number, line) in numbered_lines(text) {
        let mut current = String::new();
        let mut start = 0;
        let mut quoted = false;
        let flush = |current: &mut String, start: usize, out: &mut Vec<Token>| {
            if !current.is_empty() {
                out.push(Token {
                    line: number,
                    column: start + 1,
                    text: std::mem::take(current),
                });
            }
        };
        for (col, c) in line.chars().enumerate() {
            if quoted {
                current.push(c);
                if c == '"' {
                    quoted = false;
                }
                continue;
            }
            match c {
                '#' => break,
                '"' => {
                    if current.is_empty() {
                        start = col;
                    }
                    current.push(c);
                    quoted = true;
                }
                '{' | '}' | ',' | ';' => {
                    flush(&mut current, start, &mut out);
                    out.push(Token {
                        line: number,
                        column: col + 1,
                        text: c.to_string(),
                    });
                }
                c if c.is_whitespace() => flush(&mut current, start, &mut out),
                c => {
                    if current.is_empty() {
                        start = col;
                    }
                    current.push(c);
                }
            }
        }
        flush(&mut current, start, &mut out);
        out.push(Token {
            line: number,
            column: line.chars().count() + 1,
            text: "\n".to_owned(),
        });
    }
    out
}

/// Statements of a block: token runs split at newlines and `;` outside braces. Nested blocks
/// (`set x { ... }`, `chain y { ... }`) stay inside their statement.
fn statements(tokens: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => depth = depth.saturating_sub(1),
            "\n" | ";" if depth == 0 => {
                if i > start {
                    out.push(&tokens[start..i]);
                }
                start = i + 1;
                continue;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        out.push(&tokens[start..]);
    }
    out
}

/// The tokens between the first `{` of `tokens` and its matching `}`.
fn block(tokens: &[Token]) -> Option<&[Token]> {
    let open = tokens.iter().position(|t| t.text == "{")?;
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(&tokens[open + 1..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Values of a `{ a, b }` list or a single value, without separators and newlines.
fn values(tokens: &[Token]) -> Vec<&Token> {
    tokens
        .iter()
        .filter(|t| !matches!(t.text.as_str(), "{" | "}" | "," | "\n" | ";"))
        .collect()
}

/// The value after position `i`: a braced list (its tokens) or one token.
fn value_at(tokens: &[Token], i: usize) -> (&[Token], usize) {
    match tokens.get(i) {
        Some(t) if t.text == "{" => {
            let inner = block(&tokens[i..]).unwrap_or(&[]);
            (inner, i + inner.len() + 2)
        }
        Some(_) => (&tokens[i..=i], i + 1),
        None => (&[], i),
    }
}

pub(super) fn parse_nft(text: &str, list: &mut CidrList, issues: &mut Issues) -> Result<()> {
    let path = list.path.clone();
    let tokens = nft_tokens(text);
    for statement in statements(&tokens) {
        let words: Vec<&str> = statement.iter().map(|t| t.text.as_str()).collect();
        match words.as_slice() {
            ["table", family, name, "{", ..] => {
                let body = block(statement).unwrap_or(&[]);
                parse_nft_table(family, name, body, &path, list, issues)?;
            }
            ["table", ..] => {
                issues.push(Issue::malformed(
                    Span::new(&path, statement[0].line, statement[0].column),
                    &words.join(" "),
                    "table FAMILY NAME {",
                ))?;
            }
            _ => {
                let t = &statement[0];
                issues.push(Issue::malformed(
                    Span::new(&path, t.line, t.column),
                    &t.text,
                    "`table FAMILY NAME { ... }` as `nft list ruleset` prints it",
                ))?;
            }
        }
    }
    Ok(())
}

fn parse_nft_table(
    family: &str,
    table: &str,
    body: &[Token],
    path: &Path,
    list: &mut CidrList,
    issues: &mut Issues,
) -> Result<()> {
    // Named sets first, so rules can refer to them wherever they are.
    let mut sets: HashMap<String, Vec<Token>> = HashMap::new();
    for statement in statements(body) {
        if let [kw, name, open, ..] = statement {
            if kw.text == "set" && open.text == "{" {
                let inner = block(statement).unwrap_or(&[]);
                let elements = statements(inner)
                    .into_iter()
                    .find(|s| s.first().is_some_and(|t| t.text == "elements"))
                    .map(|s| {
                        values(s.get(2..).unwrap_or(&[]))
                            .into_iter()
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                sets.insert(name.text.clone(), elements);
            }
        }
    }
    for statement in statements(body) {
        let [kw, name, open, ..] = statement else {
            continue;
        };
        if kw.text != "chain" || open.text != "{" {
            continue;
        }
        let inner = block(statement).unwrap_or(&[]);
        let mut direction = Direction::Outbound;
        let mut filter_hook = false;
        for rule in statements(inner) {
            let words: Vec<&str> = rule.iter().map(|t| t.text.as_str()).collect();
            if words.first() == Some(&"type") {
                filter_hook = words.get(1) == Some(&"filter");
                match words
                    .iter()
                    .position(|w| *w == "hook")
                    .map(|i| words.get(i + 1))
                {
                    Some(Some(&"input")) => direction = Direction::Inbound,
                    Some(Some(&("output" | "forward"))) if list.layout.nft_table.is_none() => {
                        list.layout.nft_table = Some((family.to_owned(), table.to_owned()));
                        list.layout.chain = Some(name.text.clone());
                    }
                    _ => {}
                }
                continue;
            }
            if words.first() == Some(&"policy") {
                if filter_hook && words.get(1) == Some(&"accept") {
                    let everything = family_space(family, None);
                    list.entries.push(CidrEntry {
                        span: Span::new(path, rule[0].line, rule[0].column),
                        text: format!("chain {} policy accept", name.text),
                        space: everything,
                        ports: all_ports(),
                        direction,
                    });
                }
                continue;
            }
            nft_rule(rule, family, direction, &sets, path, list, issues)?;
        }
    }
    Ok(())
}

/// Everything of a table family: `ip` is IPv4, `ip6` IPv6, `inet` both.
fn family_space(family: &str, only: Option<bool>) -> IpSet {
    let v4: IpNet = "0.0.0.0/0".parse().expect("literal");
    let v6: IpNet = "::/0".parse().expect("literal");
    match (family, only) {
        (_, Some(false)) | ("ip", None) => IpSet::from_nets(&[v4]),
        (_, Some(true)) | ("ip6", None) => IpSet::from_nets(&[v6]),
        _ => IpSet::from_nets(&[v4, v6]),
    }
}

fn nft_rule(
    rule: &[Token],
    family: &str,
    direction: Direction,
    sets: &HashMap<String, Vec<Token>>,
    path: &Path,
    list: &mut CidrList,
    issues: &mut Issues,
) -> Result<()> {
    let words: Vec<&str> = rule.iter().map(|t| t.text.as_str()).collect();
    if !words.contains(&"accept") {
        return Ok(());
    }
    let rule_text = words.join(" ").replace(" ,", ",");
    let span = Span::new(path, rule[0].line, rule[0].column);
    let addr_key = match direction {
        Direction::Outbound => "daddr",
        Direction::Inbound => "saddr",
    };
    let mut addresses: Vec<Token> = Vec::new();
    let mut family_only: Option<bool> = None;
    let mut protos = vec![Protocol::Tcp, Protocol::Udp];
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    let mut i = 0;
    while i < rule.len() {
        let w = words[i];
        let next = words.get(i + 1).copied();
        let negated = words.get(i + 2) == Some(&"!=");
        let value_start = if negated { i + 3 } else { i + 2 };
        match (w, next) {
            ("ct", Some("state")) => {
                let (v, end) = value_at(rule, i + 2);
                if !values(v).iter().any(|t| t.text == "new") {
                    return Ok(());
                }
                i = end;
                continue;
            }
            ("iifname" | "oifname" | "iif" | "oif", Some(v)) if v.trim_matches('"') == "lo" => {
                return Ok(());
            }
            ("ip" | "ip6", Some(key)) if key == addr_key => {
                if negated {
                    return issues.push(Issue::unusable(
                        span,
                        &rule_text,
                        "a negated address match; the audit cannot tell what it allows, so it is not counted",
                    ));
                }
                family_only = Some(w == "ip6");
                let (v, end) = value_at(rule, value_start);
                for t in values(v) {
                    match t.text.strip_prefix('@') {
                        Some(set) => match sets.get(set) {
                            Some(elements) => addresses.extend(elements.iter().cloned()),
                            None => {
                                return issues.push(Issue::malformed(
                                    Span::new(path, t.line, t.column),
                                    &t.text,
                                    "a set defined in the same table",
                                ));
                            }
                        },
                        None => addresses.push(t.clone()),
                    }
                }
                i = end;
                continue;
            }
            ("tcp" | "udp" | "th", Some("dport")) => {
                if negated {
                    return issues.push(Issue::unusable(
                        span,
                        &rule_text,
                        "negated ports; the audit cannot tell what they allow, so the rule is not counted",
                    ));
                }
                protos = proto_word(if w == "th" { "any" } else { w }).unwrap_or_default();
                let (v, end) = value_at(rule, value_start);
                for t in values(v) {
                    let refs: Vec<&Token> = match t.text.strip_prefix('@') {
                        Some(set) => sets
                            .get(set)
                            .map(|e| e.iter().collect())
                            .unwrap_or_default(),
                        None => vec![t],
                    };
                    for t in refs {
                        match port_range(&t.text) {
                            Some(r) => ranges.push(r),
                            None => {
                                return issues.push(Issue::malformed(
                                    Span::new(path, t.line, t.column),
                                    &t.text,
                                    "a port or a range like 49152-65535",
                                ));
                            }
                        }
                    }
                }
                i = end;
                continue;
            }
            ("meta", Some("l4proto")) | ("ip", Some("protocol")) | ("ip6", Some("nexthdr")) => {
                let (v, end) = value_at(rule, i + 2);
                protos = values(v)
                    .iter()
                    .filter_map(|t| proto_word(&t.text))
                    .flatten()
                    .collect();
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if protos.is_empty() {
        return Ok(());
    }
    let ports: Vec<PortRange> = if ranges.is_empty() {
        specs(&protos, 1, 65535)
    } else {
        ranges
            .iter()
            .flat_map(|&(f, l)| specs(&protos, f, l))
            .collect()
    };
    if addresses.is_empty() {
        list.entries.push(CidrEntry {
            span,
            text: rule_text,
            space: family_space(family, family_only),
            ports,
            direction,
        });
        return Ok(());
    }
    for t in addresses {
        let t_span = Span::new(path, t.line, t.column);
        match parse_space(&t.text) {
            Ok(space) => list.entries.push(CidrEntry {
                span: t_span,
                text: t.text.clone(),
                space,
                ports: ports.clone(),
                direction,
            }),
            Err(expected) => issues.push(Issue::malformed(t_span, &t.text, expected))?,
        }
    }
    Ok(())
}

/// The lines that add `additions` to a list of this syntax: `add rule` commands for the table and chain the list filters, one per family and port.
pub(super) fn addition_lines(list: &CidrList, additions: &[Addition]) -> Vec<String> {
    let mut out = Vec::new();
    let (family, table) = list
        .layout
        .nft_table
        .clone()
        .unwrap_or_else(|| ("inet".to_owned(), "filter".to_owned()));
    let chain = list.layout.chain.as_deref().unwrap_or("output");
    for a in additions {
        for v6 in [false, true] {
            let nets: Vec<String> = a
                .nets
                .iter()
                .filter(|n| n.addr().is_ipv6() == v6)
                .map(ToString::to_string)
                .collect();
            if nets.is_empty() {
                continue;
            }
            let (ip, dir) = match (v6, a.direction) {
                (false, Direction::Outbound) => ("ip", "daddr"),
                (false, Direction::Inbound) => ("ip", "saddr"),
                (true, Direction::Outbound) => ("ip6", "daddr"),
                (true, Direction::Inbound) => ("ip6", "saddr"),
            };
            let chain = if a.direction == Direction::Inbound {
                "input"
            } else {
                chain
            };
            let rule = format!(
                "add rule {family} {table} {chain} {ip} {dir} {{ {} }} {} dport {} accept",
                nets.join(", "),
                a.port.proto,
                a.port.ports()
            );
            let fits = family == "inet" || (family == "ip6") == v6;
            if fits {
                out.push(rule);
            } else {
                out.push(format!("# needs an inet or {ip} table: {rule}"));
            }
        }
    }
    out
}
