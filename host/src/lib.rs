//! The Wirework host.
//!
//! - [`runtime`]: wasmtime, the plugin sandbox, host imports and capabilities.
//! - [`build`]: `wirework plugin build`, from a plugin crate to a signed package.
//! - [`cli`]: the `wirework` command line.
//! - [`home`]: keys, trust store and caches of the user running the CLI.
//! - [`store`]: persistence (sled) behind a narrow trait, with group commit.
//! - [`engine`]: workflows: model, validation, expressions, durable execution.
//! - [`plugins`]: installed plugin versions, the engine's way into the runtime,
//!   and [`plugins::PluginManager`], the one place that changes them.
//! - [`data_dir`]: a data directory's layout, written down once.
//! - [`dto`]: the management API's bodies, shared by the server and the CLI's client.
//! - [`instance`]: store, runtime, plugins and engine on one data directory.
//! - [`server`]: `wirework serve`: webhooks, schedules, the management API, metrics.
//! - [`metrics`]: what the host counts, for `/metrics`.
//!
//! Why these dependencies: `wasmtime`/`wasmtime-wasi` run components;
//! `wit-component` turns wasm32 modules into components; `reqwest` makes the
//! plugins' outbound HTTP calls (rustls, no system OpenSSL); `tokio` drives all
//! of it; `clap` parses the command line; `tracing` logs; `wirework-registry`
//! holds the package format and signatures shared with the registry; `sled`
//! is the embedded store; `jsonschema` checks node configuration at deploy;
//! `serde_json_path` evaluates expressions (JSONPath, RFC 9535: reads data,
//! runs no code); `serde_yaml_ng` reads YAML workflows (the maintained fork of
//! `serde_yaml`); `uuid` makes time-ordered execution ids; `rand` jitters retries; `axum` serves
//! HTTP; `croner` + `chrono-tz` compute cron schedules in IANA time zones;
//! `chacha20poly1305` encrypts credentials at rest; `prometheus-client` writes
//! `/metrics`.

#![deny(missing_docs)]

pub mod build;
pub mod cli;
pub mod data_dir;
pub mod dto;
pub mod engine;
pub mod home;
pub mod instance;
pub mod metrics;
pub mod plugins;
pub mod runtime;
pub mod server;
pub mod store;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The top-level modules each module's code uses (`crate::x`), from the
    /// sources, comments and test modules left out.
    fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut files = vec![src.clone()];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") || path.ends_with("lib.rs") || path.ends_with("main.rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let module = relative.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let uses = graph.entry(module.clone()).or_default();
            for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
                for part in line.split("crate::").skip(1) {
                    let used: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !used.is_empty() && used != module {
                        uses.insert(used);
                    }
                }
                // `use crate::{a, b::c}`
                if let Some(group) = line.strip_prefix("use crate::{") {
                    for item in group.split(',') {
                        let used = item.trim().split("::").next().unwrap_or_default().trim_matches('}').to_string();
                        if !used.is_empty() && used != module {
                            uses.insert(used);
                        }
                    }
                }
            }
        }
        graph
    }

    /// Data flows one way (trigger -> engine -> runtime -> plugin -> engine
    /// -> store): no module uses one that uses it back, directly or not.
    #[test]
    fn modules_form_layers_without_cycles() {
        let graph = module_graph();
        assert!(graph.len() >= 10, "the sources were not found: {graph:?}");
        // Depth-first search for a back edge, reporting the cycle it closes.
        fn visit<'a>(
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            module: &'a str,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(at) = path.iter().position(|m| *m == module) {
                panic!("import cycle: {} -> {module}", path[at..].join(" -> "));
            }
            if !done.insert(module) {
                return;
            }
            path.push(module);
            for used in graph.get(module).into_iter().flatten() {
                visit(graph, used, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for module in graph.keys() {
            visit(&graph, module, &mut Vec::new(), &mut done);
        }
        // The lowest layers use nothing above them.
        for (low, forbidden) in [
            ("runtime", &["engine", "plugins", "server", "store"][..]),
            ("store", &["engine", "plugins", "server"][..]),
        ] {
            let uses = &graph[low];
            assert!(forbidden.iter().all(|f| !uses.contains(*f)), "{low} uses {uses:?}");
        }
    }
}
