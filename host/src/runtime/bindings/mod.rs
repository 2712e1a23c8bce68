//! Host-side bindings of the `wirework:plugin` contracts this host speaks.
//!
//! Every released contract is frozen in its own folder under `wit/`. The
//! current one (0.3.0) is bound here and is what the runtime works with; each
//! older one has a module of its own (`v0_1`, `v0_2`) that only adapts: its host
//! imports forward to the current implementation, and calls into its
//! components convert the current types to its own and back, as Zed's
//! `since_vX` modules do. A component's own imports say which contract it
//! speaks ([`Contract::of_component`]).

pub(crate) mod v0_1;
pub(crate) mod v0_2;

wasmtime::component::bindgen!({
    path: "../wit/0.3.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The contract versions this host loads, oldest first: the list manifests
/// are checked against (a unit test keeps it and [`Contract`] in step).
pub use wirework_registry::SUPPORTED_WIT_VERSIONS as SUPPORTED_CONTRACTS;

/// The WIT package every contract version belongs to.
const PACKAGE: &str = "wirework:plugin";

/// A supported contract version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `wirework:plugin@0.1.0`, frozen.
    V0_1,
    /// `wirework:plugin@0.2.0`, frozen.
    V0_2,
    /// `wirework:plugin@0.3.0`, the current one.
    V0_3,
}

impl Contract {
    /// The contract's version, e.g. `0.3.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
            Contract::V0_3 => "0.3.0",
        }
    }

    /// The contract of version `version`, or an error naming the supported ones.
    pub fn from_version(version: &str) -> Result<Contract, String> {
        match version {
            "0.1.0" => Ok(Contract::V0_1),
            "0.2.0" => Ok(Contract::V0_2),
            "0.3.0" => Ok(Contract::V0_3),
            other => {
                Err(format!("{PACKAGE}@{other} is not a contract this host speaks; it loads {}", supported_list()))
            }
        }
    }

    /// Which contract a component is built against, told by the
    /// `wirework:plugin/...@VERSION` interfaces it imports (its exports
    /// use the contract's types, so every plugin imports at least one).
    /// `Err` when it imports none, several versions, or one this host does
    /// not speak, naming the versions it does.
    pub fn of_component(bytes: &[u8]) -> Result<Contract, String> {
        let mut versions = std::collections::BTreeSet::new();
        // Only the outer component's imports say what the host must provide;
        // `parse_all` walks nested modules and components too, so count depth.
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| format!("not a WebAssembly component: {e}"))?;
            match payload {
                wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => depth += 1,
                wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
                wasmparser::Payload::ComponentImportSection(section) if depth == 0 => {
                    for import in section {
                        let import = import.map_err(|e| format!("not a WebAssembly component: {e}"))?;
                        let name = import.name.name;
                        if let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) {
                            match rest.split_once('@') {
                                Some((_, version)) => versions.insert(version.to_string()),
                                None => return Err(format!("it imports `{name}`, which has no version")),
                            };
                        }
                    }
                }
                _ => {}
            }
        }
        let mut versions = versions.into_iter();
        match (versions.next(), versions.next()) {
            (None, _) => Err(format!("it imports no {PACKAGE} interface; this host loads {}", supported_list())),
            (Some(one), None) => Contract::from_version(&one),
            (Some(a), Some(b)) => Err(format!("it imports two contracts, {PACKAGE}@{a} and @{b}")),
        }
    }
}

fn supported_list() -> String {
    SUPPORTED_CONTRACTS.iter().map(|v| format!("{PACKAGE}@{v}")).collect::<Vec<_>>().join(" and ")
}

#[cfg(test)]
mod tests {
    use super::{Contract, SUPPORTED_CONTRACTS};

    #[test]
    fn every_supported_version_has_a_binding() {
        for version in SUPPORTED_CONTRACTS {
            assert_eq!(Contract::from_version(version).unwrap().version(), *version);
        }
        let error = Contract::from_version("0.9.0").unwrap_err();
        assert!(error.contains("wirework:plugin@0.1.0 and wirework:plugin@0.2.0 and wirework:plugin@0.3.0"), "{error}");
    }
}
