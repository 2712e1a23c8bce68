//! Package trust at load time: tampering, unknown keys, manifests that lie,
//! and the precompiled-artifact cache.

use crate::common::*;
use std::sync::Arc;
use wirework::runtime::{Grants, LoadError, MemoryKv, Runtime, RuntimeConfig};
use wirework_registry::{Package, PackageError, SecretKey, TrustStore};

fn core_package() -> Package {
    Package::read(&fixtures().core).unwrap()
}

async fn load_err(package: Package, trust: &TrustStore) -> LoadError {
    match runtime().load(package, trust, &Grants::default()).await {
        Ok(_) => panic!("the package should have been refused"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_component_altered_after_signing_is_refused_as_such() {
    let mut package = core_package();
    let last = package.component.len() - 1;
    package.component[last] ^= 0xff;
    let err = load_err(package, &fixtures().trust()).await;
    assert!(matches!(err, LoadError::Package(PackageError::ComponentAltered { .. })), "{err}");
    assert!(err.to_string().contains("component was altered after signing"), "{err}");
}

#[tokio::test]
async fn a_manifest_altered_after_signing_is_refused_as_such() {
    let mut package = core_package();
    // Give the plugin network access it never signed for.
    let text = String::from_utf8(package.manifest_bytes.clone()).unwrap();
    package.manifest_bytes = text.replace("[capabilities]", "[capabilities]\nhttp = [\"*\"]").into_bytes();
    let err = load_err(package, &fixtures().trust()).await;
    assert!(matches!(err, LoadError::Package(PackageError::ManifestAltered { .. })), "{err}");
    assert!(err.to_string().contains("manifest was altered after signing"), "{err}");
}

#[tokio::test]
async fn a_package_signed_by_an_untrusted_key_is_refused() {
    let package = core_package();
    let manifest = String::from_utf8(package.manifest_bytes.clone()).unwrap();
    let stranger = SecretKey::generate();
    let resigned = Package::sign(&manifest, package.component, &stranger).unwrap();
    let err = load_err(resigned, &fixtures().trust()).await;
    assert!(matches!(err, LoadError::Package(PackageError::UntrustedKey { .. })), "{err}");
    assert!(err.to_string().contains("not in the trust store"), "{err}");

    // An empty trust store refuses even the fixtures' own packages.
    let err = load_err(core_package(), &TrustStore::default()).await;
    assert!(matches!(err, LoadError::Package(PackageError::UntrustedKey { .. })), "{err}");
}

#[tokio::test]
async fn a_manifest_that_disagrees_with_describe_is_refused() {
    let package = core_package();
    let manifest = String::from_utf8(package.manifest_bytes.clone()).unwrap();
    let lying = manifest.replace("[[node]]\nname = \"noop\"\n", "[[node]]\nname = \"teleport\"\n");
    assert_ne!(lying, manifest);
    let key = SecretKey::generate();
    let mut trust = TrustStore::default();
    trust.add("wirework", key.public());
    let err = load_err(Package::sign(&lying, package.component, &key).unwrap(), &trust).await;
    let message = err.to_string();
    assert!(matches!(err, LoadError::DescribeMismatch(_)), "{message}");
    assert!(message.contains("`teleport`") && message.contains("`noop`"), "{message}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let package = core_package();
    let manifest = String::from_utf8(package.manifest_bytes).unwrap();
    let key = SecretKey::generate();
    let mut trust = TrustStore::default();
    trust.add("wirework", key.public());
    let junk = Package::sign(&manifest, b"\0asm\x01\0\0\0".to_vec(), &key).unwrap();
    let err = load_err(junk, &trust).await;
    assert!(matches!(err, LoadError::Compile(_) | LoadError::Contract(_)), "{err}");
}

#[tokio::test]
async fn the_artifact_cache_spares_a_restart_the_compile() {
    let cache = tempfile::tempdir().unwrap();
    let config =
        || RuntimeConfig { cache_dir: Some(cache.path().to_path_buf()), max_instances: 8, ..Default::default() };
    let trust = fixtures().trust();

    let first = Runtime::new(config(), Arc::new(MemoryKv::default())).unwrap();
    let plugin = first.load(core_package(), &trust, &Grants::default()).await.unwrap();
    assert!(!plugin.loaded_from_cache(), "an empty cache means a compile");
    drop((plugin, first));

    // A new runtime, as after a restart: native code comes from disk.
    let second = Runtime::new(config(), Arc::new(MemoryKv::default())).unwrap();
    let plugin = second.load(core_package(), &trust, &Grants::default()).await.unwrap();
    assert!(plugin.loaded_from_cache());
    let report =
        second.invoke(&plugin, invocation("noop", serde_json::json!({}), vec![serde_json::json!({"a": 1})])).await;
    assert_eq!(port(&report, "main"), [serde_json::json!({"a": 1})]);

    // A damaged artifact is recompiled, not trusted; the runtime that loaded it
    // earlier keeps working although its file changed under it.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = Runtime::new(config(), Arc::new(MemoryKv::default())).unwrap();
    let reloaded = third.load(core_package(), &trust, &Grants::default()).await.unwrap();
    assert!(!reloaded.loaded_from_cache());
    let report =
        second.invoke(&plugin, invocation("noop", serde_json::json!({}), vec![serde_json::json!({"b": 2})])).await;
    assert_eq!(port(&report, "main"), [serde_json::json!({"b": 2})]);
}
