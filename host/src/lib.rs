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
pub mod engine;
pub mod home;
pub mod instance;
pub mod metrics;
pub mod plugins;
pub mod runtime;
pub mod server;
pub mod store;
