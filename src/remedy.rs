//! Every remedy the program gives, in one place, so the wording stays specific and consistent:
//! the live check's, the audit's, the live matching against the customer's lists, and `ccp-log`'s.
//!
//! Each one names what to change and where: the host, the allow-list line, the address and the
//! published prefix that covers it, the proxy or the DNS server. Arguments may hold text from the
//! network or from the customer's files; renderers sanitise it.
//!
//! One voice: what is wrong (naming the host, address, line or proxy), a colon, then what to
//! change, in the imperative, addressed to whoever must act; lower case, no closing full stop. A
//! remedy that is an edit of a list line ("add `*.my.connect.aws` to bypass.txt", "remove `…` from
//! squid.conf:12") is the edit alone: the check's detail beside it says what is wrong. Commands to
//! run are quoted in backticks. The functions are named for the situation; where two commands
//! meet the same situation (the audit and the live matching, the live media check and `ccp-log`)
//! they call the same function.

use std::net::IpAddr;

use crate::net::Direction;

/// The allow-list line and the published prefix for an address, as a firewall rule target:
/// `15.193.4.0/24 (AMAZON_CONNECT eu-central-1) and acme.my.connect.aws`.
pub(crate) fn targets(prefix: Option<&str>, allowlist: &str) -> String {
    match prefix {
        Some(prefix) => format!("{prefix} and {allowlist}"),
        None => allowlist.to_owned(),
    }
}

pub(crate) fn dns_nxdomain(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} says {host} does not exist: if a DNS filter, sinkhole or internal zone hides it, \
         let {allowlist} resolve to its public AWS addresses"
    )
}

pub(crate) fn dns_no_answer(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} returns no address for {host}: a DNS policy is stripping the answer; \
         let {allowlist} resolve to its public AWS addresses"
    )
}

pub(crate) fn dns_servfail(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} fails to resolve {host} (SERVFAIL): let it forward {allowlist} to a working \
         upstream resolver"
    )
}

pub(crate) fn dns_refused(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} refuses to resolve {host} for this workstation: allow recursion for this \
         workstation's network, or forward {allowlist} to a resolver that answers"
    )
}

pub(crate) fn dns_bad_response(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} answers for {host} with something that is not a valid DNS answer: find what \
         answers in the resolver's place (a DNS filter or a broken forwarder) and let it resolve \
         {allowlist} from public DNS"
    )
}

pub(crate) fn dns_timeout(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "no answer from {servers} for {host}: allow DNS (UDP and TCP 53) from this workstation to \
         {servers}, and let that resolver reach public DNS for {allowlist}"
    )
}

pub(crate) fn outside_ranges(host: &str, allowlist: &str, addr: IpAddr, expected: &str) -> String {
    format!(
        "{host} resolves to {addr}, which AWS does not publish (expected {expected}): remove the \
         DNS override, sinkhole or block page for {allowlist} so it resolves to AWS"
    )
}

pub(crate) fn private_address(host: &str, allowlist: &str, addr: IpAddr, expected: &str) -> String {
    format!(
        "{host} resolves to the private address {addr} (expected {expected}): remove the internal \
         DNS record or split-horizon zone for {allowlist}, or point it at AWS's public addresses"
    )
}

pub(crate) fn tcp_refused(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "a firewall or the network rejects TCP {port} to {addr}: allow outbound TCP {port} to {}",
        targets(prefix, allowlist)
    )
}

pub(crate) fn tcp_timeout(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "a firewall silently drops TCP {port} to {addr}: allow outbound TCP {port} to {}",
        targets(prefix, allowlist)
    )
}

pub(crate) fn tcp_unreachable(
    addr: &str,
    port: u16,
    prefix: Option<&str>,
    allowlist: &str,
) -> String {
    format!(
        "this workstation has no route to {addr}: give it a route (default gateway, or the VPN's \
         split-tunnel list) and allow outbound TCP {port} to {}",
        targets(prefix, allowlist)
    )
}

pub(crate) fn ipv6_broken(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "IPv6 to {addr} fails while IPv4 works, so browsers may stall before falling back: allow \
         outbound TCP {port} over IPv6 to {}, or stop advertising IPv6 on this network",
        targets(prefix, allowlist)
    )
}

pub(crate) fn intercepted(allowlist: &str, issuer: &str) -> String {
    format!(
        "a TLS-inspecting device issues the certificate (\"{issuer}\"): exempt {allowlist} from TLS \
         inspection; AWS advises against inspecting Connect traffic, which breaks the WebSocket and \
         softphone signalling"
    )
}

pub(crate) fn untrusted(allowlist: &str, issuer: &str) -> String {
    format!(
        "the certificate comes from \"{issuer}\", which no trusted root signs: a device is \
         intercepting the connection; exempt {allowlist} from TLS inspection (or, if the device is \
         yours, install its CA certificate in this workstation's certificate store)"
    )
}

pub(crate) fn hostname_mismatch(host: &str, allowlist: &str, names: &str) -> String {
    format!(
        "the certificate served for {host} names {names}: a proxy, captive portal or block page \
         answers instead of AWS; exempt {allowlist} from redirection and inspection"
    )
}

pub(crate) fn expired(host: &str, allowlist: &str, not_after: &str) -> String {
    format!(
        "the certificate served for {host} is not valid now (not after {not_after}): check this \
         workstation's clock; if it is right, the device serving the certificate for {allowlist} \
         must renew it or stop intercepting"
    )
}

pub(crate) fn old_tls(host: &str, allowlist: &str) -> String {
    format!(
        "the path to {host} offers only TLS 1.1 or older, and Connect requires TLS 1.2 or 1.3: \
         enable TLS 1.2 and 1.3 on the proxy or firewall that terminates TLS for {allowlist}"
    )
}

pub(crate) fn handshake_failed(host: &str, port: u16, allowlist: &str) -> String {
    format!(
        "the TLS handshake with {host} is cut off: a firewall filtering by server name (SNI) \
         blocks it; allow {allowlist} on TCP {port}"
    )
}

/// A connection that opened and then stalled at `stage` (the TLS handshake, the HTTP head, the
/// proxy's reply): the firewall passed TCP, so the fix is on whatever answers at that stage.
pub(crate) fn stalled(host: &str, stage: &str, via: &str, allowlist: &str) -> String {
    format!(
        "the connection to {host} ({via}) opens but {stage} never completes: TCP is allowed, so \
         look at what answers at that stage (a TLS-inspecting or filtering proxy, a gateway, or \
         the server) and let it pass {allowlist}"
    )
}

/// A TLS peer whose handshake is not valid TLS or is past rustls's size limits.
pub(crate) fn bad_tls(host: &str, port: u16, allowlist: &str) -> String {
    format!(
        "what answers on TCP {port} for {host} does not speak valid TLS (or sends handshake \
         messages past the size any real server uses): find the device answering in its place and \
         let {allowlist} pass to AWS untouched"
    )
}

pub(crate) fn proxy_denied(proxy: &str, host: &str, port: u16, allowlist: &str) -> String {
    format!("the proxy {proxy} refuses {host}:{port}: add {allowlist} to the proxy's allow-list")
}

pub(crate) fn proxy_auth_required(proxy: &str, allowlist: &str) -> String {
    format!(
        "the proxy {proxy} asks for credentials (HTTP 407): exempt {allowlist} from proxy \
         authentication, or test with --proxy http://USER:PASSWORD@HOST:PORT"
    )
}

pub(crate) fn proxy_unreachable(proxy: &str) -> String {
    format!(
        "the proxy {proxy} cannot be reached: check the proxy address this workstation is given \
         (HTTPS_PROXY, the site profile or --proxy) and allow TCP to it"
    )
}

pub(crate) fn http_error(host: &str, path: &str, status: u16, allowlist: &str) -> String {
    format!(
        "https://{host}{path} answers HTTP {status}, which Connect never sends there: a device on \
         the path rewrites the reply; exempt {allowlist} from filtering"
    )
}

pub(crate) fn clock_skew(host: &str, skew_s: i64) -> String {
    let direction = if skew_s > 0 { "ahead of" } else { "behind" };
    format!(
        "this workstation's clock is {} s {direction} {host}: synchronise it with a reliable time \
         source (Windows Time, chrony or systemd-timesyncd)",
        skew_s.unsigned_abs()
    )
}

pub(crate) fn websocket_rejected(who: &str, host: &str, allowlist: &str) -> String {
    format!(
        "{who} refused the WebSocket upgrade to {host}: allow WebSocket (HTTP Upgrade) for \
         {allowlist} on the proxy and exempt it from TLS inspection"
    )
}

pub(crate) fn slow_region(region: &str, connect_ms: u64, limit_ms: u64) -> String {
    format!(
        "a TLS connection to {region} takes {connect_ms} ms, past {limit_ms} ms: send Connect \
         traffic straight to the internet from this site, not through a VPN, a distant proxy or \
         a backhaul link"
    )
}

/// A requirement whose allow-list line is a wildcard without a concrete name to test.
pub(crate) fn untestable(allowlist: &str) -> String {
    format!(
        "nothing concrete to test: make sure {allowlist} is allowed on the proxy and firewall \
         (`connect-preflight audit` checks an allow-list offline)"
    )
}

// The softphone's media path: TURN relays on UDP 3478.

/// The UDP path to a TURN relay as a firewall rule: `outbound UDP 3478 to HOST (IP) and the
/// AMAZON_CONNECT ranges …, with the replies let back in`. `connect_ranges` empty: the ranges are
/// named by how to list them.
pub(crate) fn turn_path(host: &str, ip: IpAddr, port: u16, connect_ranges: &[String]) -> String {
    udp_path(&format!("{host} ({ip})"), port, connect_ranges)
}

/// [`turn_path`] to relays named by their allow-list line (`ccp-log`, which knows no address).
fn udp_path(to: &str, port: u16, connect_ranges: &[String]) -> String {
    let ranges = if connect_ranges.is_empty() {
        "the AMAZON_CONNECT ranges of the Region (`connect-preflight endpoints --format cidrs`)"
            .to_owned()
    } else {
        format!("the AMAZON_CONNECT ranges {}", connect_ranges.join(", "))
    };
    format!("outbound UDP {port} to {to} and {ranges}, with the replies let back in")
}

/// Nothing comes back from a relay.
pub(crate) fn turn_timeout(host: &str, port: u16, path: &str) -> String {
    format!(
        "nothing comes back on UDP {port} from {host}, and the softphone has no TCP fallback: \
         allow {path}"
    )
}

/// The network rejects the datagrams to a relay, or has no route to it.
pub(crate) fn turn_unreachable(host: &str, port: u16, path: &str) -> String {
    format!("the network rejects UDP {port} to {host} or has no route to it: allow {path}")
}

/// Something answers for the relay, but not as a TURN relay does. `path`: the rule to add too,
/// when the relay's path is not already known to work.
pub(crate) fn turn_impostor(host: &str, port: u16, path: Option<&str>) -> String {
    let allow = path.map(|p| format!(", and allow {p}")).unwrap_or_default();
    format!(
        "something other than a TURN relay answers on UDP {port} for {host}: find the firewall or \
         gateway that intercepts it and exempt {host} from UDP inspection and application-layer \
         gateways{allow}"
    )
}

/// The relay answered its first requests and then stopped: a firewall's UDP rate limit, or
/// inspection that lets only the first datagrams through.
pub(crate) fn turn_went_silent(host: &str, port: u16, path: &str) -> String {
    format!(
        "{host} answers the first requests on UDP {port} and then nothing: lift any UDP rate \
         limit or inspection on that path, which breaks calls too, and allow {path}"
    )
}

/// The relay refuses an allocation with TURN error `code`.
pub(crate) fn allocation_refused(host: &str, port: u16, code: u16) -> String {
    match code {
        403 => format!(
            "the relay or a device in front of it forbids the allocation (403): make sure nothing \
             rewrites UDP {port} to {host}"
        ),
        437 | 438 => format!(
            "{host} holds a stale allocation or nonce ({code}): run the check again; if it \
             persists, report the code to AWS Support with this report"
        ),
        486 => format!(
            "these credentials already hold as many allocations as {host} allows (486): close \
             other CCP sessions that use them or wait a few minutes for their allocations to \
             expire, then run the check again; if it persists, report it to AWS Support"
        ),
        508 => format!(
            "{host} is out of capacity ({code}): run the check again later, and report it to AWS \
             Support with this report"
        ),
        _ => format!(
            "{host} refuses the allocation with TURN error {code}: run the check again; if it \
             persists, report it to AWS Support with this report"
        ),
    }
}

/// The relay refuses the TURN credentials (401 or 441 to a request that carried them).
pub(crate) fn turn_credentials_refused() -> String {
    "the relay refuses the TURN credentials: a CCP session's credentials are short-lived, so copy \
     the iceServers of a session started minutes ago (see the README), or correct \
     --turn-username and --turn-password"
        .to_owned()
}

/// The relay grants allocations but nothing comes back through one.
pub(crate) fn relayed_path_silent(host: &str, port: u16, path: &str) -> String {
    format!(
        "{host} grants the allocation but nothing comes back through it: exempt UDP {port} to \
         {host} from inspection and application-layer gateways, and allow {path}"
    )
}

/// The allocation is granted and the call's requests pass, but its media does not.
#[cfg(any(feature = "webrtc-call", test))]
pub(crate) fn call_media_blocked(ip: IpAddr, port: u16) -> String {
    format!(
        "the relay at {ip} grants the allocation but the call's media does not get through: look \
         for a firewall or NAT on the path that lets the TURN requests through but not the media \
         that follows (UDP {port} both ways, datagrams up to 1,200 bytes); if the path is clear, \
         place a test call in the CCP to confirm"
    )
}

/// Calls through a relay will sound poor (loss, delay, jitter past the references).
pub(crate) fn poor_quality(host: &str, port: u16) -> String {
    format!(
        "calls through {host} will sound poor: {}",
        better_audio(port)
    )
}

/// What makes calls through a relay sound better: [`poor_quality`], [`ccp_poor_quality`].
fn better_audio(port: u16) -> String {
    format!(
        "keep softphone audio off VPNs (split-tunnel UDP {port} to the AMAZON_CONNECT ranges), \
         prefer a wired connection, and look for congestion on the path"
    )
}

/// One address family of a relay fails while the other carries calls: the family's own remedy,
/// said as what it is, an improvement.
pub(crate) fn other_family_works(used: &str, broken: &str, remedy: &str) -> String {
    format!("Calls work over {used} today; for {broken} too (and for when {used} fails): {remedy}")
}

// For the live matching against the customer's lists and the run's own notes (`check`): the same
// wording as those sites write today, so moving a call here changes no report.

/// A domain entry missing from the customer's allow-list: "add `ENTRY` to FILE", with `why`
/// after it when given ("(tcp/443)", "so every path of HOST is allowed").
pub(crate) fn add_to_list(entry: &str, file: &str, why: Option<&str>) -> String {
    match why {
        Some(why) => format!("add `{entry}` to {file} {why}"),
        None => format!("add `{entry}` to {file}"),
    }
}

/// Address space missing from the customer's firewall list (the audit's requirements and the
/// live matching's addresses alike); `extend_at`: the lines of a rule for the same addresses on
/// other ports, which could be extended instead.
pub(crate) fn add_cidr(
    spec: &str,
    direction: Direction,
    add: &str,
    file: &str,
    extend_at: Option<&str>,
) -> String {
    let way = match direction {
        Direction::Outbound => "outbound to",
        Direction::Inbound => "inbound from",
    };
    let fix = format!("add {spec} {way} {add} in {file}");
    match extend_at {
        Some(at) => format!("{fix} (or extend the rule at {at} to {spec})"),
        None => fix,
    }
}

/// The browser's proxy setting could not be followed as given.
pub(crate) fn proxy_setting() -> String {
    "fix the proxy setting named (or give the route to test with --proxy, --pac or --no-proxy)"
        .to_owned()
}

/// The selection left nothing concrete to test.
pub(crate) fn widen_selection() -> String {
    "widen the selection so that something concrete is tested (a Region or instance with \
     concrete hosts, --only with a kind the catalog has)"
        .to_owned()
}

// The audit of the customer's lists (`audit`): entries worth a remark, lines it could not read,
// PAC scripts, squid configurations, rulesets and security groups. `at` is `FILE:LINE`.

/// An entry that repeats an earlier one, or that a broader entry already allows.
pub(crate) fn remove_entry(text: &str, at: &str) -> String {
    format!("remove `{text}` from {at}")
}

/// An entry that opens nothing Connect needs (a retired name, a wildcard over none of its hosts):
/// `what`, what it opens, may be needed by something else.
pub(crate) fn remove_unless_needed(text: &str, at: &str, what: &str) -> String {
    format!("remove `{text}` from {at} unless something other than Connect needs {what}")
}

/// A domain wildcard that opens far more than Connect needs; `needed`: the entries Connect needs
/// among what it opens (none: it may go).
pub(crate) fn overbroad_domain(text: &str, at: &str, needed: &[String]) -> String {
    if needed.is_empty() {
        return remove_unless_needed(text, at, "what it opens");
    }
    format!(
        "replace `{text}` at {at} with the {} entries Connect needs: {}",
        needed.len(),
        needed.join(" ")
    )
}

/// A CIDR entry that opens far more address space than Connect needs.
pub(crate) fn overbroad_cidr(text: &str, at: &str) -> String {
    format!(
        "replace `{text}` at {at} with the CIDRs `connect-preflight endpoints --format cidrs` \
         lists for these ports"
    )
}

/// A media entry whose space AWS no longer publishes for `service`.
pub(crate) fn unpublished(space: &str, at: &str, service: &str) -> String {
    format!("{space} is no longer published for {service} in AWS's IP ranges: remove it from {at}")
}

/// A legacy `awsapps.com` entry while the instance uses `*.my.connect.aws`.
pub(crate) fn legacy_awsapps(text: &str, file: &str) -> String {
    format!(
        "keep `{text}` only while agents still open https://ALIAS.awsapps.com links, and make \
         sure the my.connect.aws entries are in {file}"
    )
}

/// A line of an allow-list that could not be read and was skipped: removing it changes nothing.
pub(crate) fn unreadable_entry(line: usize, file: &str) -> String {
    format!("fix or remove line {line} of {file}")
}

/// A line of a ruleset that could not be read: what it does is undetermined, and removing a
/// firewall rule is no remedy for that.
pub(crate) fn unreadable_rule(line: usize, file: &str) -> String {
    format!("fix line {line} of {file}")
}

/// A PAC script that returns nothing for a host.
pub(crate) fn pac_returns_nothing(file: &str, host: &str) -> String {
    format!("make {file} return DIRECT or a proxy for {host}")
}

/// A PAC script whose answer lists proxies that cannot be used before DIRECT.
pub(crate) fn pac_unusable_first(file: &str, host: &str) -> String {
    format!("remove the unusable entries from the answer {file} gives for {host}")
}

/// A PAC script that sends a host through a proxy, whose own allow-list then decides.
pub(crate) fn pac_through_proxy(file: &str, host: &str) -> String {
    format!(
        "audit that proxy's configuration (`connect-preflight audit --domains squid.conf`) or \
         test through it with `connect-preflight check --pac {file}`; or send {host} DIRECT"
    )
}

/// A PAC script that sends a host only to proxies that cannot be used.
pub(crate) fn pac_no_usable_route(file: &str, host: &str) -> String {
    format!("put the real proxy's address in {file}, or send {host} DIRECT")
}

/// A PAC script whose `FindProxyForURL` failed for a host.
pub(crate) fn pac_failed(file: &str, host: &str) -> String {
    format!(
        "fix {file} so FindProxyForURL returns a route for {host}; browsers fall back in ways \
         that differ"
    )
}

/// squid denies Connect's CONNECT requests: `place` is where the lines go ("before line 40 of
/// squid.conf"), `hosts` the allow-list entries to name, `from_known` whether the agents'
/// addresses were given to limit the line to them.
pub(crate) fn squid_allow_connect(place: &str, hosts: &str, from_known: bool) -> String {
    format!(
        "add {place} the lines under \"What to add\": an http_access allow line for CONNECT on \
         port 443 to {hosts}{}",
        if from_known {
            ""
        } else {
            " (give --from with the agents' addresses to limit it to them)"
        }
    )
}

/// Whether squid lets Connect through depends on what the audit was not given.
pub(crate) fn squid_undetermined() -> String {
    "give the audit what it depends on (--from with the agents' addresses, the files the \
     configuration names) and run it again, or test through the proxy with \
     `connect-preflight check`"
        .to_owned()
}

/// A ruleset stops Connect's traffic: accept `port` to (or from) `space` before the lines that
/// stop it (`blocked_at`).
pub(crate) fn accept_before(
    port: &str,
    direction: Direction,
    space: &str,
    blocked_at: &str,
    file: &str,
) -> String {
    let way = match direction {
        Direction::Outbound => "to",
        Direction::Inbound => "from",
    };
    format!("accept {port} {way} {space} before {blocked_at} in {file}")
}

/// A ruleset's verdict depends on matches the audit cannot decide (`depends`).
pub(crate) fn ruleset_undetermined(depends: &str) -> String {
    format!("check what {depends} decides for this traffic, or give the options it depends on")
}

/// Rules to add whose address family the chain's table does not take (an `ip` table for IPv6).
pub(crate) fn wrong_table_family(
    count: usize,
    port: &str,
    v6: bool,
    chain: &str,
    family: &str,
) -> String {
    let (name, table) = if v6 { ("IPv6", "ip6") } else { ("IPv4", "ip") };
    format!(
        "{count} CIDRs of {port} are {name} and chain {chain} is in a {family} table: add them to \
         an {table} or inet table's chain"
    )
}

/// Rules to add past AWS's default quota of rules per security group.
pub(crate) fn security_group_quota(adding: usize, groups: usize) -> String {
    format!(
        "spread the {adding} rules over {groups} security groups attached to the same interfaces \
         (up to 5 per interface by default), or ask AWS for a higher rules-per-group quota (rules \
         per group times groups per interface may not exceed 1,000), or put the CIDRs in a \
         customer-managed prefix list (it counts as its maximum entries)"
    )
}

/// The IP-ranges snapshot in use is past AWS's notice window. Every live report with an old
/// snapshot carries it, so its wording stays as those reports have it (a semicolon where the voice
/// has a colon): the live check's JSON stays byte-identical.
pub(crate) fn snapshot_stale(create_date: &str, age_days: i64, notice_days: i64) -> String {
    format!(
        "the IP ranges in use were published {create_date}, {age_days} days ago, past AWS's \
         {notice_days}-day notice window; run `connect-preflight ranges update` (or pass \
         --ip-ranges with a current ip-ranges.json)"
    )
}

/// The audit's warning when its IP ranges are past AWS's notice window: what it cannot see, and
/// how to give it a current copy.
pub(crate) fn audit_snapshot_stale(create_date: &str, age_days: i64) -> String {
    format!(
        "the IP ranges in use were published {create_date}, {age_days} days ago: the audit cannot \
         see ranges AWS added since; run `connect-preflight ranges update` (or pass --ip-ranges \
         with a current ip-ranges.json)"
    )
}

/// The workstation's own DNS configuration cannot be read: name the servers to use instead.
pub(crate) fn dns_setup_unreadable() -> String {
    "give the DNS servers to use with --dns-server IP (or dns_servers in the site profile)"
        .to_owned()
}

// What a CCP log shows went wrong (`ccp-log`): the check's detail gives the cause, the remedy
// names the allow-list lines of the hosts the log shows.

/// No media path for the softphone: the TURN relays `relays` (their allow-list lines).
pub(crate) fn ccp_media_path(relays: &str) -> String {
    format!(
        "allow {}, and keep softphone audio off VPNs and proxies; `connect-preflight check \
         --ccp-log` tests exactly those relays",
        udp_path(relays, 3478, &[])
    )
}

/// The softphone's signalling WebSocket could not be opened or completed.
pub(crate) fn ccp_signalling(signalling: &str) -> String {
    format!(
        "allow WebSocket (HTTP Upgrade) for {signalling} on TCP 443 through the proxy and exempt \
         it from TLS inspection and proxy idle timeouts"
    )
}

/// The CCP's own WebSocket dropped or could not be opened.
pub(crate) fn ccp_websocket_lost(transport: &str) -> String {
    format!(
        "allow WebSocket (HTTP Upgrade) for {transport} on TCP 443 through the proxy, exempt it \
         from TLS inspection, and raise proxy or firewall idle timeouts above 60 s"
    )
}

/// The CCP's WebSocket heartbeat got no answer.
pub(crate) fn ccp_heartbeat(transport: &str) -> String {
    format!(
        "exempt {transport} from TLS inspection and proxy buffering, raise idle timeouts above \
         60 s, and check the link for congestion"
    )
}

/// A Connect API request from the CCP failed or timed out.
pub(crate) fn ccp_api_failed(instance: &str) -> String {
    format!(
        "allow HTTPS to {instance} through the proxy and exempt it from TLS inspection; if \
         failures repeat for one API, open a case with AWS Support quoting the time"
    )
}

/// Connect refused an action the agent took: not a network fault.
pub(crate) fn ccp_api_refused() -> String {
    "nothing to change on the network: check the action the agent took (number format, quick \
     connect, permissions in the security profile) or the instance's configuration"
        .to_owned()
}

/// The CCP's session was refused or its authentication expired.
pub(crate) fn ccp_auth(instance: &str) -> String {
    format!(
        "sign the agent in again; if it recurs, allow third-party cookies for {instance} and \
         check the identity provider's session length"
    )
}

/// The browser did not give the CCP the microphone.
pub(crate) fn ccp_microphone(instance: &str) -> String {
    format!(
        "allow the microphone for {instance} in the browser (and in the VDI's device \
         redirection), and check no other program holds it"
    )
}

/// The browser is not one the CCP supports.
pub(crate) fn ccp_browser() -> String {
    "use a current Chrome, Edge or Firefox".to_owned()
}

/// The CCP is open in more than one window or tab.
pub(crate) fn ccp_one_window() -> String {
    "keep one CCP window open per agent".to_owned()
}

/// The VDI's media redirection failed.
pub(crate) fn ccp_vdi() -> String {
    "check the VDI platform's WebRTC redirection (Citrix HDX, Omnissa, AVD) is installed and \
     allowed for the CCP"
        .to_owned()
}

/// Any other softphone failure.
pub(crate) fn ccp_softphone_other() -> String {
    "place a test call; if it fails again, run `connect-preflight check --ccp-log` on this log \
     to test the relays and transport it names"
        .to_owned()
}

/// One side of a call heard nothing while the other way flowed (`who`: "the agent", "the
/// customer").
pub(crate) fn ccp_one_way(who: &str, relays: &str) -> String {
    format!(
        "{who} received no audio while the other way flowed, so a firewall or NAT passes UDP \
         3478 one way only, or a VPN or VDI redirection drops the return path: allow UDP 3478 \
         both ways to {relays} and the AMAZON_CONNECT ranges of the Region"
    )
}

/// Calls through the relays `relays` sounded poor: [`poor_quality`] in the past tense.
pub(crate) fn ccp_poor_quality(relays: &str) -> String {
    format!(
        "calls through {relays} sounded poor: {}",
        better_audio(3478)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One voice: what is wrong or where, then a colon and what to change, in the imperative; a
    /// sentence that starts lower case (the renderers place it after a label).
    #[test]
    fn media_remedies_say_what_is_wrong_then_what_to_change() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let path = turn_path("turn.example", ip, 3478, &["15.193.0.0/19".to_owned()]);
        assert_eq!(
            path,
            "outbound UDP 3478 to turn.example (192.0.2.10) and the AMAZON_CONNECT ranges \
             15.193.0.0/19, with the replies let back in"
        );
        let texts = [
            turn_timeout("turn.example", 3478, &path),
            turn_unreachable("turn.example", 3478, &path),
            turn_impostor("turn.example", 3478, Some(&path)),
            turn_impostor("turn.example", 3478, None),
            turn_went_silent("turn.example", 3478, &path),
            allocation_refused("turn.example", 3478, 403),
            allocation_refused("turn.example", 3478, 438),
            allocation_refused("turn.example", 3478, 486),
            allocation_refused("turn.example", 3478, 508),
            allocation_refused("turn.example", 3478, 599),
            turn_credentials_refused(),
            relayed_path_silent("turn.example", 3478, &path),
            call_media_blocked(ip, 3478),
            poor_quality("turn.example", 3478),
        ];
        for text in &texts {
            let (what, fix) = text.split_once(": ").unwrap_or_else(|| panic!("{text}"));
            assert!(!what.is_empty() && !fix.is_empty(), "{text}");
            assert!(text.starts_with(|c: char| !c.is_uppercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
        assert!(texts[0].contains("no TCP fallback") && texts[0].ends_with(&path));
        assert!(allocation_refused("turn.example", 3478, 599).contains("599"));
    }

    #[test]
    fn list_remedies_keep_the_wording_of_the_live_matching() {
        assert_eq!(
            add_to_list("*.example", "d.txt", None),
            "add `*.example` to d.txt"
        );
        assert_eq!(
            add_to_list("*.example", "d.txt", Some("(tcp/443)")),
            "add `*.example` to d.txt (tcp/443)"
        );
        assert_eq!(
            add_cidr(
                "tcp/443",
                Direction::Outbound,
                "192.0.2.0/24",
                "c.txt",
                Some("c.txt:3")
            ),
            "add tcp/443 outbound to 192.0.2.0/24 in c.txt (or extend the rule at c.txt:3 to tcp/443)"
        );
        assert_eq!(
            add_cidr(
                "udp/3478",
                Direction::Inbound,
                "192.0.2.0/24",
                "c.txt",
                None
            ),
            "add udp/3478 inbound from 192.0.2.0/24 in c.txt"
        );
    }

    /// The audit's and `ccp-log`'s remedies, in the voice of the rest: lower case, no closing
    /// full stop, and where a remedy says what is wrong, a colon before what to change.
    #[test]
    fn audit_and_ccp_log_remedies_speak_in_the_same_voice() {
        let needed = [
            "*.my.connect.aws".to_owned(),
            "*.static.connect.aws".to_owned(),
        ];
        let texts = [
            remove_entry("*.example", "d.txt:3"),
            remove_unless_needed("*.awsglobalaccelerator.com", "d.txt:4", "*.x"),
            overbroad_domain("*.amazonaws.com", "d.txt:5", &needed),
            overbroad_domain("*.amazon.com", "d.txt:6", &[]),
            overbroad_cidr("0.0.0.0/0", "c.txt:2"),
            unpublished("192.0.2.0/24", "c.txt:7", "AMAZON_CONNECT"),
            legacy_awsapps("acme.awsapps.com", "d.txt"),
            unreadable_entry(8, "d.txt"),
            unreadable_rule(9, "rules.v4"),
            pac_returns_nothing("proxy.pac", "acme.my.connect.aws"),
            pac_unusable_first("proxy.pac", "acme.my.connect.aws"),
            pac_through_proxy("proxy.pac", "acme.my.connect.aws"),
            pac_no_usable_route("proxy.pac", "acme.my.connect.aws"),
            pac_failed("proxy.pac", "acme.my.connect.aws"),
            squid_allow_connect("to squid.conf", ".my.connect.aws", false),
            squid_undetermined(),
            accept_before(
                "tcp/443",
                Direction::Outbound,
                "192.0.2.0/24",
                "rules.v4:12",
                "rules.v4",
            ),
            ruleset_undetermined("ipset agents"),
            wrong_table_family(2, "udp/3478", true, "output", "ip"),
            security_group_quota(70, 2),
            snapshot_stale("2026-01-01-00-00-00", 90, 30),
            ccp_media_path("turnnlb-*.elb.eu-central-1.amazonaws.com"),
            ccp_signalling("rtc*.connect-telecom.eu-central-1.amazonaws.com"),
            ccp_websocket_lost("*.transport.connect.eu-central-1.amazonaws.com"),
            ccp_heartbeat("*.transport.connect.eu-central-1.amazonaws.com"),
            ccp_api_failed("acme.my.connect.aws"),
            ccp_api_refused(),
            ccp_auth("acme.my.connect.aws"),
            ccp_microphone("acme.my.connect.aws"),
            ccp_browser(),
            ccp_one_window(),
            ccp_vdi(),
            ccp_softphone_other(),
            ccp_one_way("the agent", "turnnlb-*.elb.eu-central-1.amazonaws.com"),
            ccp_poor_quality("turnnlb-*.elb.eu-central-1.amazonaws.com"),
        ];
        for text in &texts {
            assert!(text.starts_with(|c: char| !c.is_uppercase()), "{text}");
            assert!(!text.ends_with('.') && !text.ends_with(' '), "{text}");
            assert!(!text.contains("  "), "{text}");
        }
        // One situation, one wording: the live media check's and `ccp-log`'s.
        let live = turn_path(
            "turnnlb-*.elb.eu-central-1.amazonaws.com",
            [192, 0, 2, 1].into(),
            3478,
            &[],
        );
        assert!(
            ccp_media_path("turnnlb-*.elb.eu-central-1.amazonaws.com")
                .starts_with(&format!("allow {}", live.replace(" (192.0.2.1)", "")))
        );
        let (live, log) = (poor_quality("relay", 3478), ccp_poor_quality("relay"));
        assert_eq!(
            live.split_once(": ").unwrap().1,
            log.split_once(": ").unwrap().1
        );
        assert_eq!(
            overbroad_domain("*.amazon.com", "d.txt:6", &[]),
            remove_unless_needed("*.amazon.com", "d.txt:6", "what it opens")
        );
        assert_eq!(
            overbroad_domain("*.amazonaws.com", "d.txt:5", &needed),
            "replace `*.amazonaws.com` at d.txt:5 with the 2 entries Connect needs: \
             *.my.connect.aws *.static.connect.aws"
        );
        assert_eq!(
            snapshot_stale("2026-01-01-00-00-00", 90, 30),
            "the IP ranges in use were published 2026-01-01-00-00-00, 90 days ago, past AWS's \
             30-day notice window; run `connect-preflight ranges update` (or pass --ip-ranges \
             with a current ip-ranges.json)"
        );
    }
}
