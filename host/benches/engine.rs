//! Durable executions per second against bare node invocations.
//!
//! `cargo bench -p wirework --bench engine` builds the first-party `core`
//! plugin from source and, in the same run, measures:
//!
//! - **bare**: the five node calls of the workflow below, made directly with
//!   `Runtime::invoke` (no engine, no store), by as many concurrent callers
//!   as the engine run has executions in flight: invocations per second.
//! - **engine**: executions of a five-node workflow of core nodes
//!   (`set -> if -> set -> filter -> noop`) on the sled store, every step
//!   persisted (input, output, fuel, duration) with group commit, each
//!   execution started durably and awaited: executions per second.
//!
//! It prints both, the engine's cost per step, and its overhead per step as a
//! multiple of a bare invocation. Targets on a 2-core machine: at least 2,000
//! executions per second, and overhead per step at most 3x a bare invocation.
//! Figures, not assertions. `WIREWORK_BENCH_SECONDS` sets the time per
//! measurement (default 5), `WIREWORK_BENCH_CONCURRENCY` the executions in
//! flight (default 128).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use wirework::engine::{Engine, EngineConfig, MemoryCredentials, Status};
use wirework::plugins::InstalledPlugins;
use wirework::runtime::{Grants, Invocation, Outcome, Runtime, RuntimeConfig};
use wirework::store::{Store, StoreKv};
use wirework_registry::{Package, TrustStore};

const WORKFLOW: &str = r#"
id: bench
triggers: [{id: go, type: manual}]
nodes:
  - {id: tag, uses: wirework/core@^0.1, node: set, config: {fields: {tag: engaged, stage: nurture}}}
  - {id: check, uses: wirework/core@^0.1, node: if, config: {condition: {field: score, op: gte, value: 50}}}
  - {id: hot, uses: wirework/core@^0.1, node: set, config: {fields: {priority: high}}}
  - {id: keep, uses: wirework/core@^0.1, node: filter, config: {condition: {field: email, op: ends_with, value: "@example.com"}}}
  - {id: end, uses: wirework/core@^0.1, node: noop}
connections:
  - {from: go, to: tag}
  - {from: tag, to: check}
  - {from: "check:true", to: hot}
  - {from: hot, to: keep}
  - {from: keep, to: end}
"#;

/// The calls the workflow makes, node and config, in order.
const CALLS: [(&str, &str); 5] = [
    ("set", r#"{"fields": {"tag": "engaged", "stage": "nurture"}}"#),
    ("if", r#"{"condition": {"field": "score", "op": "gte", "value": 50}}"#),
    ("set", r#"{"fields": {"priority": "high"}}"#),
    ("filter", r#"{"condition": {"field": "email", "op": "ends_with", "value": "@example.com"}}"#),
    ("noop", "{}"),
];

const ITEM: &str = r#"{"email": "ann@example.com", "name": "Ann", "score": 70}"#;

fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let seconds: f64 = std::env::var("WIREWORK_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let concurrency: usize =
        std::env::var("WIREWORK_BENCH_CONCURRENCY").ok().and_then(|s| s.parse().ok()).unwrap_or(128);
    let period = Duration::from_secs_f64(seconds);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let built = support::build_core(&rt)?;
    let home = &built.home;
    let trust = TrustStore::load(&home.trust_store_path())?;

    let data = tempfile::tempdir()?;
    let store = Store::open_sled(data.path())?;
    let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(StoreKv::new(store.clone())))?;
    let plugin = rt.block_on(runtime.load(Package::read(&built.package)?, &trust, &Grants::default()))?;
    let bare_plugin =
        Arc::new(rt.block_on(runtime.load(Package::read(&built.package)?, &trust, &Grants::default()))?);
    let plugins = Arc::new(InstalledPlugins::new(runtime.clone(), 1000));
    plugins.add(plugin);

    // Bare: the same five calls, `concurrency` callers at once.
    let bare = rt.block_on(async {
        let stop = Instant::now() + period;
        let callers = (0..concurrency).map(|_| {
            let (runtime, plugin) = (runtime.clone(), bare_plugin.clone());
            tokio::spawn(async move {
                let mut calls = 0u64;
                while Instant::now() < stop {
                    for (node, config) in CALLS {
                        let invocation = Invocation {
                            node: node.into(),
                            config: config.into(),
                            items: vec![ITEM.into()],
                            execution_id: "bench".into(),
                            attempt: 1,
                            idempotency_key: "bench:1".into(),
                            ..Default::default()
                        };
                        let report = runtime.invoke(&plugin, invocation).await;
                        assert!(matches!(report.result, Ok(Outcome::Emit { .. })), "{:?}", report.result);
                        calls += 1;
                    }
                }
                calls
            })
        });
        let start = Instant::now();
        let mut calls = 0;
        for caller in callers.collect::<Vec<_>>() {
            calls += caller.await.expect("a bare caller");
        }
        calls as f64 / start.elapsed().as_secs_f64()
    });

    // Engine: executions started durably and awaited, `concurrency` at once.
    let (executions, steps_checked) = rt.block_on(async {
        let engine =
            Engine::open(store.clone(), plugins, Arc::new(MemoryCredentials::default()), EngineConfig::default())
                .await?;
        engine.deploy_text(WORKFLOW).await?;
        let item: serde_json::Value = serde_json::from_str(ITEM)?;
        let stop = Instant::now() + period;
        let clients = (0..concurrency).map(|_| {
            let (engine, item) = (engine.clone(), item.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                while Instant::now() < stop {
                    let id = engine.start("bench", None, vec![item.clone()]).await?;
                    let status = engine.wait_settled(&id).await?;
                    anyhow::ensure!(status == Status::Succeeded, "execution {id} ended {status:?}");
                    done.push(id);
                }
                Ok::<_, anyhow::Error>(done)
            })
        });
        let start = Instant::now();
        let before = store.commit_stats();
        let mut ids = Vec::new();
        for client in clients.collect::<Vec<_>>() {
            ids.extend(client.await??);
        }
        let rate = ids.len() as f64 / start.elapsed().as_secs_f64();
        let after = store.commit_stats();
        let flushes = (after.flushes - before.flushes).max(1);
        println!(
            "  group commit: {flushes} flushes, {:.1} commits each, {:.2} ms per flush",
            (after.waiters - before.waiters) as f64 / flushes as f64,
            (after.flush_micros - before.flush_micros) as f64 / flushes as f64 / 1000.0
        );
        // Every step of a sample really was persisted.
        let sample = &ids[ids.len() / 2];
        let steps = engine.steps(sample)?;
        anyhow::ensure!(steps.len() == 5, "execution {sample} recorded {} steps", steps.len());
        let record_bytes = serde_json::to_vec(&engine.execution(sample)?)?.len();
        let step_bytes: usize = steps.iter().map(|s| serde_json::to_vec(s).map(|v| v.len()).unwrap_or(0)).sum();
        // (An execution that finished in its first commit keeps its steps in its record.)
        println!("  stored per execution: record {record_bytes} bytes and its 5 steps {step_bytes} bytes");
        Ok::<_, anyhow::Error>((rate, ids.len()))
    })?;

    let bare_us = 1e6 / bare;
    let step_us = 1e6 / (executions * 5.0);
    let overhead = (step_us - bare_us).max(0.0) / bare_us;
    println!("engine benchmark: 5-node workflow of core nodes, {concurrency} in flight, 2 worker threads");
    println!("  bare Runtime::invoke           {bare:>9.0} invocations/s   {bare_us:>7.1} µs each (wall, all cores)");
    println!(
        "  durable executions             {executions:>9.0} executions/s    ({steps_checked} executions, 5 steps each)"
    );
    println!("  engine cost per step           {step_us:>9.1} µs (wall, all cores)");
    println!("  engine overhead per step       {:>9.1} µs = {overhead:.2}x a bare invocation", step_us - bare_us);
    println!(
        "  targets: >= 2000 executions/s ({}), overhead <= 3x ({})",
        if executions >= 2000.0 { "met" } else { "NOT met" },
        if overhead <= 3.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
