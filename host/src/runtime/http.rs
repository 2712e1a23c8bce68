//! Outbound HTTP for plugins: one client per loaded plugin, whose DNS resolver
//! and redirect policy enforce that plugin's [`Policy`], so a name that resolves
//! to an internal address, or a redirect to a host not granted, is refused at
//! connect time rather than checked once and trusted after (DNS rebinding).

use super::bindings::wirework::plugin::types::{HttpResponse, OutgoingRequest};
use super::capabilities::{is_internal, Policy, Reach};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
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

struct VettingResolver {
    policy: Arc<Policy>,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            // The port is checked by `fetch` before the request; 0 matches port-free patterns only,
            // so look the reach up by host with any granted port.
            let reach = policy.reach_of_host(&host);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = match reach {
                Reach::Internal => addrs,
                Reach::PublicOnly => addrs.into_iter().filter(|a| !is_internal(a.ip())).collect(),
            };
            if allowed.is_empty() {
                let message = format!(
                    "denied: {host} resolves only to internal addresses; it needs an explicit grant of `{host}`"
                );
                return Err(Box::new(Denied(message)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl PluginHttp {
    pub(crate) fn new(policy: Arc<Policy>, limits: HttpLimits) -> anyhow::Result<PluginHttp> {
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver { policy: policy.clone() }))
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
