//! `wirework plugin new`: a new plugin's folder, ready to test and build: a
//! manifest with an action, a trigger and their credential types, the nodes,
//! native tests (Rust: against the SDK's fake host; JavaScript: the built
//! component in Node through jco), and component tests
//! (`tests/component.json`, the same for both: the nodes behave alike) that
//! `wirework plugin test` runs in the real runtime. The templates are in
//! `templates/`; a JavaScript plugin's npm lockfile is the example's
//! (`examples/github-plugin`: the same build tools, pinned once).

use anyhow::{bail, Context};
use hmac::Mac;
use std::path::{Path, PathBuf};
use wirework_registry::manifest::validate_package_name;

/// The languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate on `wirework-sdk`.
    Rust,
    /// JavaScript, built by componentize-js from npm.
    Js,
}

/// What to make.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    /// `publisher/name`.
    pub name: String,
    /// The folder to make (must not exist, or be empty).
    pub dir: PathBuf,
    /// The language.
    pub lang: Lang,
    /// Where the `wirework-sdk` crate is (Rust only).
    pub sdk: PathBuf,
}

/// The npm lockfile of the JavaScript example, whose build tools a new
/// JavaScript plugin pins too.
const JS_LOCKFILE: &str = include_str!("../../../examples/github-plugin/package-lock.json");

/// The example's package name in that lockfile.
const JS_LOCKFILE_NAME: &str = "acme-github-plugin";

/// The signing secret of the sample webhook in the new plugin's component tests.
const SAMPLE_SECRET: &str = "whsec_sample_for_tests";

/// Make the plugin's folder; returns the files written.
pub fn new_plugin(plan: &NewPlugin) -> anyhow::Result<Vec<PathBuf>> {
    validate_package_name(&plan.name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (publisher, name) = plan.name.split_once('/').expect("checked above");
    if plan.dir.exists() && std::fs::read_dir(&plan.dir)?.next().is_some() {
        bail!("{} exists and is not empty: give a new folder with --dir", plan.dir.display());
    }
    let sdk = match plan.lang {
        Lang::Rust => {
            let sdk = plan.sdk.canonicalize().with_context(|| {
                format!("the wirework-sdk crate is not at {}: say where it is with --sdk PATH", plan.sdk.display())
            })?;
            if !sdk.join("Cargo.toml").exists() {
                bail!("{} holds no Cargo.toml: --sdk names the wirework-sdk crate's folder", sdk.display());
            }
            sdk
        }
        Lang::Js => PathBuf::new(),
    };
    let crate_name = format!("{publisher}-{name}").replace('_', "-");
    let fill = |template: &str| {
        template
            .replace("{{publisher}}", publisher)
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk.display().to_string())
    };
    let files: Vec<(&str, String)> = match plan.lang {
        Lang::Rust => vec![
            ("Cargo.toml", fill(include_str!("templates/rust/Cargo.toml.tmpl"))),
            ("plugin.toml", fill(include_str!("templates/rust/plugin.toml.tmpl"))),
            ("src/lib.rs", fill(include_str!("templates/rust/lib.rs.tmpl"))),
            ("README.md", fill(include_str!("templates/rust/README.md.tmpl"))),
            (".gitignore", "/target\n*.wwpkg\n".into()),
            ("tests/component.json", component_tests()),
        ],
        Lang::Js => vec![
            ("package.json", fill(include_str!("templates/js/package.json.tmpl"))),
            ("package-lock.json", JS_LOCKFILE.replace(JS_LOCKFILE_NAME, &crate_name)),
            ("build.js", fill(include_str!("templates/js/build.js.tmpl"))),
            ("plugin.toml", fill(include_str!("templates/js/plugin.toml.tmpl"))),
            ("src/plugin.js", fill(include_str!("templates/js/plugin.js.tmpl"))),
            ("test/plugin.test.js", fill(include_str!("templates/js/plugin.test.js.tmpl"))),
            (
                "wit/plugin.wit",
                super::contract_wit(wirework_registry::manifest::WIT_VERSION)
                    .expect("the current contract has a WIT")
                    .to_string(),
            ),
            ("README.md", fill(include_str!("templates/js/README.md.tmpl"))),
            (".gitignore", "/node_modules\n/dist\n*.wwpkg\n".into()),
            ("tests/component.json", component_tests()),
        ],
    };
    let mut written = Vec::new();
    for (file, text) in files {
        let path = plan.dir.join(file);
        write_new(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The new plugin's component tests: a signed webhook and a forged one, and
/// an item the action cannot look up (all without the network).
fn component_tests() -> String {
    let body = r#"{"event": "contact.created", "email": "ann@example.com"}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SAMPLE_SECRET.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let secret = serde_json::json!({"webhook-secret": {"secret": SAMPLE_SECRET}});
    let request = |signature: &str| serde_json::json!({"method": "POST", "headers": {"x-signature-256": signature}, "body": body});
    let cases = serde_json::json!([
        {
            "name": "a signed webhook starts an execution with its event",
            "node": "webhook",
            "credentials": secret,
            "request": request(&signature),
            "expect": {"items": [{"event": "contact.created", "email": "ann@example.com"}]}
        },
        {
            "name": "a forged webhook is answered 401",
            "node": "webhook",
            "credentials": secret,
            "request": request("sha256=0000"),
            "expect": {"status": 401}
        },
        {
            "name": "an item without an e-mail address is a clear error",
            "node": "lookup",
            "credentials": {"api-key": {"key": "k-test"}},
            "input": [{"name": "Ann"}],
            "expect": {"error_code": "no_email"}
        }
    ]);
    serde_json::to_string_pretty(&cases).expect("JSON serialises") + "\n"
}
