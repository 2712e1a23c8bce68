//! The management API's bodies (`/api/v1`): what requests carry and what the
//! server answers, as serde types. The server writes its answers from them
//! and the CLI's client reads them back, so the two cannot drift apart; a
//! test checks each against the OpenAPI document (`server/openapi.json`)
//! that describes them to everyone else.
//!
//! Types the engine and the plugin manager already define are the bodies
//! too (re-exported here): a workflow head, a version, a grant.

use crate::engine::Status;
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use wirework_registry::log::Revocations;
use wirework_registry::{Capabilities, NodeKind};

pub use crate::engine::{Deletion, Deployed, EventOutcome, Problem, Workflow, WorkflowHead, WorkflowVersion};
pub use crate::plugins::GrantEntry as Grants;

// ---- answers ----

/// Every error the API produces itself: 4xx and 5xx.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// What went wrong.
    pub error: String,
    /// For an invalid workflow: every problem, with where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<Problem>>,
}

/// `GET /workflows/{id}`: the head with its current version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowAnswer {
    /// Id, current and latest version, whether active.
    #[serde(flatten)]
    pub head: WorkflowHead,
    /// The current version's definition.
    pub definition: Workflow,
    /// The plugin versions it runs.
    pub pins: BTreeMap<String, Version>,
    /// The exact version of the workflow each of its calling nodes runs, by node id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calls: BTreeMap<String, u32>,
}

/// An execution started or re-run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionId {
    /// Its id.
    pub execution_id: String,
}

/// `POST /executions/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cancelled {
    /// The execution.
    pub execution_id: String,
    /// Its status now.
    pub status: Option<Status>,
}

/// A node type of a loaded plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its name in the plugin.
    pub name: String,
    /// Action or trigger.
    pub kind: NodeKind,
    /// Its title.
    pub title: String,
    /// What it does, for humans.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its configuration (the studio's forms come from it).
    #[serde(default)]
    pub config_schema: Value,
    /// Its output ports; empty when its configuration names them (a switch).
    #[serde(default)]
    pub ports: Vec<String>,
}

/// `GET /plugins`: one loaded version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginAnswer {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// SHA-256 of the component.
    pub digest: String,
    /// Its node types.
    pub nodes: Vec<NodeInfo>,
    /// What its manifest requests.
    pub requested: Capabilities,
    /// What the plugin is granted.
    pub grants: Grants,
    /// The credential types its manifest declares: what an operator creates
    /// credentials of (`publisher/name:type`), with their fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_types: Vec<wirework_registry::CredentialType>,
    /// The registry it was installed from (none for an uploaded file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The version range it was installed with, which an upgrade stays in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// `POST /plugins`: a package file installed and loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginAdded {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// SHA-256 of the component.
    pub digest: String,
    /// The plugin's grant now.
    pub grants: Grants,
}

/// A version installed from a registry and loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInstalled {
    /// `publisher/name`.
    pub name: String,
    /// The version.
    pub version: Version,
    /// SHA-256 of the component.
    pub digest: String,
    /// What its manifest requests.
    pub requested: Capabilities,
    /// The plugin's grant now.
    pub grants: Grants,
    /// Requested and not granted (`http HOST`, `kv`).
    pub not_granted: Vec<String>,
    /// The registry it came from.
    pub registry: String,
    /// A registry pinned at first contact, a newly trusted key, ...
    pub notes: Vec<String>,
}

/// `POST /plugins/install-locked`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginsInstalled {
    /// Each entry of the lockfile, in order.
    pub plugins: Vec<PluginInstalled>,
}

/// What upgrading one plugin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeOutcome {
    /// A newer version was installed beside the others.
    Upgraded,
    /// The newest in its range is installed already.
    Current,
    /// It could not be upgraded (`status` and `error` say why).
    Failed,
}

/// `POST /plugins/upgrade`: one plugin's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginUpgrade {
    /// `publisher/name`.
    pub name: String,
    /// The version upgraded from (its newest locked one).
    pub from: Version,
    /// The locked range.
    pub range: String,
    /// The registry.
    pub registry: String,
    /// What happened.
    pub outcome: UpgradeOutcome,
    /// When upgraded: what was installed.
    #[serde(default, skip_serializing_if = "Option::is_none", flatten)]
    pub installed: Option<UpgradedTo>,
    /// When failed: the status an install would have been answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// When failed: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The version an upgrade installed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpgradedTo {
    /// The new version.
    pub version: Version,
    /// SHA-256 of its component.
    pub digest: String,
    /// What it requests.
    pub requested: Capabilities,
    /// The plugin's grant.
    pub grants: Grants,
    /// Requested and not granted.
    pub not_granted: Vec<String>,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

/// `POST /plugins/upgrade`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginUpgrades {
    /// One per plugin.
    pub plugins: Vec<PluginUpgrade>,
}

/// `POST /plugins/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refreshed {
    /// Everything revoked, as the host now checks it.
    pub revocations: Revocations,
    /// Registries that could not be reached or verified.
    pub unreachable: Vec<String>,
}

/// `POST /tokens`: shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewToken {
    /// The token's name.
    pub name: String,
    /// The token itself.
    pub token: String,
}

// ---- requests ----

/// `POST /workflows/{id}/rollback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to make current.
    pub version: u32,
}

/// `POST /workflows/{id}/executions` (an empty body: one empty item).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The trigger to start through (default: the first manual one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The items, JSON objects.
    #[serde(default)]
    pub items: Vec<Value>,
}

/// `POST /test-runs`: run a draft once, without deploying it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRunRequest {
    /// The draft: a workflow definition, as deployed.
    pub workflow: Value,
    /// The trigger to start through (default: the first manual one, else the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The trigger's items, JSON objects (default: one empty item).
    #[serde(default)]
    pub items: Vec<Value>,
    /// Outputs that stand for their nodes (node id, then port, then items):
    /// those nodes are not called.
    #[serde(default)]
    pub pinned: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<Value>>>,
    /// Answer once the run stops running (it finished, or waits), for at
    /// most 30 seconds.
    #[serde(default)]
    pub wait: bool,
}

/// `POST /test-runs`: the run started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRunAnswer {
    /// The execution.
    pub execution_id: String,
    /// Where its draft is stored: `{id}~test`.
    pub workflow_id: String,
    /// The draft's version there.
    pub workflow_version: u32,
    /// Its status when answered.
    pub status: crate::engine::Status,
}

/// `POST /executions/{id}/retry`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// `from_failed` (default) or `from_start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `POST /plugins/install`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryInstallRequest {
    /// `publisher/name@RANGE`.
    pub plugin: String,
    /// The registry's URL.
    pub registry: String,
    /// `http=PATTERN`, `http-internal=HOST`, `kv`, `all` or `none`.
    #[serde(default)]
    pub grants: Vec<String>,
    /// Trust the publisher's current key if the server trusts none of its keys yet.
    #[serde(default)]
    pub trust_on_first_use: bool,
}

/// `POST /plugins/install/preview`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryPreviewRequest {
    /// `publisher/name@RANGE`.
    pub plugin: String,
    /// The registry's URL.
    pub registry: String,
    /// As for an install: trust the publisher's current key if the server trusts none of its keys yet.
    #[serde(default)]
    pub trust_on_first_use: bool,
}

/// `POST /plugins/install/preview`: what installing would do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginPreview {
    /// `publisher/name`.
    pub name: String,
    /// The version the range resolves to.
    pub version: Version,
    /// What its manifest requests: what to grant.
    pub requested: Capabilities,
    /// The plugin's grant now, when an earlier version has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Grants>,
    /// The key that signed it.
    pub key_id: String,
    /// The registry.
    pub registry: String,
    /// A key the install would trust, a registry pinned at first contact, ...
    pub notes: Vec<String>,
}

/// `POST /plugins/install-locked` (an empty body: the server's own lockfile).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedInstallRequest {
    /// A lockfile's text (TOML); the server's own lockfile when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockfile: Option<String>,
    /// As for an install.
    #[serde(default)]
    pub grants: Vec<String>,
    /// As for an install.
    #[serde(default)]
    pub trust_on_first_use: bool,
}

/// `POST /plugins/upgrade` (an empty body: every plugin of the lockfile).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// Only these plugins (`publisher/name`); all when empty.
    #[serde(default)]
    pub plugins: Vec<String>,
    /// For what a newer version requests beyond its plugin's grant.
    #[serde(default)]
    pub grants: Vec<String>,
}

/// `PUT /credentials/{name}`: a plain value (`value`), or a typed
/// credential (`type` and `fields`). Values are write-only: never answered back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    /// A plain value, for a secret a plugin requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A credential type an installed plugin declares: `publisher/plugin:type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The typed credential's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
}

/// `POST /events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// The event's name.
    pub name: String,
    /// Its payload, a JSON object (default `{}`).
    #[serde(default = "empty_object")]
    pub payload: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// `POST /tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The new token's name.
    pub name: String,
}

#[cfg(test)]
mod tests {
    //! Each answer type, serialised, must match what the OpenAPI document
    //! says that route answers; each request type must be what the document
    //! says the route takes. A field added on one side only fails here.
    use super::*;
    use serde_json::json;

    const OPENAPI: &str = include_str!("server/openapi.json");

    /// Validate `value` against the schema at `pointer` in the document
    /// (its `$ref`s resolved within it).
    fn check(pointer: &str, value: &impl Serialize) {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let schema = doc.pointer(pointer).unwrap_or_else(|| panic!("no {pointer} in openapi.json")).clone();
        let root = json!({"allOf": [schema], "components": doc["components"]});
        let validator = jsonschema::validator_for(&root).unwrap();
        let value = serde_json::to_value(value).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{pointer} does not describe {value}: {errors:?}");
    }

    fn answer(path: &str, method: &str, status: &str) -> String {
        let path = path.replace('~', "~0").replace('/', "~1");
        format!("/paths/{path}/{method}/responses/{status}/content/application~1json/schema")
    }

    fn request(path: &str, method: &str) -> String {
        let path = path.replace('~', "~0").replace('/', "~1");
        format!("/paths/{path}/{method}/requestBody/content/application~1json/schema")
    }

    fn grants() -> Grants {
        Grants {
            http: vec!["api.example.com".into()],
            http_internal: vec!["crm.corp.example".into()],
            kv: true,
            credentials: vec!["bearer".into()],
            events: vec!["email.*".into()],
        }
    }

    fn requested() -> Capabilities {
        Capabilities {
            http: vec!["*".into()],
            secrets: vec!["TOKEN".into()],
            kv: true,
            credentials: vec!["bearer".into()],
            events: vec!["email.*".into()],
        }
    }

    fn installed() -> PluginInstalled {
        PluginInstalled {
            name: "acme/crm".into(),
            version: Version::new(1, 2, 0),
            digest: "ab".repeat(32),
            requested: requested(),
            grants: grants(),
            not_granted: vec!["kv".into()],
            registry: "http://127.0.0.1:7080".into(),
            notes: vec!["pinned registry".into()],
        }
    }

    #[test]
    fn every_example_workflow_matches_the_openapi_definition() {
        // The studio's workflow types are generated from this schema: it must
        // describe what the engine's model serialises, every field of it.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workflows");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let workflow: crate::engine::model::Workflow = serde_yaml_ng::from_str(&text).unwrap();
            check("/components/schemas/WorkflowDefinition", &workflow);
            checked += 1;
        }
        assert!(checked >= 12, "{checked} examples");
    }

    #[test]
    fn answers_match_the_openapi_document() {
        let error = ErrorAnswer {
            error: "invalid workflow".into(),
            problems: Some(vec![Problem { location: "nodes[0](a).uses".into(), message: "not installed".into() }]),
        };
        check(&answer("/api/v1/workflows", "post", "400"), &error);
        check(&answer("/api/v1/executions/{id}/retry", "post", "200"), &ExecutionId { execution_id: "x".into() });
        let cancelled = Cancelled { execution_id: "x".into(), status: Some(Status::Cancelled) };
        check(&answer("/api/v1/executions/{id}/cancel", "post", "200"), &cancelled);
        let node = NodeInfo {
            name: "request".into(),
            kind: NodeKind::Action,
            title: "HTTP request".into(),
            description: "Calls a URL".into(),
            config_schema: json!({"type": "object", "required": ["url"]}),
            ports: vec!["main".into()],
        };
        let plugin = PluginAnswer {
            name: "wirework/http".into(),
            version: Version::new(0, 1, 0),
            digest: "cd".repeat(32),
            nodes: vec![node],
            requested: requested(),
            grants: grants(),
            credential_types: wirework_registry::Manifest::parse(
                "[plugin]\nname = \"wirework/http\"\nversion = \"0.1.1\"\nwit = \"0.2.0\"\n[[node]]\nname = \"request\"\n\
                 [[credential]]\nname = \"bearer\"\nfields = [{ name = \"token\" }, { name = \"base_url\", secret = false, optional = true }]\n\
                 auth = { scheme = \"bearer\", token = \"token\" }\n",
            )
            .unwrap()
            .credentials,
            registry: Some("http://127.0.0.1:7080".into()),
            range: Some("^0.1".into()),
        };
        check(&answer("/api/v1/plugins", "get", "200"), &vec![plugin]);
        let added = PluginAdded {
            name: "acme/crm".into(),
            version: Version::new(1, 0, 0),
            digest: "ef".repeat(32),
            grants: grants(),
        };
        check(&answer("/api/v1/plugins", "post", "201"), &added);
        check(&answer("/api/v1/plugins/install", "post", "201"), &installed());
        let preview = PluginPreview {
            name: "acme/crm".into(),
            version: Version::new(1, 2, 0),
            requested: requested(),
            grants: Some(grants()),
            key_id: "ed25519:ab".into(),
            registry: "http://127.0.0.1:7080".into(),
            notes: vec![],
        };
        check(&answer("/api/v1/plugins/install/preview", "post", "200"), &preview);
        check(
            &answer("/api/v1/plugins/install-locked", "post", "201"),
            &PluginsInstalled { plugins: vec![installed()] },
        );
        let upgraded = PluginUpgrade {
            name: "acme/crm".into(),
            from: Version::new(1, 2, 0),
            range: "^1.2".into(),
            registry: "http://127.0.0.1:7080".into(),
            outcome: UpgradeOutcome::Upgraded,
            installed: Some(UpgradedTo {
                version: Version::new(1, 3, 0),
                digest: "01".repeat(32),
                requested: requested(),
                grants: grants(),
                not_granted: vec![],
                notes: vec![],
            }),
            status: None,
            error: None,
        };
        let failed = PluginUpgrade {
            outcome: UpgradeOutcome::Failed,
            installed: None,
            status: Some(502),
            error: Some("unreachable".into()),
            ..upgraded.clone()
        };
        let current = PluginUpgrade { outcome: UpgradeOutcome::Current, installed: None, ..upgraded.clone() };
        let upgrades = PluginUpgrades { plugins: vec![upgraded, failed, current] };
        check(&answer("/api/v1/plugins/upgrade", "post", "200"), &upgrades);
        check(
            &answer("/api/v1/plugins/refresh", "post", "200"),
            &Refreshed { revocations: Revocations::default(), unreachable: vec!["http://x".into()] },
        );
        check(&answer("/api/v1/plugins/{publisher}/{name}/grants", "get", "200"), &grants());
        check(&answer("/api/v1/tokens", "post", "201"), &NewToken { name: "ci".into(), token: "ww_x".into() });
        let run = TestRunAnswer {
            execution_id: "x".into(),
            workflow_id: "w~test".into(),
            workflow_version: 3,
            status: Status::Waiting,
        };
        check(&answer("/api/v1/test-runs", "post", "201"), &run);
        let deleted = Deletion { id: "w".into(), versions: 2, executions: 10 };
        check(&answer("/api/v1/workflows/{id}", "delete", "200"), &deleted);
        check(
            &answer("/api/v1/events", "post", "200"),
            &EventOutcome { started: vec!["x".into()], resumed: 1, failed: vec![] },
        );
    }

    #[test]
    fn requests_match_the_openapi_document() {
        check(&request("/api/v1/workflows/{id}/rollback", "post"), &RollbackRequest { version: 2 });
        let start = StartRequest { trigger: Some("form".into()), items: vec![json!({"email": "a@b.c"})] };
        check(&request("/api/v1/workflows/{id}/executions", "post"), &start);
        check(&request("/api/v1/executions/{id}/retry", "post"), &RetryRequest { mode: Some("from_start".into()) });
        let install = RegistryInstallRequest {
            plugin: "acme/crm@^1".into(),
            registry: "http://127.0.0.1:7080".into(),
            grants: vec!["kv".into()],
            trust_on_first_use: true,
        };
        check(&request("/api/v1/plugins/install", "post"), &install);
        let preview = RegistryPreviewRequest {
            plugin: "acme/crm@^1".into(),
            registry: "http://127.0.0.1:7080".into(),
            trust_on_first_use: true,
        };
        check(&request("/api/v1/plugins/install/preview", "post"), &preview);
        let locked = LockedInstallRequest { lockfile: Some("".into()), grants: vec![], trust_on_first_use: false };
        check(&request("/api/v1/plugins/install-locked", "post"), &locked);
        let upgrade = UpgradeRequest { plugins: vec!["acme/crm".into()], grants: vec!["all".into()] };
        check(&request("/api/v1/plugins/upgrade", "post"), &upgrade);
        check(&request("/api/v1/plugins/{publisher}/{name}/grants", "put"), &grants());
        check(
            &request("/api/v1/credentials/{name}", "put"),
            &CredentialRequest { value: Some("s3cret".into()), ..Default::default() },
        );
        check(
            &request("/api/v1/events", "post"),
            &EventRequest { name: "contact.added".into(), payload: json!({"id": 1}) },
        );
        check(&request("/api/v1/tokens", "post"), &TokenRequest { name: "ci".into() });
        let pinned = json!({"fetch": {"main": [{"status": 200}]}});
        let run = TestRunRequest {
            workflow: json!({"id": "w", "triggers": [{"id": "go", "type": "manual"}], "nodes": [], "connections": []}),
            trigger: Some("go".into()),
            items: vec![json!({"email": "a@b.c"})],
            pinned: serde_json::from_value(pinned).unwrap(),
            wait: true,
        };
        check(&request("/api/v1/test-runs", "post"), &run);
    }
}
