//! Every remedy the live check gives, in one place, so the wording stays specific and consistent.
//!
//! Each one names what to change and where: the host, the allow-list line, the address and the
//! published prefix that covers it, the proxy or the DNS server. Arguments may hold text from the
//! network; renderers sanitise it.

use std::net::IpAddr;

/// The allow-list line and the published prefix for an address, as a firewall rule target:
/// `15.193.4.0/24 (AMAZON_CONNECT eu-central-1) and acme.my.connect.aws`.
pub fn targets(prefix: Option<&str>, allowlist: &str) -> String {
    match prefix {
        Some(prefix) => format!("{prefix} and {allowlist}"),
        None => allowlist.to_owned(),
    }
}

pub fn dns_nxdomain(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} says {host} does not exist: if a DNS filter, sinkhole or internal zone hides it, \
         let {allowlist} resolve to its public AWS addresses"
    )
}

pub fn dns_no_answer(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} returns no address for {host}: a DNS policy is stripping the answer; \
         let {allowlist} resolve to its public AWS addresses"
    )
}

pub fn dns_servfail(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} fails to resolve {host} (SERVFAIL): let it forward {allowlist} to a working \
         upstream resolver"
    )
}

pub fn dns_refused(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} refuses to resolve {host} for this workstation: allow recursion for this \
         workstation's network, or forward {allowlist} to a resolver that answers"
    )
}

pub fn dns_bad_response(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "{servers} answers for {host} with something that is not a valid DNS answer: find what \
         answers in the resolver's place (a DNS filter or a broken forwarder) and let it resolve \
         {allowlist} from public DNS"
    )
}

pub fn dns_timeout(host: &str, allowlist: &str, servers: &str) -> String {
    format!(
        "no answer from {servers} for {host}: allow DNS (UDP and TCP 53) from this workstation to \
         {servers}, and let that resolver reach public DNS for {allowlist}"
    )
}

pub fn outside_ranges(host: &str, allowlist: &str, addr: IpAddr, expected: &str) -> String {
    format!(
        "{host} resolves to {addr}, which AWS does not publish (expected {expected}): remove the \
         DNS override, sinkhole or block page for {allowlist} so it resolves to AWS"
    )
}

pub fn private_address(host: &str, allowlist: &str, addr: IpAddr, expected: &str) -> String {
    format!(
        "{host} resolves to the private address {addr} (expected {expected}): remove the internal \
         DNS record or split-horizon zone for {allowlist}, or point it at AWS's public addresses"
    )
}

pub fn tcp_refused(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "a firewall or the network rejects TCP {port} to {addr}: allow outbound TCP {port} to {}",
        targets(prefix, allowlist)
    )
}

pub fn tcp_timeout(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "a firewall silently drops TCP {port} to {addr}: allow outbound TCP {port} to {}",
        targets(prefix, allowlist)
    )
}

pub fn tcp_unreachable(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "this workstation has no route to {addr}: give it a route (default gateway, or the VPN's \
         split-tunnel list) and allow outbound TCP {port} to {}",
        targets(prefix, allowlist)
    )
}

pub fn ipv6_broken(addr: &str, port: u16, prefix: Option<&str>, allowlist: &str) -> String {
    format!(
        "IPv6 to {addr} fails while IPv4 works, so browsers may stall before falling back: allow \
         outbound TCP {port} over IPv6 to {}, or stop advertising IPv6 on this network",
        targets(prefix, allowlist)
    )
}

pub fn intercepted(allowlist: &str, issuer: &str) -> String {
    format!(
        "a TLS-inspecting device issues the certificate (\"{issuer}\"): exempt {allowlist} from TLS \
         inspection; AWS advises against inspecting Connect traffic, which breaks the WebSocket and \
         softphone signalling"
    )
}

pub fn untrusted(allowlist: &str, issuer: &str) -> String {
    format!(
        "the certificate comes from \"{issuer}\", which no trusted root signs: a device is \
         intercepting the connection; exempt {allowlist} from TLS inspection (or, if the device is \
         yours, install its CA certificate in this workstation's certificate store)"
    )
}

pub fn hostname_mismatch(host: &str, allowlist: &str, names: &str) -> String {
    format!(
        "the certificate served for {host} names {names}: a proxy, captive portal or block page \
         answers instead of AWS; exempt {allowlist} from redirection and inspection"
    )
}

pub fn expired(host: &str, allowlist: &str, not_after: &str) -> String {
    format!(
        "the certificate served for {host} is not valid now (not after {not_after}): check this \
         workstation's clock; if it is right, the device serving the certificate for {allowlist} \
         must renew it or stop intercepting"
    )
}

pub fn old_tls(host: &str, allowlist: &str) -> String {
    format!(
        "the path to {host} offers only TLS 1.1 or older, and Connect requires TLS 1.2 or 1.3: \
         enable TLS 1.2 and 1.3 on the proxy or firewall that terminates TLS for {allowlist}"
    )
}

pub fn handshake_failed(host: &str, port: u16, allowlist: &str) -> String {
    format!(
        "the TLS handshake with {host} is cut off: a firewall filtering by server name (SNI) \
         blocks it; allow {allowlist} on TCP {port}"
    )
}

/// A connection that opened and then stalled at `stage` (the TLS handshake, the HTTP head, the
/// proxy's reply): the firewall passed TCP, so the fix is on whatever answers at that stage.
pub fn stalled(host: &str, stage: &str, via: &str, allowlist: &str) -> String {
    format!(
        "the connection to {host} ({via}) opens but {stage} never completes: TCP is allowed, so \
         look at what answers at that stage (a TLS-inspecting or filtering proxy, a gateway, or \
         the server) and let it pass {allowlist}"
    )
}

/// A TLS peer whose handshake is not valid TLS or is past rustls's size limits.
pub fn bad_tls(host: &str, port: u16, allowlist: &str) -> String {
    format!(
        "what answers on TCP {port} for {host} does not speak valid TLS (or sends handshake \
         messages past the size any real server uses): find the device answering in its place and \
         let {allowlist} pass to AWS untouched"
    )
}

pub fn proxy_denied(proxy: &str, host: &str, port: u16, allowlist: &str) -> String {
    format!("the proxy {proxy} refuses {host}:{port}: add {allowlist} to the proxy's allow-list")
}

pub fn proxy_auth_required(proxy: &str, allowlist: &str) -> String {
    format!(
        "the proxy {proxy} asks for credentials (HTTP 407): exempt {allowlist} from proxy \
         authentication, or test with --proxy http://USER:PASSWORD@HOST:PORT"
    )
}

pub fn proxy_unreachable(proxy: &str) -> String {
    format!(
        "the proxy {proxy} cannot be reached: check the proxy address this workstation is given \
         (HTTPS_PROXY, the site profile or --proxy) and allow TCP to it"
    )
}

pub fn http_error(host: &str, path: &str, status: u16, allowlist: &str) -> String {
    format!(
        "https://{host}{path} answers HTTP {status}, which Connect never sends there: a device on \
         the path rewrites the reply; exempt {allowlist} from filtering"
    )
}

pub fn clock_skew(host: &str, skew_s: i64) -> String {
    let direction = if skew_s > 0 { "ahead of" } else { "behind" };
    format!(
        "this workstation's clock is {} s {direction} {host}: synchronise it with a reliable time \
         source (Windows Time, chrony or systemd-timesyncd)",
        skew_s.unsigned_abs()
    )
}

pub fn websocket_rejected(who: &str, host: &str, allowlist: &str) -> String {
    format!(
        "{who} refused the WebSocket upgrade to {host}: allow WebSocket (HTTP Upgrade) for \
         {allowlist} on the proxy and exempt it from TLS inspection"
    )
}

pub fn slow_region(region: &str, connect_ms: u64, limit_ms: u64) -> String {
    format!(
        "a TLS connection to {region} takes {connect_ms} ms, past {limit_ms} ms: send Connect \
         traffic straight to the internet from this site, not through a VPN, a distant proxy or \
         a backhaul link"
    )
}

/// A requirement whose allow-list line is a wildcard without a concrete name to test.
pub fn untestable(allowlist: &str) -> String {
    format!(
        "nothing concrete to test: make sure {allowlist} is allowed on the proxy and firewall \
         (`connect-preflight audit` checks an allow-list offline)"
    )
}
