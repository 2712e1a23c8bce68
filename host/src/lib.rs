//! The Wirework host.
//!
//! - [`runtime`]: wasmtime, the plugin sandbox, host imports and capabilities.
//! - [`build`]: `wirework plugin build`, from a plugin crate to a signed package.
//! - [`cli`]: the `wirework` command line.
//! - [`home`]: keys, trust store and caches of the user running the CLI.
//!
//! Why these dependencies: `wasmtime`/`wasmtime-wasi` run components;
//! `wit-component` turns wasm32 modules into components; `reqwest` makes the
//! plugins' outbound HTTP calls (rustls, no system OpenSSL); `tokio` drives all
//! of it; `clap` parses the command line; `tracing` logs; `wirework-registry`
//! holds the package format and signatures shared with the registry.

#![deny(missing_docs)]

pub mod build;
pub mod cli;
pub mod home;
pub mod runtime;
