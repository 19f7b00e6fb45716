//! The command line exactly as users type it. No logic here: [`crate::config`] gives it meaning.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::allowlist::cidrs::CidrFormat;
pub use crate::audit::{AuditFormat, DomainsFormat};
use crate::catalog::Group;
pub use crate::catalog_info::CatalogFormat;
pub use crate::endpoints::EndpointsFormat;
pub use crate::output::{ColorChoice, ReportFormat};
pub use crate::summary::SummaryFormat;

/// Can this workstation run the Amazon Connect CCP and its softphone? If not, what exactly must
/// the network team change?
#[derive(Debug, Parser)]
// One name in the usage lines on every OS (on Windows argv[0] would give "connect-preflight.exe").
#[command(
    name = "connect-preflight",
    bin_name = "connect-preflight",
    version,
    about,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 ready, 1 degraded (warnings only), 2 not ready, 3 incomplete \
(something required not tested), 64 usage error, 65 bad input data, 70 internal error, 130 \
interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Site profile (TOML) with instance, Region, features and files [default: one beside the
    /// executable, else in the user's config folder]
    #[arg(long, global = true, value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// Use this ip-ranges.json instead of the embedded or cached snapshot
    #[arg(long, global = true, value_name = "FILE")]
    pub ip_ranges: Option<PathBuf>,

    /// Write the output to FILE (atomically) instead of stdout
    #[arg(short, long, global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// When to colour the text output
    #[arg(long, global = true, value_name = "WHEN")]
    pub color: Option<ColorChoice>,

    /// Print nothing on stderr but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

// Parsed once per run, so the size of the largest variant costs nothing worth an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Test this workstation live: DNS, TCP, TLS (with inspection detection), HTTPS and WebSocket
    /// through the browser's path, and the clock
    Check(CheckArgs),
    /// The domain allow-list and IP rules a Region and instance need, for the network team
    Endpoints(EndpointsArgs),
    /// AWS's published IP ranges: the snapshot in use, lookups, updates and diffs
    #[command(subcommand)]
    Ranges(RangesCommand),
    /// Many JSON reports in one view: problems by machines and sites, media figures per site, and
    /// one change list for the network team
    Summarize(SummarizeArgs),
    /// Compare the customer's domain allow-list and firewall whitelist with what Connect needs (offline)
    Audit(AuditArgs),
    /// Read the agent's downloaded CCP log (agent-log.txt): each call's audio both ways, the errors
    /// with their causes, the clock skew and the endpoints the CCP used (offline)
    #[command(name = "ccp-log")]
    CcpLog(CcpLogArgs),
    /// What the desktop shortcut runs: the check with the site profile, an HTML and a JSON report
    /// saved in the reports folder, the HTML opened, and one line to send to support
    Agent(AgentArgs),
    /// The catalog of Connect's domains and IP rules in use: its date, entries and AWS sources
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The man page or a shell's completion script, for packagers
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Write the site profile: what installers run to deploy one
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Folder for the reports [default: the profile's report_dir, else "Connect network check" in
    /// the user's Documents]
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// Wait for Enter before closing, when run in a console window of its own (the shortcut
    /// passes this)
    #[arg(long)]
    pub pause: bool,

    /// Do not open the HTML report in the browser
    #[arg(long)]
    pub no_open: bool,
}

/// Which instance, Region and features: shared by every command that needs the catalog.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Connect Region of the instance, e.g. eu-central-1
    #[arg(short, long, value_name = "REGION")]
    pub region: Option<String>,

    /// Instance alias, CCP URL (https://acme.my.connect.aws/ccp-v2/) or domain
    #[arg(short, long, value_name = "ALIAS|URL")]
    pub instance: Option<String>,

    /// Feature groups the agents use, comma-separated
    #[arg(short, long, value_name = "GROUP", value_delimiter = ',')]
    pub with: Vec<Group>,

    /// Global Resiliency partner Region [default: the Region's documented partner]
    #[arg(long, value_name = "REGION")]
    pub partner_region: Option<String>,

    /// Instance ID, for the Global Resiliency sign-in host
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,

    /// Chat attachments bucket name
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,

    /// The firewall is stateless: also list the inbound rules for returning media
    #[arg(long)]
    pub stateless: bool,

    /// Use this catalog (same shape as ranges/catalog.toml) instead of the built-in one or the
    /// one an administrator put in the config folder
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EndpointsArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Output format: `domains` is one allow-list entry a line, `cidrs` the minimal CIDRs per port
    #[arg(short, long, value_enum, default_value_t = EndpointsFormat::Text)]
    pub format: EndpointsFormat,
}

#[derive(Debug, Args, Default)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Run only these kinds of check, comma-separated
    #[arg(
        long,
        value_name = "KIND",
        value_delimiter = ',',
        conflicts_with = "skip"
    )]
    pub only: Vec<CheckKind>,

    /// Leave out these kinds of check, comma-separated
    #[arg(long, value_name = "KIND", value_delimiter = ',')]
    pub skip: Vec<CheckKind>,

    /// Print what would be contacted, and why, without touching the network
    #[arg(long)]
    pub list: bool,

    /// Also test exactly the endpoints this CCP log (agent-log.txt) names: its WebSocket transport
    /// and signalling hosts (with the upgrade) and its TURN relays; its instance and Region stand in
    /// for --instance and --region when those are not given
    #[arg(long = "ccp-log", value_name = "FILE")]
    pub ccp_log: Vec<PathBuf>,

    /// Also time a TLS connection to every Region's telemetry host and name the closest
    #[arg(long)]
    pub survey: bool,

    /// Ask this DNS server instead of the system's (repeatable; IPv6 with a port as [::1]:53)
    #[arg(long = "dns-server", value_name = "IP[:PORT]")]
    pub dns_servers: Vec<String>,

    /// Also trust the CA certificates in this PEM file, as if they were public roots
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Send HTTPS through this proxy (http://[user:password@]host:port, https://host:port or
    /// socks5://host:port) [default: HTTPS_PROXY]
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    pub proxy: Option<String>,

    /// Connect directly, ignoring HTTPS_PROXY, the site profile's proxy and the OS's settings
    #[arg(long)]
    pub no_proxy: bool,

    /// Route each host as this PAC script (file or http(s) URL) says: DIRECT, or PROXY, HTTPS or
    /// SOCKS5 host:port (SOCKS version 4 is not tested).
    /// Without --proxy or --pac, the OS's proxy settings are read; their automatic discovery (WPAD)
    /// is followed by DHCP (Windows) and DNS
    #[arg(long, value_name = "FILE|URL", conflicts_with_all = ["proxy", "no_proxy"])]
    pub pac: Option<String>,

    /// Also match every host checked against this domain allow-list (plain or squid, as `audit`
    /// reads it), naming the covering line or the entry to add
    #[arg(long, value_name = "FILE")]
    pub domains: Option<PathBuf>,

    /// Also match every address reached, with its port, against this firewall whitelist (plain,
    /// CSV, iptables-save, nft or security-group JSON, as `audit` reads it)
    #[arg(long, value_name = "FILE")]
    pub cidrs: Option<PathBuf>,

    /// Deadline of the whole check, e.g. 20s or 1m [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    #[arg(short, long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Do not show the progress bar on stderr
    #[arg(long)]
    pub no_progress: bool,

    /// Length of the media quality sample per relay, in seconds (1-60) [default: 5]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=60))]
    pub media_seconds: Option<u64>,

    /// TURN username for the authenticated media test [env: CONNECT_PREFLIGHT_TURN_USERNAME]
    #[arg(long, value_name = "NAME", conflicts_with = "ice_servers")]
    pub turn_username: Option<String>,

    /// TURN password; prefer the environment, which other users cannot see
    /// [env: CONNECT_PREFLIGHT_TURN_PASSWORD]
    #[arg(long, value_name = "PASSWORD", conflicts_with = "ice_servers")]
    pub turn_password: Option<String>,

    /// The iceServers JSON a CCP session logs: relays and credentials for the authenticated
    /// media test
    #[arg(long, value_name = "FILE")]
    pub ice_servers: Option<PathBuf>,

    /// A CCP session's WebSocket URL (wss://HOST.transport.connect.REGION.amazonaws.com/?..., from
    /// the CCP log's createTransport): the upgrade to it is tested through the browser's path
    #[arg(long, value_name = "URL")]
    pub transport_url: Option<String>,
}

/// The kinds of live check `--only` and `--skip` select.
pub use crate::plan::CheckKind;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The domain allow-list: one host, `*.suffix`, `.suffix` or URL a line, a squid.conf, or a PAC file
    #[arg(long, value_name = "FILE")]
    pub domains: Option<PathBuf>,

    /// The firewall whitelist: CIDRs, CSV, iptables-save, nft list ruleset, or security-group JSON
    #[arg(long, value_name = "FILE")]
    pub cidrs: Option<PathBuf>,

    /// Syntax of the domain allow-list [default: detected]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub domains_format: Option<DomainsFormat>,

    /// Syntax of the CIDR whitelist [default: detected]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub cidrs_format: Option<CidrFormat>,

    /// Report lines that cannot be read as warnings and go on, instead of stopping (exit 65)
    #[arg(long)]
    pub lenient: bool,

    /// Write a copy of the list with the missing entries added, in its own syntax
    #[arg(long, value_name = "FILE")]
    pub fix_output: Option<PathBuf>,

    #[command(flatten)]
    pub firewall: FirewallArgs,

    #[arg(short, long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
}

/// `--from`: a CIDR, or one address.
fn agent_range(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("expected a CIDR such as 10.20.0.0/16 or an address, not {text:?}"))
}

/// Where the agents are, for a ruleset (iptables-save, nft, CSV) read as the kernel walks it and
/// a squid configuration read as squid decides.
#[derive(Debug, Args, Clone, Default)]
pub struct FirewallArgs {
    /// Where the agents are: their addresses or networks, comma-separated, as the ruleset or
    /// proxy sees them (what a firewall's source matches and a squid `src` ACL are compared
    /// with) [default: any address]
    #[arg(long, value_name = "CIDR", value_delimiter = ',', value_parser = agent_range)]
    pub from: Vec<ipnet::IpNet>,

    /// Where the ruleset runs: on the agent's machine (output) or on a gateway between the
    /// agents and AWS (forward) [default: what the file filters; both when it filters both]
    #[arg(long, value_enum, value_name = "HOOK")]
    pub hook: Option<HookArg>,

    /// The interface the agents' traffic comes in by, on a gateway (for -i / iifname rules)
    #[arg(long, value_name = "NAME")]
    pub in_interface: Option<String>,

    /// The interface the traffic to AWS leaves by (for -o / oifname rules)
    #[arg(long, value_name = "NAME")]
    pub out_interface: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HookArg {
    /// The agent's own machine: its output chains
    Output,
    /// A gateway the agents' traffic crosses: its forward chains
    Forward,
}

#[derive(Debug, Subcommand)]
pub enum RangesCommand {
    /// Which snapshot is in use, how old it is, and whether it is past AWS's 30-day notice window
    Info {
        #[arg(short, long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Every published prefix containing each address, longest first
    Lookup(LookupArgs),
    /// Download ip-ranges.json, validate it, and cache it for later commands
    Update(UpdateArgs),
    /// What changed between two ip-ranges.json files; with --region, what the firewall must add
    Diff(DiffArgs),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Which catalog is in use (built-in, the config folder's, or --endpoints), when it was last
    /// compared with AWS's pages, and the sources its entries cite
    Info {
        /// Read this catalog (same shape as ranges/catalog.toml) instead
        #[arg(long, value_name = "FILE")]
        endpoints: Option<PathBuf>,

        /// `markdown` lists every entry with its source and quote (what docs/catalog.md holds)
        #[arg(short, long, value_enum, default_value_t = CatalogFormat::Text)]
        format: CatalogFormat,
    },
}

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Addresses to look up (IPv4 or IPv6)
    #[arg(value_name = "IP")]
    pub addresses: Vec<String>,

    /// Read addresses from FILE, one a line (`-` for stdin); blank lines and `#` comments are skipped
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Say whether each address is inside a range Connect needs in this Region
    #[arg(short, long, value_name = "REGION")]
    pub region: Option<String>,

    #[arg(short, long, value_enum, default_value_t = LookupFormat::Text)]
    pub format: LookupFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LookupFormat {
    Text,
    Json,
    Csv,
    /// One line per address: address, most specific prefix, its service and Region
    Line,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Where to get ip-ranges.json: an https URL or a local file
    #[arg(long, value_name = "URL|FILE", default_value = crate::ranges::update::DEFAULT_URL)]
    pub from: String,

    /// Cache it even if its syncToken is not newer than the snapshot in use
    #[arg(long)]
    pub force: bool,

    /// Give up on the download after this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older ip-ranges.json
    pub old: PathBuf,
    /// The newer ip-ranges.json
    pub new: PathBuf,

    /// Limit the diff to what Connect's rules use in this Region
    #[arg(short, long, value_name = "REGION")]
    pub region: Option<String>,

    #[command(flatten)]
    pub target: DiffTarget,

    #[arg(short, long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

/// The catalog options of `ranges diff` (a subset of the target options).
#[derive(Debug, Args, Default)]
pub struct DiffTarget {
    /// Feature groups whose rules to include, comma-separated
    #[arg(short, long, value_name = "GROUP", value_delimiter = ',')]
    pub with: Vec<Group>,

    /// Include the inbound rules of a stateless firewall
    #[arg(long)]
    pub stateless: bool,
}

#[derive(Debug, Args)]
pub struct CcpLogArgs {
    /// The CCP's "Download logs" file(s): agent-log.txt, or both files of a Global Resiliency download
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    #[arg(short, long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// JSON report files, or folders searched (recursively) for *.json reports
    #[arg(value_name = "DIR|FILE", required = true)]
    pub paths: Vec<PathBuf>,

    /// Output format: `csv` is one row per problem and site
    #[arg(short, long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// The man page (roff, section 1)
    Man,
    /// A shell's completion script
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Write a site profile (to --output, else beside the executable) from an instance and Region,
    /// or from a profile at a URL or path; never replaces one without --force
    Write(ProfileWriteArgs),
}

#[derive(Debug, Args)]
pub struct ProfileWriteArgs {
    /// Instance alias, CCP URL or domain (empty counts as not given)
    #[arg(long, value_name = "ALIAS|URL")]
    pub instance: Option<String>,

    /// Connect Region of the instance (empty counts as not given)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Start from this profile: an https URL or a local file, kept verbatim
    #[arg(long, value_name = "URL|FILE")]
    pub from: Option<String>,

    /// Replace an existing profile
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
