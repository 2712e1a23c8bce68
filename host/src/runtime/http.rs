//! Outbound HTTP for plugins: one client per loaded plugin, whose DNS resolver
//! and redirect policy enforce that plugin's [`Policy`]. A name is resolved
//! once per connection, its answers are checked ([`vet`]), and the client
//! connects only to the addresses that passed: no second look-up that a DNS
//! rebinding could answer differently. Every redirect is checked again, and
//! resolved and vetted again when it leads to another host.

use super::bindings::wirework::plugin::types::{HttpResponse, OutgoingRequest};
use super::capabilities::{is_internal, Policy, Reach};
use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Bounds on outbound HTTP, the same for every plugin.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// The longest any request may take.
    pub timeout: Duration,
    /// The largest response body accepted.
    pub max_response_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { timeout: Duration::from_secs(30), max_response_bytes: 8 << 20 }
    }
}

/// Looks host names up for plugins' outbound HTTP.
pub trait HostLookup: Send + Sync + 'static {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The resolver plugins' HTTP calls use: the system's by default
/// ([`Resolver::system`]); tests and embedders may put their own in its place.
#[derive(Clone)]
pub struct Resolver(Arc<dyn HostLookup>);

impl Resolver {
    /// The operating system's resolver (`getaddrinfo`, on a blocking thread).
    pub fn system() -> Resolver {
        Resolver(Arc::new(SystemLookup))
    }

    /// A resolver of one's own.
    pub fn new(lookup: impl HostLookup) -> Resolver {
        Resolver(Arc::new(lookup))
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::system()
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// The client a loaded plugin's `http-fetch` calls go through.
pub(crate) struct PluginHttp {
    client: reqwest::Client,
    policy: Arc<Policy>,
    limits: HttpLimits,
}

/// Refusal raised inside the resolver; recognised again in [`PluginHttp::fetch`].
#[derive(Debug)]
struct Denied(String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

/// The addresses of `host` a call may connect to: all of them with
/// [`Reach::Internal`], else the public ones; `Err` when none is left.
fn vet(host: &str, addrs: Vec<IpAddr>, reach: Reach) -> Result<Vec<IpAddr>, String> {
    if reach == Reach::Internal {
        return if addrs.is_empty() { Err(format!("{host} has no addresses")) } else { Ok(addrs) };
    }
    let (public, internal): (Vec<IpAddr>, Vec<IpAddr>) = addrs.into_iter().partition(|ip| !is_internal(*ip));
    if public.is_empty() {
        let shown: Vec<String> = internal.iter().map(IpAddr::to_string).collect();
        return Err(format!(
            "denied: {host} resolves only to internal addresses ({}); reaching it needs an internal grant \
             of `{host}` (`--grant-http-internal {host}`)",
            shown.join(", ")
        ));
    }
    Ok(public)
}

/// reqwest's resolver for one plugin: looks the name up once and hands the
/// client only the addresses [`vet`] let through.
struct VettingResolver {
    policy: Arc<Policy>,
    lookup: Resolver,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.0.lookup(name.as_str());
        let host = name.as_str().to_string();
        Box::pin(async move {
            let reach = policy.reach_of_host(&host);
            let addrs = lookup.await?;
            let allowed = vet(&host, addrs, reach)
                .map_err(|m| Box::new(Denied(m)) as Box<dyn std::error::Error + Send + Sync>)?;
            // The port is the URL's: reqwest sets it on each address.
            Ok(Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect::<Vec<_>>().into_iter()) as Addrs)
        })
    }
}

impl PluginHttp {
    pub(crate) fn new(policy: Arc<Policy>, limits: HttpLimits, lookup: Resolver) -> anyhow::Result<PluginHttp> {
        let redirect_policy = policy.clone();
        let client = wirework_registry::client::http_client_builder()
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver { policy: policy.clone(), lookup }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("too many redirects");
                }
                let url = attempt.url().clone();
                let verdict = redirect_policy.check_url(&url);
                match verdict {
                    Ok(_) => attempt.follow(),
                    Err(e) => {
                        let reason = e.strip_prefix("denied: ").unwrap_or(&e);
                        attempt.error(Denied(format!("denied: redirect to {url}: {reason}")))
                    }
                }
            }))
            .timeout(limits.timeout)
            .build()?;
        Ok(PluginHttp { client, policy, limits })
    }

    /// Send one request. `Err` is the message the plugin sees; messages that
    /// start with `denied:` are capability refusals.
    pub(crate) async fn fetch(&self, request: OutgoingRequest, remaining: Duration) -> Result<HttpResponse, String> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| format!("invalid URL `{}`: {e}", request.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("denied: only http and https URLs are allowed, not `{}`", url.scheme()));
        }
        self.policy.check_url(&url)?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("invalid HTTP method `{}`", request.method))?;
        let mut timeout = self.limits.timeout.min(remaining);
        if let Some(ms) = request.timeout_ms {
            timeout = timeout.min(Duration::from_millis(ms.into()));
        }
        let mut builder = self.client.request(method, url).timeout(timeout).body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let send = async {
            let mut response = builder.send().await.map_err(describe_error)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(describe_error)? {
                if body.len() + chunk.len() > self.limits.max_response_bytes {
                    return Err(format!("response body is over the {}-byte limit", self.limits.max_response_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, headers, body })
        };
        // reqwest's own timeout covers the request; this also bounds a slow body.
        tokio::time::timeout(timeout, send)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {} ms", timeout.as_millis())))
    }
}

fn describe_error(error: reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return denied.0.clone();
        }
        source = e.source();
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        message = format!("{message}: {e}");
        source = e.source();
    }
    message
}

impl Policy {
    /// Check a URL's host and port (the effective port, defaults included).
    pub(crate) fn check_url(&self, url: &reqwest::Url) -> Result<Reach, String> {
        let host = url.host_str().ok_or_else(|| format!("URL `{url}` has no host"))?;
        let port = url.port_or_known_default().unwrap_or(0);
        self.check_host(host, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Grants;
    use std::sync::Mutex;
    use wirework_registry::Capabilities;

    /// Answers each look-up with the next of its answers, and counts them.
    struct Scripted(Mutex<Vec<Vec<IpAddr>>>);

    impl HostLookup for Arc<Scripted> {
        fn lookup(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { Ok(next) })
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    fn resolver(granted: &[&str], internal: &[&str], answers: Vec<Vec<IpAddr>>) -> (VettingResolver, Arc<Scripted>) {
        let requested = Capabilities { http: vec!["*".into()], ..Default::default() };
        let grants = Grants {
            http: granted.iter().map(|s| s.to_string()).collect(),
            http_internal: internal.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let policy = Arc::new(Policy::new(&requested, &grants).unwrap());
        let script = Arc::new(Scripted(Mutex::new(answers)));
        (VettingResolver { policy, lookup: Resolver::new(script.clone()) }, script)
    }

    async fn resolve(resolver: &VettingResolver, host: &str) -> Result<Vec<IpAddr>, String> {
        match resolver.resolve(host.parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn each_connection_checks_its_own_answer_once() {
        // A rebinding name: public at first, then the metadata service, then loopback.
        let answers = vec![ips(&["93.184.216.34"]), ips(&["169.254.169.254"]), ips(&["127.0.0.1", "::1"])];
        let (resolver, script) = resolver(&["rebind.example"], &[], answers);
        assert_eq!(resolve(&resolver, "rebind.example").await.unwrap(), ips(&["93.184.216.34"]));
        let err = resolve(&resolver, "rebind.example").await.unwrap_err();
        assert!(err.contains("resolves only to internal addresses (169.254.169.254)"), "{err}");
        let err = resolve(&resolver, "rebind.example").await.unwrap_err();
        assert!(err.contains("127.0.0.1, ::1") && err.contains("--grant-http-internal rebind.example"), "{err}");
        assert!(script.0.lock().unwrap().is_empty(), "one look-up per resolution, no second one");
    }

    #[tokio::test]
    async fn a_mixed_answer_keeps_only_its_public_addresses() {
        let answers = vec![ips(&["10.0.0.5", "93.184.216.34", "::ffff:127.0.0.1", "2606:4700::1"])];
        let (resolver, _) = resolver(&["mixed.example"], &[], answers);
        assert_eq!(resolve(&resolver, "mixed.example").await.unwrap(), ips(&["93.184.216.34", "2606:4700::1"]));
    }

    #[tokio::test]
    async fn an_internal_grant_lets_internal_answers_through() {
        let answers = vec![ips(&["10.0.0.5"]), ips(&["10.0.0.5"])];
        let (resolver, _) = resolver(&["*"], &["crm.corp.example"], answers);
        assert_eq!(resolve(&resolver, "crm.corp.example").await.unwrap(), ips(&["10.0.0.5"]));
        assert!(resolve(&resolver, "other.corp.example").await.is_err(), "only the host named");
    }
}
