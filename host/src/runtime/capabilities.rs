//! What a plugin may do: the capabilities its manifest requests, intersected
//! with what the operator grants. Every host call that touches the outside
//! world asks [`Policy`] first.
//!
//! **Internal addresses.** A plugin's HTTP call reaches only globally routable
//! addresses, unless the operator allowed more for that exact host: by
//! granting an IP literal (`127.0.0.1:8025`), or by naming a host in
//! [`Grants::http_internal`] (`--grant-http-internal HOST`). A host name
//! granted the ordinary way (`api.example.com`, `*.example.com`) may resolve
//! only to public addresses, so a name whose DNS answer changes to
//! `127.0.0.1` or `169.254.169.254` (DNS rebinding) is refused at connect
//! time. What counts as internal is [`is_internal`]: every block of IANA's
//! IPv4 and IPv6 special-purpose registries, multicast, and the IPv6 ranges
//! that embed or tunnel to an IPv4 address.

use std::collections::BTreeMap;
use std::net::IpAddr;
use wirework_registry::Capabilities;

/// What the operator grants one plugin.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Host patterns the plugin may call (same syntax as the manifest), at
    /// public addresses; an IP literal granted exactly may also be internal.
    pub http: Vec<String>,
    /// Hosts (exact, `host` or `host:port`, no wildcard) the plugin may call
    /// even where they resolve to internal addresses: a service on the
    /// operator's own network.
    pub http_internal: Vec<String>,
    /// Secret values by name.
    pub secrets: BTreeMap<String, String>,
    /// Whether key-value state is allowed.
    pub kv: bool,
    /// Event patterns (entries of its manifest's `capabilities.events`) its
    /// triggers may publish.
    pub events: Vec<String>,
    /// Credential types (names its manifest declares) that the plugin may
    /// be handed when a workflow binds a credential of that type to its node.
    pub credentials: Vec<String>,
}

impl Grants {
    /// Grant everything `requested` asks for, with these secret values: the
    /// author's inner loop (`wirework node run`), where the author is the operator.
    pub fn all_requested(requested: &Capabilities, secrets: BTreeMap<String, String>) -> Grants {
        Grants {
            http: requested.http.clone(),
            secrets,
            kv: requested.kv,
            credentials: requested.credentials.clone(),
            events: requested.events.clone(),
            ..Default::default()
        }
    }
}

/// A host pattern: `example.com`, `*.example.com`, `example.com:8443`, `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Suffix(String),
    Exact(String),
}

/// Why a host pattern does not parse, for the error that names it.
pub const HOST_PATTERN_SYNTAX: &str =
    "a host pattern is `host`, `host:port`, `*.domain`, `*` or an IP literal (`[::1]:8080` for IPv6)";

impl HostPattern {
    /// Parse a pattern; `None` if it is not one.
    pub fn parse(text: &str) -> Option<HostPattern> {
        if text.is_empty() || text != text.trim() {
            return None;
        }
        let text = text.to_ascii_lowercase();
        let (host, port) = match text.rsplit_once(':') {
            // An IPv6 literal is written in brackets: `[::1]:8080`.
            Some((host, port)) if !host.ends_with(':') && (host.starts_with('[') || !host.contains(':')) => {
                (host.to_string(), Some(port.parse::<u16>().ok().filter(|p| *p != 0)?))
            }
            _ => (text.clone(), None),
        };
        let host = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok()?.to_string(),
            None => host,
        };
        let host = match host.as_str() {
            "*" => HostMatch::Any,
            h if h.starts_with("*.") && valid_host_name(&h[2..]) => HostMatch::Suffix(h[1..].to_string()),
            h if h.parse::<IpAddr>().is_ok() || valid_host_name(h) => HostMatch::Exact(h.to_string()),
            _ => return None,
        };
        Some(HostPattern { host, port })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Suffix(suffix) => host.ends_with(suffix.as_str()),
            HostMatch::Exact(exact) => exact == host,
        };
        host_ok && self.port.is_none_or(|p| p == port)
    }

    /// The IP address this pattern names exactly, if it is an IP literal.
    fn exact_ip(&self) -> Option<IpAddr> {
        match &self.host {
            HostMatch::Exact(h) => h.parse().ok(),
            _ => None,
        }
    }
}

/// A DNS name as a URL may carry it: dot-separated labels of letters,
/// digits, `-` and `_`, none empty, 253 bytes at most.
fn valid_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Check every pattern of a grant; the error names the first that is not one.
pub fn check_patterns<'a>(patterns: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    for pattern in patterns {
        if HostPattern::parse(pattern).is_none() {
            return Err(format!("`{pattern}` is not a host pattern: {HOST_PATTERN_SYNTAX}"));
        }
    }
    Ok(())
}

/// Check the hosts of an internal grant: exact hosts only.
pub fn check_internal_hosts<'a>(hosts: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    for host in hosts {
        match HostPattern::parse(host) {
            Some(HostPattern { host: HostMatch::Exact(_), .. }) => {}
            _ => {
                return Err(format!(
                    "`{host}` is not a host for an internal grant: it names one host exactly \
                     (`host` or `host:port`, no `*`)"
                ))
            }
        }
    }
    Ok(())
}

/// The address blocks a plugin reaches only with an internal grant: IANA's
/// IPv4 and IPv6 special-purpose registries (RFC 6890 and its updates:
/// private, shared/CGNAT, loopback, link-local, documentation, benchmarking,
/// reserved, ULA, the IPv4-mapped, NAT64, 6to4 and Teredo prefixes, ...),
/// the IPv4-compatible and site-local IPv6 blocks (RFC 4291), and multicast
/// and broadcast. The `iprfc` crate keeps these tables from IANA's registries.
fn internal_blocks() -> iprfc::Subset {
    use iprfc::Filter;
    iprfc::RFCs::filter(
        Filter::RFC6890
            | Filter::RFC4291
            | Filter::RFC1918
            | Filter::RFC6598
            | Filter::RFC3927
            | Filter::RFC4193
            | Filter::RFC5737
            | Filter::RFC3849
            | Filter::RFC2544
            | Filter::RFC3171
            | Filter::RFC1112
            | Filter::RFC919
            | Filter::RFC1122
            | Filter::RFC3056
            | Filter::RFC4380
            | Filter::RFC6052
            | Filter::RFC7335
            | Filter::RFC6666,
    )
}

/// Whether an address is off-limits without an internal grant (see
/// [`internal_blocks`]): anything but a globally routable unicast address.
pub fn is_internal(ip: IpAddr) -> bool {
    internal_blocks().contains(&ip)
}

/// How a URL's host may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only at public addresses.
    PublicOnly,
    /// Also at internal addresses: the operator granted this IP literal, or
    /// this host with an internal grant.
    Internal,
}

/// The effective capabilities of one loaded plugin.
#[derive(Debug, Clone)]
pub struct Policy {
    http_requested: Vec<HostPattern>,
    http_granted: Vec<HostPattern>,
    http_internal: Vec<HostPattern>,
    secrets: BTreeMap<String, String>,
    secrets_requested: Vec<String>,
    kv: bool,
    credentials: Vec<String>,
    events: Vec<String>,
}

impl Policy {
    /// Intersect a manifest's requests with an operator's grants. Grants the
    /// manifest did not request are ignored; a malformed pattern is an error.
    pub fn new(requested: &Capabilities, grants: &Grants) -> Result<Policy, String> {
        let parse = |patterns: &[String], whose: &str| {
            patterns
                .iter()
                .map(|p| {
                    HostPattern::parse(p).ok_or_else(|| format!("{whose} http pattern `{p}` is not a host pattern"))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        check_internal_hosts(&grants.http_internal)?;
        let secrets = grants
            .secrets
            .iter()
            .filter(|(name, _)| requested.secrets.contains(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Policy {
            http_requested: parse(&requested.http, "requested")?,
            http_granted: parse(&grants.http, "granted")?,
            http_internal: parse(&grants.http_internal, "internal")?,
            secrets,
            secrets_requested: requested.secrets.clone(),
            kv: requested.kv && grants.kv,
            credentials: grants.credentials.iter().filter(|c| requested.credentials.contains(c)).cloned().collect(),
            events: grants.events.iter().filter(|e| requested.events.contains(e)).cloned().collect(),
        })
    }

    /// Whether `host:port` may be called, and how. `Err` says why not.
    pub fn check_host(&self, host: &str, port: u16) -> Result<Reach, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if !self.http_requested.iter().any(|p| p.matches(&host, port)) {
            return Err(format!("denied: the plugin's manifest does not request HTTP access to {host}:{port}"));
        }
        let internal = self.http_internal.iter().any(|p| p.matches(&host, port));
        if !internal && !self.http_granted.iter().any(|p| p.matches(&host, port)) {
            return Err(format!("denied: HTTP access to {host}:{port} is not granted to this plugin"));
        }
        let Ok(ip) = host.parse::<IpAddr>() else {
            // A name: its addresses are checked when it is resolved.
            return Ok(if internal { Reach::Internal } else { Reach::PublicOnly });
        };
        let ip_granted = self.http_granted.iter().any(|p| p.exact_ip() == Some(ip) && p.matches(&host, port));
        if internal || ip_granted {
            return Ok(Reach::Internal);
        }
        if is_internal(ip) {
            return Err(format!(
                "denied: {ip} is an internal address; it needs a grant of exactly `{host}` or `{host}:{port}`"
            ));
        }
        Ok(Reach::PublicOnly)
    }

    /// How a host name may be reached once resolved, whatever the port:
    /// internally only if an internal grant names it.
    pub fn reach_of_host(&self, host: &str) -> Reach {
        let host = host.to_ascii_lowercase();
        let named = self.http_internal.iter().any(|p| matches!(&p.host, HostMatch::Exact(h) if *h == host));
        if named {
            Reach::Internal
        } else {
            Reach::PublicOnly
        }
    }

    /// The value of a granted secret. `Err` says why not.
    pub fn secret(&self, name: &str) -> Result<&str, String> {
        self.secrets
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("denied: secret `{name}` is not granted to this plugin"))
    }

    /// The value of a secret for one call: a value bound to the call (a
    /// node's credential binding) if the manifest requests that name, else a
    /// value granted at load. `Err` says why not.
    pub fn secret_for_call<'a>(
        &'a self,
        name: &str,
        bound: Option<&'a BTreeMap<String, String>>,
    ) -> Result<&'a str, String> {
        if let Some(value) = bound.and_then(|b| b.get(name)) {
            if self.secrets_requested.iter().any(|r| r == name) {
                return Ok(value);
            }
            return Err(format!(
                "denied: secret `{name}` is bound to this node but the plugin's manifest does not request it"
            ));
        }
        self.secret(name)
    }

    /// Whether the plugin may be handed credentials of type `kind`. `Err`
    /// says why not.
    pub fn check_credential(&self, kind: &str) -> Result<(), String> {
        if self.credentials.iter().any(|c| c == kind) {
            return Ok(());
        }
        Err(format!("denied: credential type `{kind}` is not granted to this plugin"))
    }

    /// Whether the plugin's triggers may publish event `name` (`name:key`
    /// is checked by its name). `Err` says why not.
    pub fn check_event(&self, name: &str) -> Result<(), String> {
        if self.events.iter().any(|pattern| wirework_registry::manifest::event_pattern_matches(pattern, name)) {
            return Ok(());
        }
        Err(format!("denied: publishing event `{name}` is not granted to this plugin"))
    }

    /// Whether key-value state is allowed.
    pub fn kv_allowed(&self) -> bool {
        self.kv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_with(requested: &[&str], granted: &[&str], internal: &[&str]) -> Policy {
        let caps = Capabilities {
            http: requested.iter().map(|s| s.to_string()).collect(),
            secrets: vec!["TOKEN".into()],
            kv: true,
            credentials: Vec::new(),
            events: vec!["email.*".into(), "contact.created".into()],
        };
        let grants = Grants {
            http: granted.iter().map(|s| s.to_string()).collect(),
            http_internal: internal.iter().map(|s| s.to_string()).collect(),
            secrets: [("TOKEN".to_string(), "t".to_string()), ("OTHER".to_string(), "o".to_string())].into(),
            kv: false,
            credentials: Vec::new(),
            events: vec!["email.*".into(), "sms.*".into()],
        };
        Policy::new(&caps, &grants).unwrap()
    }

    fn policy(requested: &[&str], granted: &[&str]) -> Policy {
        policy_with(requested, granted, &[])
    }

    #[test]
    fn http_needs_both_request_and_grant() {
        let p = policy(&["*.stripe.test"], &["api.stripe.test", "evil.test"]);
        assert_eq!(p.check_host("api.stripe.test", 443), Ok(Reach::PublicOnly));
        assert!(p.check_host("files.stripe.test", 443).unwrap_err().contains("not granted"));
        assert!(p.check_host("evil.test", 443).unwrap_err().contains("does not request"));
    }

    #[test]
    fn internal_addresses_need_an_ip_grant_or_an_internal_grant() {
        let p = policy(&["*"], &["*"]);
        assert_eq!(p.check_host("example.test", 80), Ok(Reach::PublicOnly));
        for internal in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "[::1]", "0.0.0.0", "100.64.0.1"] {
            let err = p.check_host(internal, 80).unwrap_err();
            assert!(err.contains("internal address"), "{internal}: {err}");
        }
        let p = policy(&["*"], &["127.0.0.1:8080", "[::1]"]);
        assert_eq!(p.check_host("127.0.0.1", 8080), Ok(Reach::Internal));
        assert_eq!(p.check_host("[::1]", 9), Ok(Reach::Internal));
        assert!(p.check_host("127.0.0.1", 8081).is_err(), "the grant names a port");

        // An exact host name is no longer enough: its answers must be public.
        let p = policy(&["*"], &["metadata.test"]);
        assert_eq!(p.check_host("metadata.test", 80), Ok(Reach::PublicOnly));
        assert_eq!(p.reach_of_host("metadata.test"), Reach::PublicOnly);
        // An internal grant names the host; it also grants it.
        let p = policy_with(&["*"], &[], &["svc.internal.test:8080"]);
        assert_eq!(p.check_host("svc.internal.test", 8080), Ok(Reach::Internal));
        assert!(p.check_host("svc.internal.test", 8081).unwrap_err().contains("not granted"));
        assert_eq!(p.reach_of_host("svc.internal.test"), Reach::Internal);
        assert_eq!(p.reach_of_host("other.test"), Reach::PublicOnly);
        // A manifest must still request it.
        let p = policy_with(&["api.test"], &[], &["svc.internal.test"]);
        assert!(p.check_host("svc.internal.test", 80).unwrap_err().contains("does not request"));
    }

    #[test]
    fn every_special_purpose_block_is_internal() {
        let internal = [
            "0.1.2.3",            // this network
            "10.0.0.1",           // private
            "100.64.0.1",         // shared address space (CGNAT)
            "127.0.0.1",          // loopback
            "169.254.169.254",    // link-local: cloud metadata
            "172.16.0.1",         // private
            "192.0.0.8",          // IETF protocol assignments
            "192.0.2.10",         // documentation
            "192.88.99.1",        // 6to4 relay anycast
            "192.168.1.1",        // private
            "198.18.0.1",         // benchmarking
            "198.19.255.255",     // benchmarking
            "198.51.100.7",       // documentation
            "203.0.113.9",        // documentation
            "224.0.0.1",          // multicast
            "240.0.0.1",          // reserved
            "255.255.255.255",    // broadcast
            "::",                 // unspecified
            "::1",                // loopback
            "::127.0.0.1",        // IPv4-compatible
            "::ffff:127.0.0.1",   // IPv4-mapped
            "::ffff:8.8.8.8",     // IPv4-mapped, even of a public address
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "64:ff9b:1::1",       // local-use NAT64
            "100::1",             // discard-only
            "2001::1",            // Teredo
            "2001:db8::1",        // documentation
            "2002:7f00:1::1",     // 6to4 of 127.0.0.1
            "fc00::1",            // unique local
            "fd12:3456::1",       // unique local
            "fe80::1",            // link-local
            "fec0::1",            // site-local
            "ff02::1",            // multicast
        ];
        for ip in internal {
            assert!(is_internal(ip.parse().unwrap()), "{ip} must be internal");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn events_need_both_request_and_grant() {
        let policy = policy_with(&[], &[], &[]);
        assert!(policy.check_event("email.opened:ann@example.com").is_ok());
        assert!(policy.check_event("email.bounced").is_ok());
        let error = policy.check_event("sms.received").unwrap_err();
        assert!(error.contains("publishing event `sms.received` is not granted"), "granted, not requested: {error}");
        assert!(policy.check_event("contact.created").is_err(), "requested, not granted");
        assert!(policy.check_event("emails.opened").is_err());
    }

    #[test]
    fn secrets_and_kv_are_intersections() {
        let p = policy(&[], &[]);
        assert_eq!(p.secret("TOKEN"), Ok("t"));
        assert!(p.secret("OTHER").unwrap_err().contains("not granted"), "granted but never requested");
        let bound: BTreeMap<String, String> =
            [("TOKEN".to_string(), "bound".to_string()), ("OTHER".to_string(), "x".to_string())].into();
        assert_eq!(p.secret_for_call("TOKEN", Some(&bound)), Ok("bound"), "a binding wins over the load-time grant");
        assert!(p.secret_for_call("OTHER", Some(&bound)).unwrap_err().contains("does not request"));
        assert!(!p.kv_allowed(), "requested but not granted");
    }

    #[test]
    fn patterns_parse_strictly() {
        for bad in [
            "a.*.test",
            "",
            " ",
            "x:",
            "*x",
            " a.test",
            "a.test ",
            "a b",
            "a.test:0",
            "a.test:99999",
            "[::1",
            "a..test",
        ] {
            assert!(HostPattern::parse(bad).is_none(), "`{bad}` must not parse");
            assert!(check_patterns([&bad.to_string()]).unwrap_err().contains("is not a host pattern"), "{bad}");
        }
        assert_eq!(HostPattern::parse("[::1]:80").unwrap().port, Some(80));
        assert_eq!(HostPattern::parse("[::1]:80").unwrap().exact_ip(), Some("::1".parse().unwrap()));
        assert_eq!(HostPattern::parse("2001:db8::1").unwrap().port, None);
        assert!(HostPattern::parse("*.example.com:8443").is_some());
        assert!(check_internal_hosts(&["*.example.com".to_string()]).unwrap_err().contains("no `*`"));
        assert!(check_internal_hosts(&["db.example.com:5432".to_string()]).is_ok());
    }
}
