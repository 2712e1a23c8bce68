//! What a plugin may do: the capabilities its manifest requests, intersected
//! with what the operator grants. Every host call that touches the outside
//! world asks [`Policy`] first.

use std::collections::BTreeMap;
use std::net::IpAddr;
use wirework_registry::Capabilities;

/// What the operator grants one plugin.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Host patterns the plugin may call (same syntax as the manifest).
    /// Loopback, private and link-local addresses are reachable only through an
    /// exact, wildcard-free pattern naming that host.
    pub http: Vec<String>,
    /// Secret values by name.
    pub secrets: BTreeMap<String, String>,
    /// Whether key-value state is allowed.
    pub kv: bool,
}

impl Grants {
    /// Grant everything `requested` asks for, with these secret values: the
    /// author's inner loop (`wirework node run`), where the author is the operator.
    pub fn all_requested(requested: &Capabilities, secrets: BTreeMap<String, String>) -> Grants {
        Grants { http: requested.http.clone(), secrets, kv: requested.kv }
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

impl HostPattern {
    /// Parse a pattern; `None` if it is not one.
    pub fn parse(text: &str) -> Option<HostPattern> {
        let text = text.trim().to_ascii_lowercase();
        let (host, port) = match text.rsplit_once(':') {
            // An IPv6 literal is written in brackets: `[::1]:8080`.
            Some((host, port)) if !host.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()) => {
                (host.to_string(), Some(port.parse().ok()?))
            }
            _ => (text.clone(), None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let host = match host.as_str() {
            "" => return None,
            "*" => HostMatch::Any,
            h if h.starts_with("*.") => HostMatch::Suffix(h[1..].to_string()),
            h if h.contains('*') => return None,
            h => HostMatch::Exact(h.to_string()),
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

    fn is_exact(&self) -> bool {
        matches!(self.host, HostMatch::Exact(_))
    }
}

/// Whether an address is off-limits without an explicit grant: loopback,
/// private, link-local, unspecified, shared (CGNAT), multicast and the like.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    }
}

/// How a URL's host may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only at public addresses.
    PublicOnly,
    /// Also at internal addresses: the operator granted this exact host.
    Internal,
}

/// The effective capabilities of one loaded plugin.
#[derive(Debug, Clone)]
pub struct Policy {
    http_requested: Vec<HostPattern>,
    http_granted: Vec<HostPattern>,
    secrets: BTreeMap<String, String>,
    secrets_requested: Vec<String>,
    kv: bool,
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
        let secrets = grants
            .secrets
            .iter()
            .filter(|(name, _)| requested.secrets.contains(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Policy {
            http_requested: parse(&requested.http, "requested")?,
            http_granted: parse(&grants.http, "granted")?,
            secrets,
            secrets_requested: requested.secrets.clone(),
            kv: requested.kv && grants.kv,
        })
    }

    /// Whether `host:port` may be called, and how. `Err` says why not.
    pub fn check_host(&self, host: &str, port: u16) -> Result<Reach, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if !self.http_requested.iter().any(|p| p.matches(&host, port)) {
            return Err(format!("denied: the plugin's manifest does not request HTTP access to {host}:{port}"));
        }
        let granted: Vec<&HostPattern> = self.http_granted.iter().filter(|p| p.matches(&host, port)).collect();
        if granted.is_empty() {
            return Err(format!("denied: HTTP access to {host}:{port} is not granted to this plugin"));
        }
        let reach = if granted.iter().any(|p| p.is_exact()) { Reach::Internal } else { Reach::PublicOnly };
        if let Ok(ip) = host.parse::<IpAddr>() {
            if reach == Reach::PublicOnly && is_internal(ip) {
                return Err(format!(
                    "denied: {ip} is an internal address; it needs an explicit grant of `{host}` or `{host}:{port}`"
                ));
            }
        }
        Ok(reach)
    }

    /// How a host that passed [`Policy::check_host`] may be reached, whatever
    /// the port: internally only if some exact grant names it.
    pub fn reach_of_host(&self, host: &str) -> Reach {
        let host = host.to_ascii_lowercase();
        let exact =
            self.http_granted.iter().any(|p| p.is_exact() && matches!(&p.host, HostMatch::Exact(h) if *h == host));
        if exact {
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

    /// Whether key-value state is allowed.
    pub fn kv_allowed(&self) -> bool {
        self.kv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(requested: &[&str], granted: &[&str]) -> Policy {
        let caps = Capabilities {
            http: requested.iter().map(|s| s.to_string()).collect(),
            secrets: vec!["TOKEN".into()],
            kv: true,
        };
        let grants = Grants {
            http: granted.iter().map(|s| s.to_string()).collect(),
            secrets: [("TOKEN".to_string(), "t".to_string()), ("OTHER".to_string(), "o".to_string())].into(),
            kv: false,
        };
        Policy::new(&caps, &grants).unwrap()
    }

    #[test]
    fn http_needs_both_request_and_grant() {
        let p = policy(&["*.stripe.test"], &["api.stripe.test", "evil.test"]);
        assert_eq!(p.check_host("api.stripe.test", 443), Ok(Reach::Internal));
        assert!(p.check_host("files.stripe.test", 443).unwrap_err().contains("not granted"));
        assert!(p.check_host("evil.test", 443).unwrap_err().contains("does not request"));
    }

    #[test]
    fn internal_addresses_need_an_exact_grant() {
        let p = policy(&["*"], &["*"]);
        assert_eq!(p.check_host("example.test", 80), Ok(Reach::PublicOnly));
        for internal in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "[::1]", "0.0.0.0", "100.64.0.1"] {
            let err = p.check_host(internal, 80).unwrap_err();
            assert!(err.contains("internal address"), "{internal}: {err}");
        }
        let p = policy(&["*"], &["127.0.0.1:8080"]);
        assert_eq!(p.check_host("127.0.0.1", 8080), Ok(Reach::Internal));
        assert!(p.check_host("127.0.0.1", 8081).is_err(), "the grant names a port");
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
        assert!(HostPattern::parse("a.*.test").is_none());
        assert!(HostPattern::parse("").is_none());
        assert_eq!(HostPattern::parse("[::1]:80").unwrap().port, Some(80));
    }
}
