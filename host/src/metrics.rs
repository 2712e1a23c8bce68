//! What the host counts, exposed by the server at `/metrics` in the
//! Prometheus text format (via `prometheus-client`, the Prometheus project's
//! own Rust client, so the exposition format is not hand-rolled).
//!
//! The engine records executions, steps and fuel; the server records webhook
//! latency; gauges (executions in memory, node calls in flight, store flushes) are read when
//! scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `wirework_executions_finished_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExecutionLabels {
    /// `succeeded`, `failed` or `cancelled`.
    pub status: String,
}

/// Labels of step metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `publisher/name@version`.
    pub plugin: String,
    /// The node type.
    pub node: String,
}

/// Labels of fuel metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// `publisher/name@version`.
    pub plugin: String,
}

/// Labels of per-workflow metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkflowLabels {
    /// The workflow's id.
    pub workflow: String,
}

/// Labels of webhook metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// `async` or `sync`.
    pub mode: String,
    /// The HTTP status answered.
    pub code: u16,
}

type SecondsHistogram = Family<StepLabels, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    // Buckets from 50 µs, doubling, up to about 26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// Every metric of one host.
pub struct Metrics {
    registry: Registry,
    /// Executions created.
    pub executions_started: Counter,
    /// Executions that ended, by status.
    pub executions_finished: Family<ExecutionLabels, Counter>,
    /// Node calls' wall time, by plugin and node.
    pub step_duration: SecondsHistogram,
    /// Fuel consumed, by plugin.
    pub fuel: Family<PluginLabels, Counter>,
    /// Fuel consumed, by workflow (the studio's dashboard shows both).
    pub workflow_fuel: Family<WorkflowLabels, Counter>,
    /// Webhook requests' time from arrival to answer, by mode and status.
    pub webhook_duration: Family<WebhookLabels, Histogram, fn() -> Histogram>,
    /// Executions with a driver in memory (running now); set when scraped.
    pub executions_in_memory: Gauge,
    /// Node calls holding an instance slot now; set when scraped.
    pub plugin_calls_in_flight: Gauge,
    /// How long each store flush took (its count: the flushes since start).
    pub store_flush_duration: Histogram,
    /// 1 while the store's latest write failed (see `/readyz`), else 0; set when scraped.
    pub store_write_failing: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `wirework_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wirework");
        let executions_started = Counter::default();
        registry.register("executions_started", "Executions created", executions_started.clone());
        let executions_finished = Family::<ExecutionLabels, Counter>::default();
        registry.register("executions_finished", "Executions that ended, by status", executions_finished.clone());
        let step_duration = SecondsHistogram::new_with_constructor(seconds_histogram as fn() -> Histogram);
        registry.register("step_duration_seconds", "Node calls' wall time", step_duration.clone());
        let fuel = Family::<PluginLabels, Counter>::default();
        registry.register("fuel_consumed", "Fuel consumed by node calls, by plugin", fuel.clone());
        let workflow_fuel = Family::<WorkflowLabels, Counter>::default();
        registry.register("workflow_fuel_consumed", "Fuel consumed by node calls, by workflow", workflow_fuel.clone());
        let webhook_duration = Family::<WebhookLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "webhook_duration_seconds",
            "Webhook requests from arrival to answer",
            webhook_duration.clone(),
        );
        let executions_in_memory = Gauge::default();
        registry.register(
            "executions_in_memory",
            "Executions running now (queue depth of the engine)",
            executions_in_memory.clone(),
        );
        let plugin_calls_in_flight = Gauge::default();
        registry.register(
            "plugin_calls_in_flight",
            "Node calls holding an instance slot",
            plugin_calls_in_flight.clone(),
        );
        let store_flush_duration = seconds_histogram();
        registry.register(
            "store_flush_seconds",
            "Time each store flush took to make writes durable (mostly the disk's fsync)",
            store_flush_duration.clone(),
        );
        let store_write_failing = Gauge::default();
        registry.register(
            "store_write_failing",
            "1 while the store's latest write failed (webhooks answer 500, /readyz 503), else 0",
            store_write_failing.clone(),
        );
        Metrics {
            registry,
            executions_started,
            executions_finished,
            step_duration,
            fuel,
            workflow_fuel,
            webhook_duration,
            executions_in_memory,
            plugin_calls_in_flight,
            store_flush_duration,
            store_write_failing,
        }
    }

    /// An execution ended with `status` (`succeeded`, `failed`, `cancelled`).
    pub fn record_finished(&self, status: &str) {
        self.executions_finished.get_or_create(&ExecutionLabels { status: status.to_string() }).inc();
    }

    /// A node call of `plugin` (`publisher/name@version`) in `workflow` finished.
    pub fn record_step(&self, workflow: &str, plugin: &str, node: &str, duration_us: u64, fuel: u64) {
        let labels = StepLabels { plugin: plugin.to_string(), node: node.to_string() };
        self.step_duration.get_or_create(&labels).observe(duration_us as f64 / 1e6);
        self.fuel.get_or_create(&PluginLabels { plugin: labels.plugin }).inc_by(fuel);
        self.workflow_fuel.get_or_create(&WorkflowLabels { workflow: workflow.to_string() }).inc_by(fuel);
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}
