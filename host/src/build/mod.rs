//! `wirework plugin build`: a plugin folder to a signed `.wwpkg`.
//!
//! 1. A Rust crate (`Cargo.toml`) is compiled for `wasm32-unknown-unknown`:
//!    with rustup's target when it is installed, else with Debian's
//!    `rustc-web` and `-Zbuild-std` (the route for machines where rustup
//!    cannot fetch targets; see [`Route`]), and the core module turned into a
//!    component (`wit-component`). A JavaScript plugin (`package.json`, no
//!    `Cargo.toml`) is built by componentize-js from npm ([`js`]) against the
//!    current contract's WIT, which this binary carries.
//! 2. Run its `describe()` in the runtime and check it against `plugin.toml`.
//! 3. Sign manifest and component with the author's key into a package.

mod js;
pub mod plugin_test;
pub mod scaffold;

use crate::home::Home;
use crate::runtime::{check_describe, MemoryKv, Runtime, RuntimeConfig};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use wirework_registry::{Manifest, Package, SecretKey, TrustStore};

/// How to build for wasm32 on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// rustup's toolchain with the `wasm32-unknown-unknown` target installed.
    Rustup,
    /// Debian's `rustc-web`/`cargo-web` (1.96) with `rust-web-src`, building std
    /// for wasm32 with `-Zbuild-std`, linked by `wasm-ld` from `lld`.
    DebianBuildStd {
        /// `/usr/bin/cargo`.
        cargo: PathBuf,
        /// `/usr/bin/rustc`.
        rustc: PathBuf,
        /// `wasm-ld`.
        linker: PathBuf,
    },
    /// A JavaScript plugin, built by componentize-js from npm.
    ComponentizeJs,
}

/// The WIT of every contract this host speaks, by version: a JavaScript
/// plugin is built against its manifest's (this binary may run far from the
/// repository's `wit/`).
const CONTRACT_WITS: &[(&str, &str)] = &[
    ("0.1.0", include_str!("../../../wit/0.1.0/plugin.wit")),
    ("0.2.0", include_str!("../../../wit/0.2.0/plugin.wit")),
    ("0.3.0", include_str!("../../../wit/0.3.0/plugin.wit")),
];

/// The WIT text of contract `version`.
pub(crate) fn contract_wit(version: &str) -> Option<&'static str> {
    CONTRACT_WITS.iter().find(|(v, _)| *v == version).map(|(_, text)| *text)
}

impl Route {
    /// The route that works here. `WIREWORK_WASM_ROUTE=rustup|debian` forces one.
    pub fn detect() -> anyhow::Result<Route> {
        let forced = std::env::var("WIREWORK_WASM_ROUTE").ok();
        let want_rustup = forced.as_deref() != Some("debian");
        let want_debian = forced.as_deref() != Some("rustup");
        if want_rustup && rustup_has_wasm32() {
            return Ok(Route::Rustup);
        }
        let (cargo, rustc) = (PathBuf::from("/usr/bin/cargo"), PathBuf::from("/usr/bin/rustc"));
        let std_sources = Path::new("/usr/lib/rustlib/src/rust/library/std");
        let linker = ["/usr/bin/wasm-ld", "/usr/bin/wasm-ld-14", "/usr/bin/wasm-ld-16", "/usr/bin/wasm-ld-19"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        if want_debian && cargo.exists() && rustc.exists() && std_sources.exists() {
            if let Some(linker) = linker {
                return Ok(Route::DebianBuildStd { cargo, rustc, linker });
            }
        }
        bail!(
            "no way to build for wasm32-unknown-unknown here: either `rustup target add wasm32-unknown-unknown`, \
             or install Debian's route with `scripts/setup` (apt-get install rustc-web cargo-web rust-web-src lld)"
        )
    }

    fn cargo_command(&self) -> Command {
        match self {
            Route::Rustup => {
                let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
                cmd.args(["build", "--release", "--target", "wasm32-unknown-unknown"]);
                cmd
            }
            Route::ComponentizeJs => unreachable!("a JavaScript plugin is not built by cargo"),
            Route::DebianBuildStd { cargo, rustc, linker } => {
                let mut cmd = Command::new(cargo);
                // rustup's variables would point Debian's cargo at the wrong toolchain.
                for var in ["RUSTUP_TOOLCHAIN", "RUSTC_WRAPPER", "LD_LIBRARY_PATH", "CARGO"] {
                    cmd.env_remove(var);
                }
                cmd.env("RUSTC_BOOTSTRAP", "1")
                    .env("RUSTC", rustc)
                    .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker)
                    .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
                    .arg("-Zbuild-std=std,panic_abort");
                cmd
            }
        }
    }
}

fn rustup_has_wasm32() -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot).join("lib/rustlib/wasm32-unknown-unknown/lib").is_dir()
}

/// What to build and where.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The plugin crate: holds `Cargo.toml` and `plugin.toml`.
    pub crate_dir: PathBuf,
    /// The signing key; default: the home's default key, made on first use.
    pub key: Option<PathBuf>,
    /// Where the package goes; default: `<target dir>/wirework/`.
    pub out_dir: Option<PathBuf>,
    /// The cargo target dir for wasm builds, shared by all plugins so std for
    /// wasm32 is built once; default: the home's `wasm-target`.
    pub target_dir: Option<PathBuf>,
    /// Where the describe check keeps compiled components (a JavaScript
    /// plugin's takes most of a minute to compile); default: the home's
    /// artifact cache.
    pub cache_dir: Option<PathBuf>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The signed package.
    pub package: PathBuf,
    /// The route used.
    pub route: Route,
    /// The manifest.
    pub manifest: Manifest,
    /// Size of the component in bytes.
    pub component_bytes: usize,
}

/// Build, check and sign a plugin crate. Progress goes to stderr.
pub async fn build_plugin(home: &Home, options: &BuildOptions) -> anyhow::Result<BuildOutput> {
    let crate_dir =
        options.crate_dir.canonicalize().with_context(|| format!("plugin crate {}", options.crate_dir.display()))?;
    let manifest_path = crate_dir.join("plugin.toml");
    let manifest_text =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&manifest_text).with_context(|| manifest_path.display().to_string())?;

    let target_dir = options.target_dir.clone().unwrap_or_else(|| home.wasm_target_dir());
    let is_js = crate_dir.join("package.json").exists() && !crate_dir.join("Cargo.toml").exists();
    let (route, component) = if is_js {
        let version = manifest.plugin.wit.to_string();
        let version = version.as_str();
        let wit = contract_wit(version).with_context(|| format!("no WIT for contract {version}"))?;
        let wit_dir = target_dir.join("wit").join(version);
        std::fs::create_dir_all(&wit_dir).with_context(|| format!("creating {}", wit_dir.display()))?;
        std::fs::write(wit_dir.join("plugin.wit"), wit)?;
        (Route::ComponentizeJs, js::build_js_component(&crate_dir, &wit_dir, "plugin")?)
    } else {
        let route = Route::detect()?;
        let module_path = compile_wasm(&route, &crate_dir, &target_dir)?;
        let module = std::fs::read(&module_path).with_context(|| format!("reading {}", module_path.display()))?;
        let component = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(&module)
            .and_then(|mut encoder| encoder.encode())
            .with_context(|| {
                format!("turning {} into a component (is the crate using wirework-sdk?)", module_path.display())
            })?;
        (route, component)
    };

    let cache_dir = options.cache_dir.clone().unwrap_or_else(|| home.artifact_cache_dir());
    let config = RuntimeConfig { max_instances: 4, cache_dir: Some(cache_dir), ..Default::default() };
    let runtime = Runtime::new(config, Arc::new(MemoryKv::default()))?;
    let nodes = runtime.describe_component(&component, &manifest).await?;
    let problems = check_describe(&manifest, &nodes);
    if !problems.is_empty() {
        bail!("{} and the component's describe() disagree:\n  {}", manifest_path.display(), problems.join("\n  "));
    }

    let key = match &options.key {
        Some(path) => SecretKey::read(path)?,
        None => home.default_key_or_create()?,
    };
    // The author's own tools trust the author's key for this publisher, so the
    // inner loop needs no extra step while tampering is still caught.
    let trust_path = home.trust_store_path();
    if TrustStore::add_to_file(&trust_path, manifest.publisher(), key.public())? {
        eprintln!(
            "trusting key {} for publisher `{}` in {}",
            key.public().id(),
            manifest.publisher(),
            trust_path.display()
        );
    }

    let component_bytes = component.len();
    let package = Package::sign(&manifest_text, component, &key)?;
    let out_dir = options.out_dir.clone().unwrap_or_else(|| target_dir.join("wirework"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let file_name = format!("{}-{}.wwpkg", manifest.plugin.name.replace('/', "-"), manifest.plugin.version);
    let package_path = out_dir.join(file_name);
    package.write(&package_path)?;
    Ok(BuildOutput { package: package_path, route, manifest, component_bytes })
}

/// Run cargo and return the path of the crate's `.wasm` artifact.
fn compile_wasm(route: &Route, crate_dir: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    let cargo_toml = crate_dir.join("Cargo.toml");
    let mut cmd = route.cargo_command();
    cmd.arg("--manifest-path")
        .arg(&cargo_toml)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--message-format=json-render-diagnostics")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // A workspace wrapper (clippy-driver, as `cargo clippy` or the test
        // command sets it) belongs to the build that runs this one, not to
        // the plugin's.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cmd.output().with_context(|| format!("running cargo for {route:?}"))?;
    if !output.status.success() {
        bail!("cargo build of {} for wasm32 failed ({route:?}); its errors are above", crate_dir.display());
    }
    let wanted = cargo_toml.canonicalize()?;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_ours = message["manifest_path"].as_str().is_some_and(|p| Path::new(p) == wanted);
        let is_cdylib = message["target"]["crate_types"].as_array().is_some_and(|t| t.iter().any(|k| k == "cdylib"));
        if !(is_ours && is_cdylib) {
            continue;
        }
        if let Some(wasm) = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"))
        {
            return Ok(PathBuf::from(wasm));
        }
    }
    bail!("cargo built no .wasm for {}: is its crate-type `cdylib`?", crate_dir.display())
}
