//! `plugin.toml`: what a plugin is, which node types it has, what it asks for.

use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The current `wirework:plugin` contract: what new plugins are built against.
pub const WIT_VERSION: &str = "0.3.0";

/// The contract a manifest that names none speaks: the first one, so that
/// packages signed before `wit` had to be written keep verifying.
pub const DEFAULT_WIT_VERSION: &str = "0.1.0";

/// Every contract version a host loads, oldest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];

/// A plugin manifest, as written beside the plugin's crate and signed into its package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name, version and contract.
    pub plugin: PluginSection,
    /// The node types, which must agree with the component's `describe()`.
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeDecl>,
    /// The credential types its nodes take (`[[credential]]`).
    #[serde(default, rename = "credential", skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialType>,
    /// What the plugin asks the operator for.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Per-invocation bounds.
    #[serde(default)]
    pub limits: Limits,
}

/// The `[plugin]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// `publisher/name`, lower case letters, digits and `-`.
    pub name: String,
    /// The plugin's own semver version.
    pub version: Version,
    /// The `wirework:plugin` WIT version the component is built against
    /// ([`DEFAULT_WIT_VERSION`] when not written).
    #[serde(default = "default_wit")]
    pub wit: Version,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
}

fn default_wit() -> Version {
    Version::parse(DEFAULT_WIT_VERSION).expect("a valid constant")
}

/// A `[[node]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDecl {
    /// The node's name inside the plugin.
    pub name: String,
    /// `action` (default) or `trigger`.
    #[serde(default)]
    pub kind: NodeKind,
    /// The credential types (declared by `[[credential]]`) a workflow may
    /// bind to this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
}

/// A `[[credential]]` entry: a type of credential the plugin's nodes take,
/// e.g. `stripe-api` with a secret field `secret_key`. Operators create named
/// credentials of it; workflows bind one per node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialType {
    /// Unique within the plugin, e.g. `stripe-api`.
    pub name: String,
    /// For humans, e.g. `Stripe API key`.
    #[serde(default)]
    pub title: String,
    /// For humans: where to find the values.
    #[serde(default)]
    pub description: String,
    /// Its fields, at least one.
    pub fields: Vec<CredentialField>,
    /// How the host sends it on a request that names it
    /// (`outgoing-request.credential`); without one, the plugin reads the
    /// fields itself (for a signature, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<CredentialAuth>,
}

impl CredentialType {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&CredentialField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One field of a credential type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialField {
    /// e.g. `secret_key`: letters, digits, `_` and `-`.
    pub name: String,
    /// For humans.
    #[serde(default)]
    pub title: String,
    /// A secret value: redacted wherever it could show (logs, items,
    /// errors), and never shown back by the API. Defaults to true.
    #[serde(default = "yes")]
    pub secret: bool,
    /// May be left out when a credential is created.
    #[serde(default)]
    pub optional: bool,
}

fn yes() -> bool {
    true
}

/// How the host authenticates a request with a credential, each naming the
/// fields it takes the values from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "lowercase", deny_unknown_fields)]
pub enum CredentialAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The field holding the token.
        token: String,
    },
    /// `Authorization: Basic base64(<username>:<password>)`.
    Basic {
        /// The field holding the user name.
        username: String,
        /// The field holding the password.
        password: String,
    },
    /// A header: named here (`header`) or by a field of the credential (`header_field`).
    Header {
        /// The header's name, e.g. `X-Api-Key`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        /// The field holding the header's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header_field: Option<String>,
        /// The field holding the value.
        value: String,
    },
    /// A query parameter: named here (`param`) or by a field (`param_field`).
    Query {
        /// The parameter's name, e.g. `api_key`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param: Option<String>,
        /// The field holding the parameter's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param_field: Option<String>,
        /// The field holding the value.
        value: String,
    },
}

impl CredentialAuth {
    /// The fields it reads.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            CredentialAuth::Bearer { token } => vec![token],
            CredentialAuth::Basic { username, password } => vec![username, password],
            CredentialAuth::Header { header_field, value, .. } => {
                header_field.iter().map(String::as_str).chain([value.as_str()]).collect()
            }
            CredentialAuth::Query { param_field, value, .. } => {
                param_field.iter().map(String::as_str).chain([value.as_str()]).collect()
            }
        }
    }
}

/// Whether a node starts executions or runs inside them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Runs inside an execution.
    #[default]
    Action,
    /// Starts executions.
    Trigger,
}

/// The `[capabilities]` table: requests, which an operator may grant or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Hosts the plugin may call: `api.example.com`, `*.example.com`, `host:port`, or `*`.
    #[serde(default)]
    pub http: Vec<String>,
    /// Names of secrets the plugin may read.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Whether the plugin keeps key-value state.
    #[serde(default)]
    pub kv: bool,
    /// Credential types the plugin asks to be handed (when a workflow binds
    /// one to its node): every `[[credential]]` it declares, filled in by
    /// [`Manifest::parse`] when not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// Events its triggers may publish (wirework:plugin@0.3.0 and later):
    /// names (`contact.created`) or prefixes ending in `.*` (`email.*`),
    /// matched against an event's name before its `:key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

/// Whether `pattern` (an entry of `capabilities.events`: a name, or a
/// prefix ending in `.*`) covers event `name` (its part before the first
/// `:`, the key, is ignored).
pub fn event_pattern_matches(pattern: &str, name: &str) -> bool {
    let base = name.split_once(':').map_or(name, |(base, _)| base);
    match pattern.strip_suffix(".*") {
        Some(prefix) => {
            base.len() > prefix.len() + 1 && base.starts_with(prefix) && base.as_bytes()[prefix.len()] == b'.'
        }
        None => base == pattern,
    }
}

/// The prefix of the events only the host's engine emits (a called
/// workflow's result, `wirework.call:<execution>`): no plugin publishes them.
pub const RESERVED_EVENT_PREFIX: &str = "wirework.";

/// Whether `name` is one of the engine's own events.
pub fn is_reserved_event(name: &str) -> bool {
    name.starts_with(RESERVED_EVENT_PREFIX)
}

/// Whether `pattern` is a valid `capabilities.events` entry: dot-separated
/// words of lower case letters, digits, `-` and `_`, the last one possibly `*`.
pub fn valid_event_pattern(pattern: &str) -> bool {
    let body = pattern.strip_suffix(".*").unwrap_or(pattern);
    !body.is_empty()
        && pattern.len() <= 128
        && body.split('.').all(|word| {
            !word.is_empty()
                && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// The `[limits]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per invocation.
    #[serde(default = "default_fuel")]
    pub fuel: u64,
    /// Linear memory cap per instance, in MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: u64,
    /// Wall-clock time per invocation, in milliseconds.
    #[serde(default = "default_wall")]
    pub wall_ms: u64,
}

fn default_fuel() -> u64 {
    100_000_000
}
fn default_memory() -> u64 {
    64
}
fn default_wall() -> u64 {
    10_000
}

impl Default for Limits {
    fn default() -> Self {
        Limits { fuel: default_fuel(), memory_mib: default_memory(), wall_ms: default_wall() }
    }
}

/// The largest limits a manifest may ask for.
pub const MAX_LIMITS: Limits = Limits { fuel: 100_000_000_000, memory_mib: 4096, wall_ms: 600_000 };

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, or not the expected shape.
    #[error("manifest is malformed: {0}")]
    Parse(String),
    /// Well-formed but not acceptable; every problem is listed.
    #[error("manifest is invalid: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Manifest {
    /// Parse and validate manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        if manifest.capabilities.credentials.is_empty() {
            manifest.capabilities.credentials = manifest.credentials.iter().map(|c| c.name.clone()).collect();
        }
        manifest.validate()?;
        Ok(manifest)
    }

    /// The publisher part of `publisher/name`.
    pub fn publisher(&self) -> &str {
        self.plugin.name.split_once('/').map_or("", |(p, _)| p)
    }

    /// The declared credential type with this name.
    pub fn credential(&self, name: &str) -> Option<&CredentialType> {
        self.credentials.iter().find(|c| c.name == name)
    }

    fn validate_credentials(&self, problems: &mut Vec<String>) {
        let mut seen = BTreeSet::new();
        for kind in &self.credentials {
            let at = format!("credential `{}`", kind.name);
            if !valid_name(&kind.name) {
                problems.push(format!("{at}: names are {NAME_RULE}"));
            }
            if !seen.insert(&kind.name) {
                problems.push(format!("{at} is declared twice"));
            }
            if kind.fields.is_empty() {
                problems.push(format!("{at} has no fields"));
            }
            let mut fields = BTreeSet::new();
            for field in &kind.fields {
                if !valid_field_name(&field.name) {
                    problems.push(format!("{at}: field `{}` is not 1 to 64 letters, digits, `_` and `-`", field.name));
                }
                if !fields.insert(&field.name) {
                    problems.push(format!("{at}: field `{}` is declared twice", field.name));
                }
            }
            if let Some(auth) = &kind.auth {
                for field in auth.fields() {
                    if kind.field(field).is_none() {
                        problems.push(format!("{at}: auth names field `{field}`, which it does not declare"));
                    }
                }
                match auth {
                    CredentialAuth::Header { header, header_field, .. } => match (header, header_field) {
                        (Some(h), None) if !valid_token(h) => {
                            problems.push(format!("{at}: auth header `{h}` is not a header name"))
                        }
                        (Some(_), None) | (None, Some(_)) => {}
                        _ => problems
                            .push(format!("{at}: auth of scheme header takes one of `header` and `header_field`")),
                    },
                    CredentialAuth::Query { param, param_field, .. } => match (param, param_field) {
                        (Some(p), None) if p.is_empty() => problems.push(format!("{at}: auth param is empty")),
                        (Some(_), None) | (None, Some(_)) => {}
                        _ => {
                            problems.push(format!("{at}: auth of scheme query takes one of `param` and `param_field`"))
                        }
                    },
                    _ => {}
                }
            }
        }
        for kind in &self.capabilities.credentials {
            if self.credential(kind).is_none() {
                problems.push(format!("capabilities.credentials: `{kind}` is not declared by a [[credential]]"));
            }
        }
        for node in &self.nodes {
            for kind in &node.credentials {
                if self.credential(kind).is_none() {
                    problems.push(format!(
                        "node `{}` takes credential type `{kind}`, which no [[credential]] declares",
                        node.name
                    ));
                }
            }
        }
    }

    /// The declared node with this name.
    pub fn node(&self, name: &str) -> Option<&NodeDecl> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Check everything that parsing alone does not.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut problems = Vec::new();
        if let Err(e) = validate_package_name(&self.plugin.name) {
            problems.push(e);
        }
        if !self.plugin.version.build.is_empty() {
            problems.push(format!(
                "plugin.version `{}` has build metadata (`+...`): versions are plain `x.y.z[-pre]`",
                self.plugin.version
            ));
        }
        let wit = self.plugin.wit.to_string();
        if !SUPPORTED_WIT_VERSIONS.contains(&wit.as_str()) {
            problems.push(format!(
                "plugin.wit: this host speaks wirework:plugin@{}, not {wit}",
                SUPPORTED_WIT_VERSIONS.join(" and @")
            ));
        }
        if wit == DEFAULT_WIT_VERSION && !self.credentials.is_empty() {
            problems.push(format!(
                "[[credential]] needs wirework:plugin@0.2.0 or later: set `wit = \"{WIT_VERSION}\"` under [plugin]"
            ));
        }
        self.validate_credentials(&mut problems);
        if self.nodes.is_empty() {
            problems.push("no [[node]] declared".into());
        }
        let mut seen = BTreeSet::new();
        for node in &self.nodes {
            if !valid_name(&node.name) {
                problems.push(format!("node `{}`: names are {NAME_RULE}", node.name));
            }
            if !seen.insert(&node.name) {
                problems.push(format!("node `{}` is declared twice", node.name));
            }
        }
        for host in &self.capabilities.http {
            if host.is_empty() || host.contains('/') || host.contains("://") || host.chars().any(char::is_whitespace) {
                problems.push(format!("capabilities.http: `{host}` is not a host pattern (`example.com`, `*.example.com`, `host:port` or `*`)"));
            }
        }
        for pattern in &self.capabilities.events {
            if !valid_event_pattern(pattern) {
                problems.push(format!(
                    "capabilities.events: `{pattern}` is not an event name or prefix (`contact.created`, `email.*`)"
                ));
            }
        }
        if !self.capabilities.events.is_empty() && self.plugin.wit < Version::new(0, 3, 0) {
            problems.push(format!(
                "capabilities.events needs wirework:plugin@0.3.0 or later: set `wit = \"{WIT_VERSION}\"` under [plugin]"
            ));
        }
        for secret in &self.capabilities.secrets {
            if secret.is_empty() || !secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                problems.push(format!("capabilities.secrets: `{secret}` is not a secret name"));
            }
        }
        let l = &self.limits;
        if l.fuel == 0 || l.fuel > MAX_LIMITS.fuel {
            problems.push(format!("limits.fuel must be between 1 and {}", MAX_LIMITS.fuel));
        }
        if l.memory_mib == 0 || l.memory_mib > MAX_LIMITS.memory_mib {
            problems.push(format!("limits.memory_mib must be between 1 and {}", MAX_LIMITS.memory_mib));
        }
        if l.wall_ms == 0 || l.wall_ms > MAX_LIMITS.wall_ms {
            problems.push(format!("limits.wall_ms must be between 1 and {}", MAX_LIMITS.wall_ms));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::Invalid(problems))
        }
    }
}

/// The rule [`valid_name`] checks, for error messages.
pub const NAME_RULE: &str = "1 to 64 lower case letters, digits, `-` and `_`, starting with a letter or digit";

/// Whether `name` is a valid publisher, plugin or node name: the one rule
/// the manifest, the CLI and the registry all check (see [`NAME_RULE`]).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A credential field's name: 1 to 64 ASCII letters, digits, `_` and `-`.
pub fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An HTTP header name (RFC 9110 token).
fn valid_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Check a `publisher/name` package name.
pub fn validate_package_name(name: &str) -> Result<(), String> {
    match name.split_once('/') {
        Some((publisher, plugin)) if valid_name(publisher) && valid_name(plugin) => Ok(()),
        _ => Err(format!("plugin.name `{name}` must be `publisher/name`, each part {NAME_RULE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [plugin]
        name = "acme/crm"
        version = "1.2.3"
        [[node]]
        name = "create-contact"
        [[node]]
        name = "contact-updated"
        kind = "trigger"
        [capabilities]
        http = ["api.acme.test", "*.acme.test"]
        secrets = ["ACME_TOKEN"]
        kv = true
        [limits]
        fuel = 1_000_000
    "#;

    #[test]
    fn parses_a_full_manifest_with_defaults() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.publisher(), "acme");
        assert_eq!(m.plugin.version, Version::new(1, 2, 3));
        assert_eq!(m.plugin.wit.to_string(), DEFAULT_WIT_VERSION);
        assert_eq!(m.node("contact-updated").unwrap().kind, NodeKind::Trigger);
        assert_eq!(m.limits.fuel, 1_000_000);
        assert_eq!(m.limits.memory_mib, 64);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let text = r#"
            [plugin]
            name = "Acme"
            version = "1.0.0+build.7"
            [[node]]
            name = "a"
            [[node]]
            name = "a"
            [[node]]
            name = "-b"
            [capabilities]
            http = ["https://x.test/path"]
            [limits]
            fuel = 0
        "#;
        let err = Manifest::parse(text).unwrap_err().to_string();
        for expected in
            ["publisher/name", "build metadata", "declared twice", "node `-b`", "not a host pattern", "limits.fuel"]
        {
            assert!(err.contains(expected), "{expected:?} missing from {err}");
        }
    }

    #[test]
    fn refuses_unknown_fields_and_bad_versions() {
        let err = Manifest::parse("[plugin]\nname=\"a/b\"\nversion=\"1\"\n").unwrap_err();
        assert!(matches!(err, ManifestError::Parse(_)), "{err}");
        let err = Manifest::parse("[plugin]\nname=\"a/b\"\nversion=\"1.0.0\"\ncolour=1\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    const TYPED: &str = r#"
        [plugin]
        name = "acme/stripe"
        version = "1.0.0"
        wit = "0.2.0"
        [[node]]
        name = "refund"
        credentials = ["stripe-api"]
        [[credential]]
        name = "stripe-api"
        fields = [{ name = "secret_key" }, { name = "account", secret = false, optional = true }]
        auth = { scheme = "bearer", token = "secret_key" }
    "#;

    #[test]
    fn credential_types_are_declared_requested_and_checked() {
        let m = Manifest::parse(TYPED).unwrap();
        assert_eq!(m.capabilities.credentials, ["stripe-api"], "declared types are requested");
        let kind = m.credential("stripe-api").unwrap();
        assert!(kind.field("secret_key").unwrap().secret, "fields are secret by default");
        assert!(!kind.field("account").unwrap().secret);
        assert_eq!(kind.auth, Some(CredentialAuth::Bearer { token: "secret_key".into() }));

        let bad = [
            (
                TYPED.replace("credentials = [\"stripe-api\"]", "credentials = [\"oauth\"]"),
                "takes credential type `oauth`, which no [[credential]] declares",
            ),
            (
                TYPED.replace("token = \"secret_key\"", "token = \"key\""),
                "auth names field `key`, which it does not declare",
            ),
            (TYPED.replace("wit = \"0.2.0\"", "wit = \"0.1.0\""), "[[credential]] needs wirework:plugin@0.2.0"),
            (
                TYPED.replace("wit = \"0.2.0\"", "wit = \"0.9.0\""),
                "speaks wirework:plugin@0.1.0 and @0.2.0 and @0.3.0, not 0.9.0",
            ),
            (TYPED.replace("{ name = \"account\"", "{ name = \"secret_key\""), "field `secret_key` is declared twice"),
            (
                TYPED.replace(
                    "auth = { scheme = \"bearer\", token = \"secret_key\" }",
                    "auth = { scheme = \"header\", value = \"secret_key\" }",
                ),
                "takes one of `header` and `header_field`",
            ),
            (
                TYPED.replace(
                    "auth = { scheme = \"bearer\", token = \"secret_key\" }",
                    "auth = { scheme = \"header\", header = \"X Key\", value = \"secret_key\" }",
                ),
                "is not a header name",
            ),
        ];
        for (text, says) in bad {
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains(says), "{says:?} missing from {err}");
        }
        let unknown_scheme = TYPED.replace("scheme = \"bearer\"", "scheme = \"oauth2\"");
        assert!(matches!(Manifest::parse(&unknown_scheme), Err(ManifestError::Parse(_))));
    }

    #[test]
    fn one_name_rule_for_publishers_plugins_and_nodes() {
        for good in ["acme", "crm_v2", "9lives", "a-b"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-acme", "_acme", "Acme", "a.b", "a/b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(validate_package_name("acme/crm_v2").is_ok());
        assert!(validate_package_name("acme").is_err());
    }

    #[test]
    fn event_capabilities_are_checked_and_matched() {
        let with = |wit: &str, events: &str| {
            format!("[plugin]\nname = \"acme/mail\"\nversion = \"1.0.0\"\nwit = \"{wit}\"\n[[node]]\nname = \"events\"\nkind = \"trigger\"\n[capabilities]\nevents = {events}\n")
        };
        let m = Manifest::parse(&with("0.3.0", r#"["email.*", "contact.unsubscribed"]"#)).unwrap();
        assert_eq!(m.capabilities.events, ["email.*", "contact.unsubscribed"]);
        let err = Manifest::parse(&with("0.2.0", r#"["email.*"]"#)).unwrap_err().to_string();
        assert!(err.contains("capabilities.events needs wirework:plugin@0.3.0"), "{err}");
        for bad in ["*", "Email.opened", "email..opened", "email.*.x", "", "email opened"] {
            let err = Manifest::parse(&with("0.3.0", &format!("[{bad:?}]"))).unwrap_err().to_string();
            assert!(err.contains("is not an event name or prefix"), "{bad}: {err}");
        }
        assert!(event_pattern_matches("email.*", "email.opened:ann@example.com"));
        assert!(event_pattern_matches("email.*", "email.bounce.hard"));
        assert!(!event_pattern_matches("email.*", "email"));
        assert!(!event_pattern_matches("email.*", "emails.opened"));
        assert!(!event_pattern_matches("email.*", "approval.decided:email.x"));
        assert!(event_pattern_matches("contact.unsubscribed", "contact.unsubscribed:+15550001111"));
        assert!(!event_pattern_matches("contact.unsubscribed", "contact.unsubscribed2"));
    }
}
