//! The host's integration tests, in one test binary: each links the whole
//! host (wasmtime, cranelift, the server), so one binary links once where a
//! binary per file linked a dozen times. Each module was a test binary of its
//! own; `common` is what they share.
//!
//! The tests share one process, and run in parallel: none sets environment
//! variables, changes the current directory or installs a global subscriber
//! or signal handler; each opens its data directories, caches, servers and
//! ports fresh; and the fixtures' home (`common::fixtures().home`) is only
//! read, a test that changes a home taking one of its own
//! (`common::Fixtures::fresh_home`; every `common::server::serve` server
//! has one). Keep it so: a test's outcome must not depend on which others
//! ran before or beside it.

mod common;
mod fakes;

mod batches;
mod cli;
mod code_node;
mod compensation;
mod contracts;
mod core_nodes;
mod crash;
mod credentials;
mod decision_tables;
mod docs;
mod engine;
mod event_window;
mod events;
mod examples;
mod expressions;
mod flows;
mod http_node;
mod js_plugin;
mod packages;
mod platform;
mod plugin_crm;
mod plugin_email;
mod plugin_slack;
mod plugin_sms;
mod plugin_stripe;
mod registry;
mod sandbox;
mod serve_process;
mod server;
mod studio;
mod subworkflows;
mod test_runs;
