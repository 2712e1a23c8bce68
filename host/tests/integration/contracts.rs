//! Contract versions: a component built against the frozen
//! `wirework:plugin@0.1.0` keeps installing, loading and running beside the
//! current 0.3.0 ones (and 0.2.0 ones: the JavaScript example is one, run
//! through its adapter by `js_plugin.rs`); one built against a contract this host does not speak
//! is refused at install, naming the versions it does.

use crate::common::engine::install_package;
use crate::common::server::{json, serve};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use wirework::plugins::GrantEntry;
use wirework::runtime::{Contract, Grants};
use wirework_registry::{Package, SecretKey};

#[tokio::test]
async fn a_0_1_component_loads_through_its_adapter_beside_current_ones() {
    let runtime = runtime();
    let legacy = load(&runtime, &fixtures().legacy, &Grants { kv: true, ..Default::default() }).await;
    assert_eq!(legacy.contract(), Contract::V0_1);
    assert_eq!(legacy.manifest().plugin.wit.to_string(), "0.1.0", "a manifest without `wit` is 0.1.0");
    let core = load(&runtime, &fixtures().core, &Grants::default()).await;
    assert_eq!(core.contract(), Contract::V0_3);
    let github = load(&runtime, &fixtures().github, &Grants::default()).await;
    assert_eq!(github.contract(), Contract::V0_2, "the JavaScript example is built against the frozen 0.2.0");

    // Host imports reach the 0.1 component through the adapter: kv and logs.
    let first = runtime.invoke(&legacy, invocation("stamp", json!({}), vec![json!({"a": 1})])).await;
    assert_eq!(port(&first, "main"), [json!({"a": 1, "legacy": true, "count": 1, "token_length": 0})]);
    assert_eq!(first.logs.last().map(|l| l.message.as_str()), Some("stamp call 1"));
    let second = runtime.invoke(&legacy, invocation("stamp", json!({}), vec![json!({})])).await;
    assert_eq!(port(&second, "main")[0]["count"], 2, "the 0.1 component's kv-set persisted");
    // Its node errors come through with no retry-after (0.1 has none).
    let failed = runtime.invoke(&legacy, invocation("stamp", json!({"fail": "upstream down"}), vec![])).await;
    match failed.result.unwrap_err() {
        wirework::runtime::NodeFailure::Plugin { message, code, retryable, retry_after_ms } => {
            assert_eq!(retry_after_ms, None);
            assert_eq!((message.as_str(), code.as_deref(), retryable), ("upstream down", Some("legacy_failure"), true));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_0_1_plugin_serves_webhooks_and_nodes_with_bound_secrets() {
    let dir = tempfile::tempdir().unwrap();
    install_package(dir.path(), &fixtures().core, GrantEntry::default());
    install_package(dir.path(), &fixtures().legacy, GrantEntry { kv: true, ..Default::default() });
    let server = serve(dir.path(), |_| {}).await;
    let (status, _) = json(
        server
            .api_json(Method::PUT, "/credentials/legacy-token", &json!({"value": "s3cret-token"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 204);
    server
        .deploy(
            r#"
id: legacy
triggers:
  - {id: hook, type: webhook, path: in, uses: "wirework-tests/legacy@^0.1", node: hook, mode: sync}
nodes:
  - id: stamp
    uses: "wirework-tests/legacy@^0.1"
    node: stamp
    credentials: {LEGACY_TOKEN: legacy-token}
connections:
  - {from: hook, to: stamp}
"#,
        )
        .await;
    let hook =
        |body: &'static str| server.client.post(format!("{}/hooks/legacy/in?source=ads", server.url)).body(body).send();
    let (status, body) = json(hook(r#"{"name": "Ann"}"#).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let expected =
        json!({"name": "Ann", "method": "POST", "query": "source=ads", "legacy": true, "count": 1, "token_length": 12});
    assert_eq!(body, expected);
    let response = hook(r#"{"reject": true}"#).await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.text().await.unwrap(), "rejected");
    let (_, plugins) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    let legacy = plugins.as_array().unwrap().iter().find(|p| p["name"] == "wirework-tests/legacy");
    assert!(legacy.is_some(), "{plugins}");
    server.stop().await;
}

/// The legacy fixture's component with every `@0.1.0` of its imports made
/// `@<version>` (same length, so the binary stays valid), signed anew.
fn retargeted(version: &str, wit: Option<&str>) -> Vec<u8> {
    let package = Package::read(&fixtures().legacy).unwrap();
    let mut component = package.component.clone();
    let (from, to) = (b"wirework:plugin/types@0.1.0".as_slice(), format!("wirework:plugin/types@{version}"));
    let (from_host, to_host) = (b"wirework:plugin/host@0.1.0".as_slice(), format!("wirework:plugin/host@{version}"));
    for (from, to) in [(from, to.as_bytes()), (from_host, to_host.as_bytes())] {
        assert_eq!(from.len(), to.len());
        let mut at = 0;
        while let Some(pos) = component[at..].windows(from.len()).position(|w| w == from) {
            component[at + pos..at + pos + from.len()].copy_from_slice(to);
            at += pos + from.len();
        }
    }
    let mut manifest = String::from_utf8(package.manifest_bytes).unwrap();
    if let Some(wit) = wit {
        manifest = manifest.replace("version = \"0.1.0\"\n", &format!("version = \"0.1.0\"\nwit = \"{wit}\"\n"));
    }
    let key = SecretKey::read(&fixtures().home.root().join("keys/default.key")).unwrap();
    Package::sign(&manifest, component, &key).unwrap().to_bytes()
}

#[tokio::test]
async fn a_component_of_an_unknown_contract_is_refused_at_install_naming_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let home = fixtures().fresh_home();
    let manager =
        wirework::plugins::PluginManager::for_data_dir(wirework::data_dir::DataDir::at(dir.path()), (*home).clone());
    let error = manager.add(retargeted("0.9.0", None), GrantEntry::default(), false).await.unwrap_err().to_string();
    assert!(error.contains("wirework:plugin@0.9.0 is not a contract this host speaks"), "{error}");
    assert!(error.contains("wirework:plugin@0.1.0 and wirework:plugin@0.2.0 and wirework:plugin@0.3.0"), "{error}");
    let packages = || {
        let files = std::fs::read_dir(dir.path().join("plugins")).into_iter().flatten().flatten();
        files.filter(|f| f.path().extension().is_some_and(|e| e == "wwpkg" || e == "toml")).count()
    };
    assert_eq!(packages(), 0, "nothing installed, no grant written");

    // A 0.2 component whose manifest says nothing (so 0.1.0): told what to write.
    let error = manager.add(retargeted("0.3.0", None), GrantEntry::default(), false).await.unwrap_err().to_string();
    assert!(error.contains("built against wirework:plugin@0.3.0, but its manifest says `wit = \"0.1.0\"`"), "{error}");

    // A manifest naming an unknown contract does not even sign.
    let package = Package::read(&fixtures().legacy).unwrap();
    let manifest = String::from_utf8(package.manifest_bytes)
        .unwrap()
        .replace("version = \"0.1.0\"\n", "version = \"0.1.0\"\nwit = \"0.9.0\"\n");
    let key = SecretKey::read(&fixtures().home.root().join("keys/default.key")).unwrap();
    let error = Package::sign(&manifest, package.component, &key).unwrap_err().to_string();
    assert!(error.contains("this host speaks wirework:plugin@0.1.0 and @0.2.0 and @0.3.0, not 0.9.0"), "{error}");

    // And through the API, a 422 or 4xx with the same message, nothing installed.
    let server = serve(dir.path(), |_| {}).await;
    let response = server
        .api(Method::POST, "/plugins")
        .header("content-type", "application/octet-stream")
        .body(retargeted("0.9.0", None))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body.to_string().contains("is not a contract this host speaks"), "{body}");
    let (_, plugins) = json(server.api(Method::GET, "/plugins").send().await.unwrap()).await;
    assert_eq!(plugins, Value::Array(vec![]), "nothing installed");
    server.stop().await;
}
