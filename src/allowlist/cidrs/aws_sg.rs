//! `aws ec2 describe-security-groups` JSON: every permission's CIDRs, protocol and ports, and the
//! `authorize-security-group-*` commands or edited JSON that add what is missing.

use super::*;

#[derive(Deserialize)]
#[serde(untagged)]
enum SgDocument {
    Described {
        #[serde(rename = "SecurityGroups")]
        groups: Vec<SecurityGroup>,
    },
    List(Vec<SecurityGroup>),
    One(SecurityGroup),
}

#[derive(Deserialize)]
struct SecurityGroup {
    #[serde(rename = "GroupId", default)]
    group_id: Option<String>,
    #[serde(rename = "IpPermissionsEgress", default)]
    egress: Vec<Permission>,
    #[serde(rename = "IpPermissions", default)]
    ingress: Vec<Permission>,
}

#[derive(Deserialize)]
struct Permission {
    #[serde(rename = "IpProtocol")]
    protocol: String,
    #[serde(rename = "FromPort", default)]
    from: Option<i32>,
    #[serde(rename = "ToPort", default)]
    to: Option<i32>,
    #[serde(rename = "IpRanges", default)]
    v4: Vec<V4Range>,
    #[serde(rename = "Ipv6Ranges", default)]
    v6: Vec<V6Range>,
}

#[derive(Deserialize)]
struct V4Range {
    #[serde(rename = "CidrIp")]
    cidr: String,
}

#[derive(Deserialize)]
struct V6Range {
    #[serde(rename = "CidrIpv6")]
    cidr: String,
}

pub(super) fn parse_aws_sg(text: &str, list: &mut CidrList) -> Result<()> {
    let path = list.path.clone();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Check the JSON first for a precise location; the shape second.
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        return Err(Error::bad_input(
            Location::at(&path, e.line(), Some(e.column())),
            format!("cannot read the security-group JSON: {e}"),
        ));
    }
    let groups = match serde_json::from_str::<SgDocument>(text) {
        Ok(SgDocument::Described { groups } | SgDocument::List(groups)) => groups,
        Ok(SgDocument::One(group)) => vec![group],
        Err(_) => {
            return Err(Error::bad_input(
                Location::file(&path),
                "expected the output of `aws ec2 describe-security-groups`: {\"SecurityGroups\": [{\"IpPermissionsEgress\": [{\"IpProtocol\", \"FromPort\", \"ToPort\", \"IpRanges\": [{\"CidrIp\"}]}]}]}",
            ));
        }
    };
    list.layout.group_id = groups.iter().find_map(|g| g.group_id.clone());
    // serde gives no positions of values: one pass finds every `"CidrIp": "..."` value, and each
    // CIDR read takes the next place its text appears (values come in document order).
    let mut places: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
    for key in ["\"CidrIp\"", "\"CidrIpv6\""] {
        for (at, _) in text.match_indices(key) {
            let rest = text[at + key.len()..].trim_start();
            let Some(value) = rest
                .strip_prefix(':')
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('"'))
            else {
                continue;
            };
            if let Some(end) = value.find('"') {
                let offset = text.len() - value.len();
                places.entry(&value[..end]).or_default().push_back(offset);
            }
        }
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut locate = |cidr: &str| -> (usize, usize) {
        let Some(offset) = places
            .get_mut(cidr)
            .and_then(std::collections::VecDeque::pop_front)
        else {
            return (1, 1);
        };
        let line = line_starts.partition_point(|&start| start <= offset);
        let start = line_starts[line - 1];
        (line, text[start..offset].chars().count() + 1)
    };
    for group in &groups {
        for (direction, perms) in [
            (Direction::Outbound, &group.egress),
            (Direction::Inbound, &group.ingress),
        ] {
            for perm in perms {
                let protos = match proto_word(&perm.protocol) {
                    Some(p) => p,
                    None => {
                        // ICMP and other protocols carry no Connect traffic; still consume
                        // their positions so later lines stay right.
                        for r in &perm.v4 {
                            locate(&r.cidr);
                        }
                        for r in &perm.v6 {
                            locate(&r.cidr);
                        }
                        continue;
                    }
                };
                let all = perm.protocol == "-1" || perm.from.is_none_or(|f| f < 0);
                let ports = if all {
                    specs(&protos, 1, 65535)
                } else {
                    let f = u16::try_from(perm.from.unwrap_or(1)).unwrap_or(1).max(1);
                    let l = u16::try_from(perm.to.unwrap_or(65535)).unwrap_or(65535);
                    specs(&protos, f, l.max(f))
                };
                let cidrs = perm
                    .v4
                    .iter()
                    .map(|r| &r.cidr)
                    .chain(perm.v6.iter().map(|r| &r.cidr));
                for cidr in cidrs {
                    let (line, column) = locate(cidr);
                    let span = Span::new(&path, line, column);
                    let space = parse_net(cidr).map_err(|expected| {
                        Error::bad_input(
                            span.location(),
                            format!("cannot read {cidr:?}: expected {expected}"),
                        )
                    })?;
                    list.entries.push(CidrEntry {
                        span,
                        text: cidr.clone(),
                        space: IpSet::from_nets(&[space]),
                        ports: ports.clone(),
                        direction,
                    });
                }
            }
        }
    }
    Ok(())
}

fn sg_permissions(additions: &[Addition]) -> BTreeMap<u8, Vec<serde_json::Value>> {
    let mut out: BTreeMap<u8, Vec<serde_json::Value>> = BTreeMap::new();
    for a in additions {
        let v4: Vec<serde_json::Value> = a
            .nets
            .iter()
            .filter(|n| n.addr().is_ipv4())
            .map(|n| serde_json::json!({"CidrIp": n.to_string(), "Description": "Amazon Connect"}))
            .collect();
        let v6: Vec<serde_json::Value> = a
            .nets
            .iter()
            .filter(|n| n.addr().is_ipv6())
            .map(
                |n| serde_json::json!({"CidrIpv6": n.to_string(), "Description": "Amazon Connect"}),
            )
            .collect();
        if v4.is_empty() && v6.is_empty() {
            continue;
        }
        out.entry(u8::from(a.direction == Direction::Inbound))
            .or_default()
            .push(serde_json::json!({
                "IpProtocol": a.port.proto.as_str(),
                "FromPort": a.port.first,
                "ToPort": a.port.last,
                "IpRanges": v4,
                "Ipv6Ranges": v6,
            }));
    }
    out
}

fn direction_of(key: u8) -> Direction {
    if key == 1 {
        Direction::Inbound
    } else {
        Direction::Outbound
    }
}

pub(super) fn sg_with_additions(original: &str, additions: &[Addition]) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(original) else {
        return original.to_owned();
    };
    let perms = sg_permissions(additions);
    let group = match &mut doc {
        serde_json::Value::Object(map) if map.contains_key("SecurityGroups") => map
            .get_mut("SecurityGroups")
            .and_then(|g| g.as_array_mut())
            .and_then(|g| g.first_mut()),
        serde_json::Value::Array(groups) => groups.first_mut(),
        other => Some(other),
    };
    if let Some(serde_json::Value::Object(group)) = group {
        for (key, perms) in perms {
            let field = match direction_of(key) {
                Direction::Outbound => "IpPermissionsEgress",
                Direction::Inbound => "IpPermissions",
            };
            let list = group
                .entry(field)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut() {
                list.extend(perms);
            }
        }
    }
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| original.to_owned());
    out.push('\n');
    out
}

/// The lines that add `additions` to a list of this syntax: `aws ec2 authorize-security-group-*` commands, one per direction.
pub(super) fn addition_lines(list: &CidrList, additions: &[Addition]) -> Vec<String> {
    let mut out = Vec::new();
    let perms = sg_permissions(additions);
    let group = list.layout.group_id.as_deref().unwrap_or("sg-REPLACE-ME");
    for (key, perms) in perms {
        let command = match direction_of(key) {
            Direction::Outbound => "authorize-security-group-egress",
            Direction::Inbound => "authorize-security-group-ingress",
        };
        let json = serde_json::to_string(&perms).unwrap_or_default();
        out.push(format!(
            "aws ec2 {command} --group-id {group} --ip-permissions '{json}'"
        ));
    }
    out
}
