//! JavaScript plugins: a folder with `package.json`, `package-lock.json` and
//! `plugin.toml` to a component, with `componentize-js` from npm.
//!
//! componentize-js (`@bytecodealliance/componentize-js`, a devDependency of
//! the plugin) carries its JS engine, StarlingMonkey, as a wasm file inside
//! the npm package, and pre-initialises it with the plugin's source by
//! `wizer` (also from npm): a build needs Node.js and the packages, nothing
//! else, and no network once `node_modules` is installed.
//!
//! 1. `npm ci` when `node_modules` is missing or was installed from another
//!    `package-lock.json` (a stamp file in `node_modules` records which).
//! 2. A small node script ([`COMPONENTIZE_SCRIPT`]) calls `componentize()`
//!    with the WIT folder, the world and the source (`package.json`'s `main`,
//!    else `src/plugin.js`), every WASI-backed engine feature disabled, and
//!    writes the component to a temporary file, which is read back.

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The source file when `package.json` names no `main`.
const DEFAULT_SOURCE: &str = "src/plugin.js";

/// The npm package that builds the component.
const COMPONENTIZE_PACKAGE: &str = "@bytecodealliance/componentize-js";

/// Where, under `node_modules`, the stamp of the last `npm ci` lives: the
/// SHA-256 of the `package-lock.json` it installed.
const NPM_STAMP: &str = ".wirework-npm-ci";

/// componentize-js's engine features, all turned off: each would make the
/// component import WASI (`stdio`: wasi:cli and wasi:io for `console` and
/// error output; `random`: wasi:random; `clocks`: wasi:clocks, for timers and
/// the time; `http` and `fetch-event`: wasi:http), which the host links with
/// nothing in it (wasi:http not at all). Without them the component imports
/// only `wirework:plugin/host` and its types. `crypto.subtle`, `TextEncoder`,
/// `URL`, `JSON` and promises still work; `console` writes nowhere (the
/// host's `log` does), `Date.now()` is the build's time (`now-unix-ms` is
/// the host's), `Math.random` is deterministic and timers trap.
const DISABLED_FEATURES: &[&str] = &["stdio", "random", "clocks", "http", "fetch-event"];

/// The node script that runs componentize-js, as an ES module (`node
/// --input-type=module -e`, so bare imports resolve from the plugin folder,
/// its working directory). Arguments: source, WIT folder, world, output file,
/// disabled features (comma-separated). Exit status 3: componentize-js itself
/// is not installed.
const COMPONENTIZE_SCRIPT: &str = r#"
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
const [sourcePath, witPath, worldName, out, disabled] = process.argv.slice(1);
let componentize, version;
try {
  ({ componentize, version } = await import('@bytecodealliance/componentize-js'));
} catch (e) {
  console.error(`cannot load @bytecodealliance/componentize-js: ${e.message}`);
  process.exit(e.message.includes("'@bytecodealliance/componentize-js'") ? 3 : 1);
}
console.error(`version ${version}, node ${process.versions.node}`);
const sourceName = relative(process.cwd(), sourcePath);
try {
  const { component } = await componentize({
    sourcePath,
    sourceName,
    witPath,
    worldName,
    disableFeatures: disabled ? disabled.split(',') : [],
  });
  writeFileSync(out, component);
} catch (e) {
  let message = e?.message ?? String(e);
  if (message.startsWith('failed to parse JS source')) {
    // componentize-js says no more; node's own parser says where.
    const check = spawnSync(process.execPath, ['--input-type=module', '--check'], {
      input: readFileSync(sourcePath),
      encoding: 'utf8',
    });
    const lines = (check.stderr ?? '').split('\n');
    const error = lines.find((l) => /^[A-Za-z]*Error:/.test(l));
    if (error) message += `\n${lines.slice(0, 3).filter(Boolean).join('\n').replace('[stdin]', sourceName)}\n${error}`;
  }
  console.error(message);
  process.exit(1);
}
"#;

/// Build the JavaScript plugin in `plugin_dir` into a component of `world`
/// in the WIT folder `wit_dir` (for instance `wit/0.2.0` and `plugin`), and
/// return the component's bytes. Progress goes to stderr.
///
/// Needs `node` (18 or later) and `npm` on `PATH`; runs `npm ci` first when
/// `node_modules` is missing or stale, which needs the npm registry (or
/// npm's cache).
pub(crate) fn build_js_component(plugin_dir: &Path, wit_dir: &Path, world: &str) -> anyhow::Result<Vec<u8>> {
    let plugin_dir =
        plugin_dir.canonicalize().with_context(|| format!("JavaScript plugin folder {}", plugin_dir.display()))?;
    let wit_dir = wit_dir.canonicalize().with_context(|| format!("WIT folder {}", wit_dir.display()))?;
    let node_version = tool_version("node")?;
    let major = node_version.trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 18) {
        bail!("node {node_version} is too old for componentize-js: install Node.js 18 or later");
    }
    let source = source_path(&plugin_dir)?;
    ensure_node_modules(&plugin_dir)?;

    eprintln!(
        "componentize-js: building {} against {} (world `{world}`)",
        source.strip_prefix(&plugin_dir).unwrap_or(&source).display(),
        wit_dir.display()
    );
    let started = Instant::now();
    let out = std::env::temp_dir().join(format!("wirework-js-{}-{}.wasm", std::process::id(), unique_suffix()));
    let component = componentize(&plugin_dir, &source, &wit_dir, world, &out);
    let _ = std::fs::remove_file(&out);
    let component = component?;
    eprintln!(
        "componentize-js: built {} ({:.1} MiB) in {:.1} s",
        source.file_name().unwrap_or_default().to_string_lossy(),
        component.len() as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    Ok(component)
}

/// Run [`COMPONENTIZE_SCRIPT`] in `plugin_dir`, writing the component to
/// `out`, and read it back; the script's messages go to stderr.
fn componentize(plugin_dir: &Path, source: &Path, wit_dir: &Path, world: &str, out: &Path) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("node")
        .current_dir(plugin_dir)
        .args(["--input-type=module", "-e", COMPONENTIZE_SCRIPT, "--"])
        .arg(source)
        .arg(wit_dir)
        .arg(world)
        .arg(out)
        .arg(DISABLED_FEATURES.join(","))
        .stdin(Stdio::null())
        .output()
        .context("running node for componentize-js")?;
    let log = console_text(&output);
    if output.status.code() == Some(3) {
        bail!(
            "{COMPONENTIZE_PACKAGE} is not installed in {}: add it with `npm install --save-dev --save-exact \
             {COMPONENTIZE_PACKAGE}` and commit package-lock.json\n{log}",
            plugin_dir.display()
        );
    }
    if !output.status.success() {
        // componentize-js 0.23 loads its WIT parser with preview2-shim, which
        // it does not declare as a dependency; 0.26's shim shows it no files.
        let hint =
            if log.contains("Cannot find package '@bytecodealliance/preview2-shim'") || log.contains("(os error 44)") {
                "\n(componentize-js needs @bytecodealliance/preview2-shim 0.25 beside it: \
             `npm install --save-dev --save-exact @bytecodealliance/preview2-shim@0.25.0`)"
            } else {
                ""
            };
        bail!("componentize-js could not build {}:\n{log}{hint}", source.display());
    }
    if !log.is_empty() {
        eprintln!("componentize-js: {}", log.replace('\n', "\ncomponentize-js: "));
    }
    std::fs::read(out).with_context(|| format!("reading the component componentize-js wrote to {}", out.display()))
}

/// The plugin's entry module: `package.json`'s `main`, else [`DEFAULT_SOURCE`].
fn source_path(plugin_dir: &Path) -> anyhow::Result<PathBuf> {
    let package_json = plugin_dir.join("package.json");
    let text = std::fs::read_to_string(&package_json)
        .with_context(|| format!("reading {} (a JavaScript plugin needs one)", package_json.display()))?;
    let package: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", package_json.display()))?;
    let main = package["main"].as_str().unwrap_or(DEFAULT_SOURCE);
    let source = plugin_dir.join(main);
    if !source.is_file() {
        bail!(
            "{} has no entry module {main}: write the plugin there, or name its file in package.json's `main`",
            plugin_dir.display()
        );
    }
    Ok(source)
}

/// Run `npm ci` unless `node_modules` was installed by it from this very
/// `package-lock.json`; afterwards record the lock file's hash in the stamp.
/// (A `node_modules` from `npm install` has no stamp and is installed again,
/// once.)
pub(crate) fn ensure_node_modules(plugin_dir: &Path) -> anyhow::Result<()> {
    let lock_path = plugin_dir.join("package-lock.json");
    let lock = std::fs::read(&lock_path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; run `npm install` in {} once and commit package-lock.json, so builds install exactly \
             the same packages",
            lock_path.display(),
            plugin_dir.display()
        )
    })?;
    let want = hex::encode(Sha256::digest(&lock));
    let node_modules = plugin_dir.join("node_modules");
    let stamp = node_modules.join(NPM_STAMP);
    let have = std::fs::read_to_string(&stamp).ok();
    let installed = node_modules.join(COMPONENTIZE_PACKAGE).join("package.json").is_file();
    if installed && have.as_deref().map(str::trim) == Some(want.as_str()) {
        return Ok(());
    }
    let why = if node_modules.is_dir() { "stale" } else { "missing" };
    let npm_version = tool_version("npm")?;
    eprintln!("componentize-js: node_modules {why}: npm {npm_version} ci in {}", plugin_dir.display());
    // npm's output goes to stderr: stdout is the caller's (the package path).
    let status = Command::new("npm")
        .current_dir(plugin_dir)
        .args(["ci", "--no-audit", "--no-fund"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .context("running npm ci")?;
    if !status.success() {
        bail!(
            "`npm ci` failed in {} ({status}; its output is above): is the npm registry reachable, and does \
             package-lock.json agree with package.json (`npm install` updates it)?",
            plugin_dir.display()
        );
    }
    if !node_modules.join(COMPONENTIZE_PACKAGE).join("package.json").is_file() {
        bail!(
            "{} does not depend on {COMPONENTIZE_PACKAGE}: add it with `npm install --save-dev --save-exact \
             {COMPONENTIZE_PACKAGE}`",
            plugin_dir.join("package.json").display()
        );
    }
    std::fs::write(&stamp, &want).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

/// `TOOL --version`, or an error naming what to install.
fn tool_version(tool: &str) -> anyhow::Result<String> {
    let output = Command::new(tool).arg("--version").stdin(Stdio::null()).output();
    match output {
        Ok(output) if output.status.success() => Ok(String::from_utf8_lossy(&output.stdout).trim().to_string()),
        Ok(output) => bail!("`{tool} --version` failed: {}", console_text(&output)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{tool}` is not on PATH: JavaScript plugins need Node.js 18 or later with npm \
             (Debian: `apt-get install nodejs npm`; or https://nodejs.org)"
        ),
        Err(e) => Err(e).with_context(|| format!("running `{tool} --version`")),
    }
}

/// A child's stdout and stderr, trimmed, as one text.
fn console_text(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stderr.trim());
    }
    text
}

/// Nanoseconds since the epoch: with the process id, a name no other build uses.
fn unique_suffix() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}
