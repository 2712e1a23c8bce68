//! `plugin.toml`: what a plugin is, which node types it has, what it asks for.

use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The WIT contract version this host speaks; manifests default to it.
pub const WIT_VERSION: &str = "0.1.0";

/// A plugin manifest, as written beside the plugin's crate and signed into its package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name, version and contract.
    pub plugin: PluginSection,
    /// The node types, which must agree with the component's `describe()`.
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeDecl>,
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
    /// The `wirework:plugin` WIT version the component is built against.
    #[serde(default = "default_wit")]
    pub wit: Version,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
}

fn default_wit() -> Version {
    Version::parse(WIT_VERSION).expect("a valid constant")
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
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The publisher part of `publisher/name`.
    pub fn publisher(&self) -> &str {
        self.plugin.name.split_once('/').map_or("", |(p, _)| p)
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
        if self.plugin.wit != default_wit() {
            problems
                .push(format!("plugin.wit: this host speaks wirework:plugin@{WIT_VERSION}, not {}", self.plugin.wit));
        }
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
        assert_eq!(m.plugin.wit.to_string(), WIT_VERSION);
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
}
