//! Every remedy the live check gives, in one place, so the wording stays specific and consistent.
//!
//! Each one names what to change and where: the host, the allow-list line, the address and the
//! published prefix that covers it, the proxy or the DNS server. Arguments may hold text from the
//! network; renderers sanitise it.

use std::net::IpAddr;

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
    let ranges = if connect_ranges.is_empty() {
        "the AMAZON_CONNECT ranges of the Region (`connect-preflight endpoints --format cidrs`)"
            .to_owned()
    } else {
        format!("the AMAZON_CONNECT ranges {}", connect_ranges.join(", "))
    };
    format!("outbound UDP {port} to {host} ({ip}) and {ranges}, with the replies let back in")
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
        "calls through {host} will sound poor: keep softphone audio off VPNs (split-tunnel UDP \
         {port} to the AMAZON_CONNECT ranges), prefer a wired connection, and look for \
         congestion on the path"
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

/// Address space missing from the customer's firewall list; `extend_at`: the lines of a rule for
/// the same addresses on other ports, which could be extended instead.
pub(crate) fn add_cidr(spec: &str, add: &str, file: &str, extend_at: Option<&str>) -> String {
    let fix = format!("add {spec} outbound to {add} in {file}");
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
            add_cidr("tcp/443", "192.0.2.0/24", "c.txt", Some("c.txt:3")),
            "add tcp/443 outbound to 192.0.2.0/24 in c.txt (or extend the rule at c.txt:3 to tcp/443)"
        );
    }
}
