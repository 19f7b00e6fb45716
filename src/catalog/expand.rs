//! A selection (Region, instance, feature groups, partner Region) expanded into the
//! `Requirements` it needs: the templates' hosts and rules filled in for the Regions served.

use std::collections::BTreeSet;

use super::{
    Catalog, DomainKind, DomainRequirement, Group, HostPattern, Instance, Proof, RangeRequirement,
    RegionInfo, Requirements, Selection,
};
use crate::error::{Error, Result};
use crate::net::Direction;
use crate::net::PortRange;

impl Catalog {
    /// Expands the templates for a selection.
    pub(crate) fn requirements(&self, sel: &Selection) -> Result<Requirements> {
        let region = self
            .region(&sel.region)
            .ok_or_else(|| self.unknown_region(&sel.region))?;
        let mut groups: BTreeSet<Group> = sel.features.clone();
        groups.insert(Group::Core);
        if !groups.contains(&Group::Saml) {
            groups.insert(Group::Login);
            groups.insert(Group::Signin);
        }
        if sel.stateless {
            groups.insert(Group::Stateless);
        }
        let partner = if groups.contains(&Group::Gr) {
            let code = sel
                .partner_region
                .clone()
                .or_else(|| region.partner.clone())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "{} has no Global Resiliency partner; name one with --partner-region",
                        region.code
                    ))
                })?;
            Some(
                self.region(&code)
                    .ok_or_else(|| self.unknown_region(&code))?,
            )
        } else if let Some(code) = &sel.partner_region {
            return Err(Error::usage(format!(
                "--partner-region {code} needs --with gr"
            )));
        } else {
            None
        };

        let instance_domain = |info: &RegionInfo| -> Result<String> {
            let region_suffix = info
                .instance_domain
                .as_deref()
                .unwrap_or(DomainKind::MyConnect.suffix());
            match &sel.instance {
                None => Ok(format!("*.{region_suffix}")),
                Some(Instance {
                    alias,
                    domain: None,
                }) => Ok(format!("{alias}.{region_suffix}")),
                Some(Instance {
                    alias,
                    domain: Some(kind),
                }) => {
                    let govcloud_region = region_suffix == DomainKind::Govcloud.suffix();
                    if (*kind == DomainKind::Govcloud) != govcloud_region {
                        return Err(Error::usage(format!(
                            "the instance domain {alias}.{} does not belong to {}; GovCloud instances are in us-gov-west-1",
                            kind.suffix(),
                            info.code
                        )));
                    }
                    Ok(format!("{alias}.{}", kind.suffix()))
                }
            }
        };

        let legacy_domain = matches!(
            sel.instance,
            Some(Instance {
                domain: Some(DomainKind::Awsapps),
                ..
            })
        );
        // Global Resiliency hosts exist for the source Region only: the Region given, unless it
        // is only ever a replica (then its partner is the source).
        let source_region = match partner {
            Some(p) if region.replica_only => p.code.clone(),
            _ => region.code.clone(),
        };
        let mut out = Requirements {
            region: region.code.clone(),
            partner_region: partner.map(|p| p.code.clone()),
            instance: sel
                .instance
                .as_ref()
                .map(|_| instance_domain(region))
                .transpose()?,
            domains: Vec::new(),
            rules: Vec::new(),
            notes: Vec::new(),
        };
        // Every domain requirement so far, by host and ports: where a later entry's paths go.
        let mut seen: std::collections::HashMap<(HostPattern, Vec<PortRange>), usize> =
            std::collections::HashMap::new();
        let mut indexed = 0;
        for info in std::iter::once(region).chain(partner) {
            if let Some(note) = &info.note {
                out.notes.push(note.clone());
            }
            let list = |name: &str| -> &[String] {
                match name {
                    "turn" => &info.turn,
                    "static" => &info.static_hosts,
                    "login" => &info.login,
                    _ => &[],
                }
            };
            for t in self.endpoints.iter().filter(|t| groups.contains(&t.group)) {
                if t.partition
                    .as_deref()
                    .is_some_and(|p| p != info.partition())
                    || (t.source_region_only && info.code != source_region)
                    || (t.legacy_domain_only && !legacy_domain)
                {
                    continue;
                }
                let served = expand_regions(&t.regions, &info.code);
                for code in &served {
                    let fill = |text: &str| -> Result<String> {
                        let mut text = text.to_owned();
                        if text.contains("{instance_domain}") {
                            text = text.replace("{instance_domain}", &instance_domain(info)?);
                        }
                        let alias = sel.instance.as_ref().map_or("*", |i| i.alias.as_str());
                        Ok(text
                            .replace("{alias}", alias)
                            .replace("{instance_id}", sel.instance_id.as_deref().unwrap_or("*"))
                            .replace("{bucket}", sel.bucket.as_deref().unwrap_or("*"))
                            .replace("{region}", code))
                    };
                    let allowlist = t
                        .allowlist
                        .as_deref()
                        .map(|a| fill(a).map(|a| HostPattern::parse(&a)))
                        .transpose()?;
                    let pinned = t
                        .host
                        .strip_prefix('{')
                        .and_then(|h| h.strip_suffix('}'))
                        .filter(|h| ["turn", "static", "login"].contains(h));
                    // (host, its own paths, the allow-list line, the probe, pinned)
                    let mut hosts: Vec<(HostPattern, Vec<String>, HostPattern, Option<String>)> =
                        Vec::new();
                    match pinned {
                        Some(name) => {
                            for entry in list(name) {
                                let (host, path) = match entry.split_once('/') {
                                    Some((h, p)) => (h, Some(format!("/{p}"))),
                                    None => (entry.as_str(), None),
                                };
                                let host = HostPattern::parse(host);
                                let line = allowlist
                                    .clone()
                                    .filter(|a| a.matches(host.name()))
                                    .unwrap_or_else(|| host.clone());
                                hosts.push((host, path.into_iter().collect(), line, None));
                            }
                            // No pinned host: the wildcard AWS writes is the requirement.
                            if hosts.is_empty() {
                                if let Some(a) = &allowlist {
                                    hosts.push((a.clone(), Vec::new(), a.clone(), None));
                                }
                            }
                        }
                        None => {
                            let host = HostPattern::parse(&fill(&t.host)?);
                            let known_here = t.probe_regions.is_empty()
                                || t.probe_regions.iter().any(|r| r == code);
                            let probe = match &t.probe {
                                Some(p) if known_here => Some(fill(p)?.to_ascii_lowercase()),
                                Some(_) => None,
                                None => t
                                    .probe_from
                                    .iter()
                                    .flat_map(|name| list(name))
                                    .map(|e| e.split('/').next().unwrap_or_default())
                                    .find(|h| host.matches(h))
                                    .map(str::to_ascii_lowercase),
                            };
                            let line = allowlist.clone().unwrap_or_else(|| host.clone());
                            hosts.push((host, Vec::new(), line, probe));
                        }
                    }
                    let many = pinned.is_some() || !t.regions.is_empty();
                    for (pattern, own_paths, line, probe) in hosts {
                        let mut paths = if own_paths.is_empty() {
                            t.paths.clone()
                        } else {
                            own_paths
                        };
                        if legacy_domain && t.host == "{instance_domain}" {
                            paths = paths.iter().map(|p| format!("/connect{p}")).collect();
                        }
                        // A host already required on the same ports gains the paths (the
                        // sign-in page's /login on the instance), not a second requirement.
                        // Indexed, so that a catalog of thousands of hosts stays linear.
                        for (i, d) in out.domains.iter().enumerate().skip(indexed) {
                            seen.entry((d.host.clone(), d.ports.clone())).or_insert(i);
                        }
                        indexed = out.domains.len();
                        let earlier = seen
                            .get(&(pattern.clone(), t.ports.clone()))
                            .map(|&i| &mut out.domains[i]);
                        if let Some(earlier) = earlier {
                            for path in paths {
                                if !earlier.paths.contains(&path) {
                                    earlier.paths.push(path);
                                }
                            }
                            continue;
                        }
                        let id = if pinned.is_some() && !pattern.is_wildcard() {
                            format!("{}/{}/{}", t.id, info.code, pattern)
                        } else if many && *code != info.code {
                            format!("{}/{}/{}", t.id, info.code, code)
                        } else {
                            format!("{}/{}", t.id, info.code)
                        };
                        out.domains.push(DomainRequirement {
                            id,
                            group: t.group,
                            region: info.code.clone(),
                            host: pattern,
                            allowlist: line,
                            probe,
                            ports: t.ports.clone(),
                            paths,
                            websocket: t.websocket,
                            legacy: t.legacy,
                            purpose: t.purpose.clone(),
                            source: t.source.clone(),
                            proof: t.proof(),
                        });
                    }
                }
            }
            for t in self.rules.iter().filter(|t| groups.contains(&t.group)) {
                out.rules.push(RangeRequirement {
                    id: format!("{}/{}", t.id, info.code),
                    group: t.group,
                    region: info.code.clone(),
                    service: t.service.clone(),
                    regions: expand_regions(&t.regions, &info.code),
                    fallback: t.fallback.clone(),
                    ports: t.ports.clone(),
                    direction: if t.inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    purpose: t.purpose.clone(),
                    source: t.source.clone(),
                    proof: Proof {
                        quote: t.quote.clone(),
                        checked: t.checked.clone(),
                        ..Proof::default()
                    },
                });
            }
        }
        if sel.features.contains(&Group::Attachments) && sel.bucket.is_none() {
            out.notes.push("Name the chat attachments bucket with --bucket to narrow *.s3.<region>.amazonaws.com to one host.".to_owned());
        }
        if sel.features.contains(&Group::Gr) {
            out.notes.push(format!(
                "Global Resiliency sign-in and Region-discovery hosts are those of the source Region, {source_region} (where the instance was replicated from); the replica Region needs only its media and API entries."
            ));
            if sel.instance_id.is_none() {
                out.notes.push("Give the instance ID with --instance-id to narrow the Global Resiliency sign-in host.".to_owned());
            }
        }
        if !groups.contains(&Group::Saml) {
            out.notes.push("Agents who do not sign in through SAML use AWS's new sign-in since 2026-10-07: its entries are listed; with SAML, pass --with saml (or put with = [\"saml\"] in the site profile).".to_owned());
        }
        Ok(out)
    }
}

/// `{region}` in a template's Region list replaced by the Region served, duplicates dropped;
/// the Region served alone when the list is empty.
fn expand_regions(regions: &[String], code: &str) -> Vec<String> {
    if regions.is_empty() {
        return vec![code.to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    for r in regions {
        let r = r.replace("{region}", code);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Protocol;
    use crate::ranges::Snapshot;

    fn sel(region: &str) -> Selection {
        Selection {
            region: region.to_owned(),
            ..Selection::default()
        }
    }

    #[test]
    fn every_region_expands() {
        let catalog = Catalog::embedded();
        assert_eq!(catalog.regions().len(), 12);
        for region in catalog.regions() {
            let all = [
                Group::Saml,
                Group::Video,
                Group::Attachments,
                Group::Scheduling,
                Group::CcpV1,
            ]
            .into_iter()
            .collect();
            let req = catalog
                .requirements(&Selection {
                    features: all,
                    stateless: true,
                    ..sel(&region.code)
                })
                .unwrap();
            assert!(
                req.domains.iter().any(|d| d.id.starts_with("instance/")),
                "{}",
                region.code
            );
            assert_eq!(
                req.rules
                    .iter()
                    .filter(|r| r.group == Group::Stateless)
                    .count(),
                2
            );
        }
    }

    #[test]
    fn eu_central_1_core() {
        let catalog = Catalog::embedded();
        let req = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("acme").unwrap()),
                ..sel("eu-central-1")
            })
            .unwrap();
        let mut hosts: Vec<String> = Vec::new();
        for d in &req.domains {
            let line = d.allowlist.to_string();
            if !hosts.contains(&line) {
                hosts.push(line);
            }
        }
        assert_eq!(
            hosts,
            [
                "acme.my.connect.aws",
                "*.static.connect.aws",
                "*.cloudfront.net",
                "*.apps.signin.aws",
                "*.signin.aws",
                "*.threat-mitigation.aws.amazon.com",
                "*.s3.dualstack.us-east-1.amazonaws.com",
                "*.s3.dualstack.us-west-2.amazonaws.com",
                "*.s3.dualstack.eu-central-1.amazonaws.com",
                "*.telemetry.connect.eu-central-1.amazonaws.com",
                "participant.connect.eu-central-1.amazonaws.com",
                "*.transport.connect.eu-central-1.amazonaws.com",
                "turnnlb-*.elb.eu-central-1.amazonaws.com",
            ]
        );
        // The pinned TURN and CloudFront hosts are what a live check tests.
        let concrete: Vec<&str> = req
            .domains
            .iter()
            .filter_map(|d| d.concrete_host())
            .collect();
        for host in [
            "turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com",
            "d1n9s7btyr4f0n.cloudfront.net",
            "d3tqoc05lsydd3.cloudfront.net",
            "d1whcm49570jjw.cloudfront.net",
            "us-east-1.oauth.signin.aws",
        ] {
            assert!(concrete.contains(&host), "{host}: {concrete:?}");
        }
        let turn = req
            .domains
            .iter()
            .find(|d| d.id.starts_with("turn/"))
            .unwrap();
        assert_eq!(turn.ports, [PortRange::single(Protocol::Udp, 3478)]);
        let telemetry = req
            .domains
            .iter()
            .find(|d| d.id == "telemetry/eu-central-1")
            .unwrap();
        assert_eq!(
            telemetry.concrete_host(),
            Some("ieluqbvv.telemetry.connect.eu-central-1.amazonaws.com")
        );
        let transport = req
            .domains
            .iter()
            .find(|d| d.id == "transport/eu-central-1")
            .unwrap();
        assert_eq!(transport.concrete_host(), None);
        assert_eq!(
            req.rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            [
                "connect-media/eu-central-1",
                "ec2-api/eu-central-1",
                "cloudfront/eu-central-1",
                "signin-s3/eu-central-1"
            ]
        );
    }

    #[test]
    fn saml_replaces_the_login_page_assets() {
        let catalog = Catalog::embedded();
        let features = [Group::Saml].into_iter().collect();
        let req = catalog
            .requirements(&Selection {
                features,
                ..sel("us-east-1")
            })
            .unwrap();
        let hosts: Vec<String> = req.domains.iter().map(|d| d.host.to_string()).collect();
        assert!(!hosts.contains(&"d32i4gd7pg4909.cloudfront.net".to_owned()));
        assert!(!hosts.contains(&"*.signin.aws".to_owned()));
        assert!(hosts.contains(&"us-east-1.signin.aws.amazon.com".to_owned()));
        assert!(hosts.contains(&"*.my.connect.aws".to_owned()));
        assert!(!req.rules.iter().any(|r| r.service == "S3"));
    }

    #[test]
    fn global_resiliency_covers_both_regions() {
        let catalog = Catalog::embedded();
        let features = [Group::Gr].into_iter().collect();
        let req = catalog
            .requirements(&Selection {
                features,
                instance_id: Some("1111-2222".into()),
                ..sel("us-east-1")
            })
            .unwrap();
        assert_eq!(req.partner_region.as_deref(), Some("us-west-2"));
        let turn = req
            .domains
            .iter()
            .filter(|d| d.id.starts_with("turn/"))
            .count();
        assert_eq!(turn, 6);
        // Global Resiliency hosts are those of the source Region only.
        let hosts: Vec<String> = req.domains.iter().map(|d| d.host.to_string()).collect();
        assert!(hosts.contains(&"1111-2222.us-east-1.sign-in.connect.aws".to_owned()));
        assert!(
            !hosts.iter().any(
                |h| h.contains("us-west-2.sign-in") || h.contains("us-west-2.region-discovery")
            )
        );
        assert!(req.rules.iter().any(|r| r.id == "connect-media/us-west-2"));
        // No partner: a clear usage error.
        let features = [Group::Gr].into_iter().collect();
        let err = catalog
            .requirements(&Selection {
                features,
                ..sel("af-south-1")
            })
            .unwrap_err();
        assert!(err.to_string().contains("--partner-region"), "{err}");
    }

    #[test]
    fn govcloud_and_legacy_domains() {
        let catalog = Catalog::embedded();
        let req = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("acme").unwrap()),
                ..sel("us-gov-west-1")
            })
            .unwrap();
        assert_eq!(req.instance.as_deref(), Some("acme.govcloud.connect.aws"));
        let err = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("acme.govcloud.connect.aws").unwrap()),
                ..sel("eu-west-2")
            })
            .unwrap_err();
        assert!(err.to_string().contains("us-gov-west-1"));
        let req = catalog
            .requirements(&Selection {
                instance: Some(Instance::parse("https://acme.awsapps.com/connect/ccp-v2").unwrap()),
                ..sel("eu-west-2")
            })
            .unwrap();
        let instance = &req.domains[0];
        assert_eq!(instance.host.to_string(), "acme.awsapps.com");
        assert_eq!(instance.paths[0], "/connect/ccp-v2/");
        assert!(
            req.domains
                .iter()
                .any(|d| d.host.to_string() == "acme.my.connect.aws")
        );
    }

    #[test]
    fn unknown_region_lists_the_known_ones() {
        let err = Catalog::embedded()
            .requirements(&sel("mars-north-1"))
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        assert!(err.to_string().contains("eu-central-1"), "{err}");
    }

    #[test]
    fn ec2_falls_back_to_global_only_without_regional_entries() {
        let snapshot = Snapshot::embedded();
        let catalog = Catalog::embedded();
        let req = catalog.requirements(&sel("eu-central-1")).unwrap();
        let ec2 = req.rules.iter().find(|r| r.service == "EC2").unwrap();
        assert_eq!(ec2.effective_regions(&snapshot), ["eu-central-1"]);
        let media = req
            .rules
            .iter()
            .find(|r| r.service == "AMAZON_CONNECT")
            .unwrap();
        assert!(
            media
                .space(&snapshot)
                .contains("15.193.4.10".parse().unwrap())
        );
        assert_eq!(
            media.describe(&snapshot),
            "AMAZON_CONNECT GLOBAL + eu-central-1"
        );
        let rule = RangeRequirement {
            regions: vec!["xx-nowhere-1".into()],
            ..ec2.clone()
        };
        assert_eq!(rule.effective_regions(&snapshot), ["GLOBAL"]);
    }
}
