//! Proxy auto-config (PAC) scripts, run in an embedded JavaScript engine (QuickJS) to learn whether
//! the browser sends each required host DIRECT or through a proxy.
//!
//! The PAC helper functions are those browsers took from Mozilla's `pac_utils` (string matching
//! is case-sensitive, `shExpMatch` turns the pattern into a regular expression as they do),
//! defined here without any network access: `dnsResolve` answers
//! only for IP literals (a name resolves to `null`), so `isInNet` and `isResolvable` are false for
//! names, and `myIpAddress` is `127.0.0.1`. The time functions (`weekdayRange`, `dateRange`,
//! `timeRange`) are true, so the answer is the working-hours one. Each script runs with a memory
//! cap and a deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Function, Runtime};

use crate::error::{Error, Location, Result};

/// The standard PAC helpers, offline.
const HELPERS: &str = r#"
function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) == domain;
}
function isPlainHostName(host) { return host.search('\\.') == -1; }
function localHostOrDomainIs(host, hostdom) {
  return host == hostdom || hostdom.lastIndexOf(host + '.', 0) == 0;
}
function shExpMatch(url, pattern) {
  pattern = pattern.replace(/\./g, '\\.');
  pattern = pattern.replace(/\*/g, '.*');
  pattern = pattern.replace(/\?/g, '.');
  var newRe = new RegExp('^' + pattern + '$');
  return newRe.test(url);
}
function dnsDomainLevels(host) { return String(host).split('.').length - 1; }
function __isIpV4(s) { return /^\d{1,3}(\.\d{1,3}){3}$/.test(String(s)); }
function convert_addr(ip) {
  var b = String(ip).split('.');
  return (((b[0] & 255) << 24) | ((b[1] & 255) << 16) | ((b[2] & 255) << 8) | (b[3] & 255)) >>> 0;
}
function dnsResolve(host) { return __isIpV4(host) ? String(host) : null; }
function dnsResolveEx(host) { return __isIpV4(host) ? String(host) : ''; }
function isResolvable(host) { return dnsResolve(host) !== null; }
function isResolvableEx(host) { return dnsResolveEx(host) !== ''; }
function isInNet(ipaddr, pattern, maskstr) {
  var test = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})\.(\d{1,4})$/.exec(ipaddr);
  if (test == null) {
    ipaddr = dnsResolve(ipaddr);
    if (ipaddr == null) return false;
  } else if (test[1] > 255 || test[2] > 255 || test[3] > 255 || test[4] > 255) {
    return false;
  }
  var host = convert_addr(ipaddr);
  var pat = convert_addr(pattern);
  var mask = convert_addr(maskstr);
  return (host & mask) == (pat & mask);
}
function myIpAddress() { return '127.0.0.1'; }
function myIpAddressEx() { return '127.0.0.1'; }
function weekdayRange() { return true; }
function dateRange() { return true; }
function timeRange() { return true; }
function alert(message) {}
"#;

/// The longest a script may run, in total, before it is stopped.
pub const DEADLINE: Duration = Duration::from_secs(5);
const MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// Where the browser sends a request, as the script said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The script's answer, as returned (`PROXY proxy:3128; DIRECT`).
    pub raw: String,
    /// The first choice: `DIRECT`, or `PROXY host:port` (also `HTTPS`, `SOCKS`…).
    pub first: String,
}

impl Route {
    /// Every entry of the answer, in order, blanks collapsed: the first the browser tries,
    /// then its fallbacks.
    pub(crate) fn entries(&self) -> Vec<String> {
        self.raw
            .split(';')
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|d| !d.is_empty())
            .collect()
    }

    pub fn is_direct(&self) -> bool {
        self.first.eq_ignore_ascii_case("DIRECT")
    }

    fn parse(raw: &str) -> Self {
        let first = raw
            .split(';')
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|d| !d.is_empty())
            .unwrap_or_else(|| "DIRECT".to_owned());
        Self {
            raw: raw.trim().to_owned(),
            first,
        }
    }
}

/// Runs `FindProxyForURL(url, host)` for each `(url, host)`. A script that does not compile or
/// defines no `FindProxyForURL` is bad input (exit 65); a call that throws gives an `Err` for
/// that host.
pub fn evaluate(
    text: &str,
    path: &Path,
    requests: &[(String, String)],
) -> Result<Vec<Result<Route, String>>> {
    evaluate_within(text, path, requests, DEADLINE)
}

/// [`evaluate`] with another deadline for the whole run.
pub fn evaluate_within(
    text: &str,
    path: &Path,
    requests: &[(String, String)],
    limit: Duration,
) -> Result<Vec<Result<Route, String>>> {
    let engine_error = |e: rquickjs::Error| {
        Error::bad_input(
            Location::file(path),
            format!("the JavaScript engine could not start: {e}"),
        )
    };
    let runtime = Runtime::new().map_err(engine_error)?;
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(1024 * 1024);
    let deadline = Instant::now() + limit;
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let context = Context::full(&runtime).map_err(engine_error)?;
    context.with(|ctx| {
        let mut options = EvalOptions::default();
        options.strict = false;
        options.filename = Some("helpers.js".to_owned());
        ctx.eval_with_options::<(), _>(HELPERS, options)
            .map_err(engine_error)?;
        let mut options = EvalOptions::default();
        options.strict = false;
        options.filename = Some(path.display().to_string());
        if let Err(caught) = ctx.eval_with_options::<(), _>(text, options).catch(&ctx) {
            let (message, line) = describe(&caught);
            let location =
                line.map_or_else(|| Location::file(path), |l| Location::at(path, l, None));
            return Err(Error::bad_input(
                location,
                format!("the PAC script does not run: {message}"),
            ));
        }
        let find: Function<'_> = ctx.globals().get("FindProxyForURL").map_err(|_| {
            Error::bad_input(
                Location::file(path),
                "expected a PAC script defining function FindProxyForURL(url, host)",
            )
        })?;
        Ok(requests
            .iter()
            .map(|(url, host)| {
                find.call::<_, String>((url.as_str(), host.as_str()))
                    .catch(&ctx)
                    .map(|raw| Route::parse(&raw))
                    .map_err(|caught| describe(&caught).0)
            })
            .collect())
    })
}

/// A JavaScript error's message and, when the engine knows it, its line.
fn describe(caught: &CaughtError<'_>) -> (String, Option<usize>) {
    match caught {
        CaughtError::Exception(e) => {
            // QuickJS names the place in the stack: `    at FILE:LINE:COLUMN`.
            let line = e.stack().and_then(|stack| {
                let first = stack.lines().find(|l| l.trim_start().starts_with("at "))?;
                let mut parts = first.trim_end_matches(')').rsplit(':');
                let last = parts.next()?;
                let before = parts.next()?;
                before
                    .parse::<usize>()
                    .ok()
                    .or_else(|| last.parse().ok())
                    .filter(|l| *l > 0)
            });
            let message = e.message().unwrap_or_else(|| "an exception".to_owned());
            (message, line)
        }
        CaughtError::Error(rquickjs::Error::Exception) | CaughtError::Value(_) => (
            "the script threw a value that is not an Error".to_owned(),
            None,
        ),
        CaughtError::Error(e) => (e.to_string(), None),
    }
}

/// Whether a file looks like a PAC script.
pub(crate) fn looks_like_pac(text: &str) -> bool {
    text.contains("FindProxyForURL")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAC: &str = r#"
// Contact centre PAC, v14
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (isPlainHostName(host) || dnsDomainIs(host, ".cc.example.net")) return "DIRECT";
  if (shExpMatch(host, "*.my.connect.aws") || dnsDomainIs(host, ".cloudfront.net")) return "DIRECT";
  if (shExpMatch(host, "*.transport.connect.*.amazonaws.com")) return "DIRECT";
  if (isInNet(host, "10.0.0.0", "255.0.0.0")) return "DIRECT";
  if (isInNet(dnsResolve(host), "15.193.0.0", "255.255.224.0")) return "DIRECT";
  if (localHostOrDomainIs(host, "intranet.example.net")) return "DIRECT";
  return "PROXY proxy01.cc.example.net:3128; PROXY proxy02.cc.example.net:3128; DIRECT";
}
"#;

    fn route(host: &str) -> Route {
        let out = evaluate(
            PAC,
            Path::new("p.pac"),
            &[(format!("https://{host}/"), host.to_owned())],
        )
        .unwrap();
        out.into_iter().next().unwrap().unwrap()
    }

    #[test]
    fn helpers_decide_routes_without_dns() {
        assert!(route("acme.my.connect.aws").is_direct());
        assert!(route("d1n9s7btyr4f0n.cloudfront.net").is_direct());
        assert!(route("x.transport.connect.eu-central-1.amazonaws.com").is_direct());
        assert!(route("intranet").is_direct());
        assert!(route("intranet.example.net").is_direct());
        assert!(route("10.1.2.3").is_direct());
        assert!(route("15.193.4.10").is_direct());
        let p = route("participant.connect.eu-central-1.amazonaws.com");
        assert_eq!(p.first, "PROXY proxy01.cc.example.net:3128");
        assert!(p.raw.ends_with("DIRECT"));
        // A name never resolves: isInNet is false for it, and nothing is looked up.
        assert!(!route("turnnlb-ea5316ebe2759cbc.elb.eu-central-1.amazonaws.com").is_direct());
    }

    #[test]
    fn broken_scripts_are_bad_input_and_loops_are_stopped() {
        let err = evaluate(
            "function FindProxyForURL(u, h) {\n  return (;\n}\n",
            Path::new("b.pac"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("b.pac:2"), "{err}");
        let err = evaluate("var x = 1;\n", Path::new("b.pac"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("FindProxyForURL"), "{err}");
        let out = evaluate(
            "function FindProxyForURL(u, h) { if (h == 'a') throw new Error('nope'); return 'DIRECT'; }",
            Path::new("t.pac"),
            &[("https://a/".into(), "a".into()), ("https://b/".into(), "b".into())],
        )
        .unwrap();
        assert_eq!(out[0], Err("nope".to_owned()));
        assert!(out[1].as_ref().unwrap().is_direct());
        let out = evaluate_within(
            "function FindProxyForURL(u, h) { for (;;) {} }",
            Path::new("l.pac"),
            &[("https://a/".into(), "a".into())],
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(
            out[0].as_ref().unwrap_err().contains("interrupted"),
            "{out:?}"
        );
    }
}
