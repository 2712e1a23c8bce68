//! Runs one execution: launches ready steps (concurrently when independent),
//! records each finished step with the execution's new state in one atomic
//! batch, waits for that batch to be durable, then launches what it enabled.
//!
//! One driver task per execution in memory; everything that changes an
//! execution (timers, events, retry, cancel) reaches it as a [`Wake`] through
//! its channel, so there is one writer per execution.

use super::bindings;
use super::expr::{Root, Scope};
use super::outbox::{self, Action};
use super::records::{
    keys, Activation, BatchState, Compensable, CompensationReport, CompensationStep, ExecState, ExecutionError,
    ExecutionRecord, ParentLink, Parked, Resume, Status, StepOutcome, StepRecord,
};
use super::validate::{Plan, PlanCall, PlanNode, Source};
use super::{decode, encode, now_ms, EngineError, Inner};
use crate::runtime::{Invocation, Json, LogLine, NodeFailure, Outcome};
use crate::store::Batch;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Where the answer to a retry or cancel goes.
type Reply = oneshot::Sender<Result<(), EngineError>>;

/// Something that happens to an execution from outside its driver.
pub(crate) enum Wake {
    /// A timer is due (its key, to delete).
    Timer { step: u64, key: Vec<u8> },
    /// An awaited event arrived.
    Event { step: u64, event: String, payload: Json },
    /// Retry from the failed step.
    Retry { reply: Reply },
    /// Stop.
    Cancel { reply: Reply },
}

/// Hand `wake` to the execution's driver, starting one if none is in memory.
pub(crate) fn ensure_driver(inner: &Arc<Inner>, id: &str, wake: Option<Wake>) {
    let mut drivers = inner.drivers.lock();
    if let Some(tx) = drivers.get(id) {
        match wake {
            None => return,
            Some(wake) => match tx.send(wake) {
                Ok(()) => return,
                // The driver is gone without deregistering (it panicked): replace it.
                Err(mpsc::error::SendError(wake)) => return spawn(inner, &mut drivers, id, Some(wake), None),
            },
        }
    }
    spawn(inner, &mut drivers, id, wake, None);
}

/// A new execution not yet in the store: its first writes, committed with
/// the driver's first durable commit, and who to tell when they are durable.
pub(crate) struct PendingStart {
    pub writes: Batch,
    pub durable: oneshot::Sender<()>,
    /// Steps taken before the execution existed (a webhook trigger's call).
    pub steps: Vec<StepRecord>,
}

/// Start the driver of an execution just created (its record in hand);
/// with `pending`, its record is not stored yet (see [`PendingStart`]).
pub(crate) fn start_driver(inner: &Arc<Inner>, record: ExecutionRecord, pending: Option<PendingStart>) {
    let mut drivers = inner.drivers.lock();
    let id = record.id.clone();
    spawn(inner, &mut drivers, &id, None, Some((record, pending)));
}

fn spawn(
    inner: &Arc<Inner>,
    drivers: &mut HashMap<String, mpsc::UnboundedSender<Wake>>,
    id: &str,
    wake: Option<Wake>,
    record: Option<(ExecutionRecord, Option<PendingStart>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    if let Some(wake) = wake {
        let _ = tx.send(wake);
    }
    drivers.insert(id.to_string(), tx);
    let (inner, id) = (inner.clone(), id.to_string());
    tokio::spawn(async move {
        let driver_id = id.clone();
        let failed = drive(inner.clone(), id, rx, record).await.is_err_and(|e| {
            tracing::error!(execution = %driver_id, "driver stopped: {e:#}");
            true
        });
        if failed {
            // The store failed under this execution: it stays as last
            // committed (continued at the next open). Timers it had taken
            // are handed out again; whoever waits on it is told.
            inner.fired.lock().retain(|key| keys::parse_timer(key).is_none_or(|(_, id, _)| id != driver_id));
            inner.watchers.lock().remove(&driver_id);
        }
        // Normally the driver deregisters itself. Remove the entry only if it
        // is still this driver's (its receiver is gone, so its sender is
        // closed): a new driver may have registered since.
        {
            let mut drivers = inner.drivers.lock();
            if drivers.get(&driver_id).is_some_and(|tx| tx.is_closed()) {
                drivers.remove(&driver_id);
            }
        }
    });
}

/// Moves items along a plan's edges inside one execution's state.
pub(crate) struct Router<'a> {
    pub plan: &'a Plan,
    pub state: &'a mut ExecState,
}

impl Router<'_> {
    /// Deliver what `source` emitted (port, items) along its edges. A node
    /// whose every forward input has arrived becomes ready, or, with no items
    /// at all, is skipped and passes the silence on.
    pub fn route(&mut self, source: Source, ports: &[(String, Vec<Json>)]) -> Result<(), String> {
        let edges = match source {
            Source::Trigger(t) => &self.plan.trigger_edges[t],
            Source::Node(n) => &self.plan.outgoing[n],
        };
        for &e in edges {
            let edge = &self.plan.edges[e];
            let items: Vec<Json> = ports
                .iter()
                .filter(|(port, _)| *port == edge.port)
                .flat_map(|(_, items)| items.iter().cloned())
                .collect();
            match edge.bound {
                Some(bound) => {
                    if items.is_empty() {
                        continue;
                    }
                    let trips = self.state.loops.entry(e).or_default();
                    *trips += 1;
                    if *trips > bound {
                        let conn = &self.plan.workflow.connections;
                        let c = conn
                            .iter()
                            .find(|c| c.to == self.plan.nodes[edge.to].spec.id && c.max_iterations == Some(bound));
                        let name = c.map(|c| format!("{} -> {}", c.from, c.to)).unwrap_or_default();
                        return Err(format!("the loop through `{name}` exceeded its max_iterations of {bound}"));
                    }
                    self.activate(edge.to, items);
                }
                None => self.settle(edge.to, e, items)?,
            }
        }
        Ok(())
    }

    fn settle(&mut self, to: usize, edge: usize, items: Vec<Json>) -> Result<(), String> {
        let node = &self.plan.nodes[to].spec.id;
        let inbox = self.state.inbox.entry(node.clone()).or_default();
        inbox.entry(edge).or_default().extend(items);
        if !self.plan.incoming[to].iter().all(|e| inbox.contains_key(e)) {
            return Ok(());
        }
        let mut inbox = self.state.inbox.remove(node).unwrap_or_default();
        let items: Vec<Json> =
            self.plan.incoming[to].iter().flat_map(|e| inbox.remove(e).unwrap_or_default()).collect();
        if items.is_empty() {
            self.route(Source::Node(to), &[])
        } else {
            self.activate(to, items);
            Ok(())
        }
    }

    fn activate(&mut self, node: usize, items: Vec<Json>) {
        let step = self.state.next_step;
        self.state.next_step += 1;
        let node = self.plan.nodes[node].spec.id.clone();
        self.state.ready.push(Activation { step, node, items, attempt: 1, resume: None });
    }
}

/// A finished node call, back from its task.
struct StepDone {
    step: u64,
    result: Result<Outcome, NodeFailure>,
    fuel: u64,
    started_ms: u64,
    duration_us: u64,
    logs: Vec<LogLine>,
    denials: Vec<String>,
    /// The execution a calling node's step starts (its id chosen here).
    child: Option<String>,
}

impl StepDone {
    /// A step settled without a plugin call: no fuel, no time.
    fn without_call(step: u64, result: Result<Outcome, NodeFailure>, started_ms: u64, logs: Vec<LogLine>) -> StepDone {
        StepDone { step, result, fuel: 0, started_ms, duration_us: 0, logs, denials: Vec::new(), child: None }
    }
}

struct Driver {
    inner: Arc<Inner>,
    record: ExecutionRecord,
    plan: Arc<Plan>,
    /// Items each node emitted last, for `$node`.
    outputs: HashMap<String, Vec<Json>>,
    /// Whether any expression of the plan reads `$node` (else `outputs` stays empty).
    needs_outputs: bool,
    running: FuturesUnordered<BoxFuture<'static, StepDone>>,
    launched: HashSet<u64>,
    /// Timers to forget once the batch deleting them is durable.
    fired: Vec<Vec<u8>>,
    /// Answers to send once the batch is durable.
    replies: Vec<(Reply, Result<(), EngineError>)>,
    /// Follow-up actions to carry out once the batch holding them is durable.
    outbox: Vec<(Vec<u8>, Action)>,
    new_timer: bool,
    /// Waits subscribed in the batch being written (event, step): once it
    /// is durable, each may take an event kept for it (`kept_events`).
    subscribed: Vec<(String, u64)>,
    /// The record changed outside a step (a failure at launch): commit it.
    changed: bool,
    /// Something was recorded that must be durable before anything else
    /// starts: an effectful step's result, an event subscription.
    must_commit: bool,
    /// Writes of pure steps not yet committed (see [`Driver::commit`]).
    held: Batch,
    /// Step records not yet committed; written together as one chunk.
    steps: Vec<StepRecord>,
    /// The status the store has (`None`: nothing stored yet); `ac/{id}` is
    /// written when it changes.
    stored_status: Option<Status>,
    /// Whoever waits for this new execution to be durable (see [`PendingStart`]).
    pending_start: Option<oneshot::Sender<()>>,
}

/// Pure steps a new execution may run before it is first stored (and its
/// start acknowledged): a short pure prefix (a webhook's `set` and `if`)
/// then costs one commit instead of two.
const PURE_STEPS_BEFORE_START: usize = 8;

/// Run execution `id` until nothing is left to do now: load it, then launch
/// ready steps, apply their results and the wakes that arrive, and commit,
/// until it finishes, waits, or the engine stops.
async fn drive(
    inner: Arc<Inner>,
    id: String,
    mut rx: mpsc::UnboundedReceiver<Wake>,
    record: Option<(ExecutionRecord, Option<PendingStart>)>,
) -> anyhow::Result<()> {
    let (record, pending) = match record {
        Some(loaded) => loaded,
        None => match inner.store.get(&keys::execution(&id))? {
            Some(bytes) => (decode(&bytes, "execution")?, None),
            None => {
                let mut batch = Batch::default();
                batch.delete(keys::active(&id));
                inner.store.commit(batch).await?;
                return answer_missing(&inner, &id, &mut rx).await;
            }
        },
    };
    let stored_status = if pending.is_some() { None } else { Some(record.status) };
    let (held, pending_start, first_steps) = match pending {
        Some(PendingStart { writes, durable, steps }) => (writes, Some(durable), steps),
        None => (Batch::default(), None, Vec::new()),
    };
    let plan = match runnable_plan(&inner, &record) {
        Ok(plan) => plan,
        Err(message) => {
            let start = Unrunnable { held, stored_status, pending_start };
            fail_unrunnable(&inner, record, message, start).await?;
            return answer_missing(&inner, &id, &mut rx).await;
        }
    };
    let mut driver = Driver::new(inner, record, plan, held, stored_status, pending_start)?;
    driver.steps = first_steps;
    driver.run(&id, rx).await
}

/// The plan of `record`'s version, if its stored state names only nodes of
/// it (else this engine did not write it). Checked once, so lookups while
/// driving cannot fail.
fn runnable_plan(inner: &Inner, record: &ExecutionRecord) -> Result<Arc<Plan>, String> {
    let plan = inner.plan(&record.workflow_id, record.workflow_version)?;
    let state = &record.state;
    let named = state.ready.iter().chain(state.parked.iter().map(|p| &p.activation)).chain(&state.failed);
    match named.map(|a| &a.node).chain(state.inbox.keys()).find(|n| !plan.node_index.contains_key(*n)) {
        Some(node) => Err(format!("the stored state names node `{node}`, which this workflow version does not have")),
        None => Ok(plan),
    }
}

/// A new execution's start that its driver has not committed yet.
struct Unrunnable {
    /// Its own writes (idempotency answer, schedule slot).
    held: Batch,
    stored_status: Option<Status>,
    pending_start: Option<oneshot::Sender<()>>,
}

/// Tell the listeners of [`Engine::changes`](super::Engine::changes) the
/// status `record` was just committed with (nobody listening costs a check).
pub(crate) fn announce(inner: &Inner, record: &ExecutionRecord) {
    if inner.changes.receiver_count() == 0 {
        return;
    }
    let _ = inner.changes.send(super::ExecutionChange {
        id: record.id.clone(),
        workflow_id: record.workflow_id.clone(),
        workflow_version: record.workflow_version,
        status: record.status,
        created_ms: record.created_ms,
        finished_ms: record.finished_ms,
    });
}

/// Fail an execution whose version cannot run (a pinned plugin was
/// removed) visibly, with its start's own writes.
async fn fail_unrunnable(
    inner: &Arc<Inner>,
    mut record: ExecutionRecord,
    message: String,
    start: Unrunnable,
) -> anyhow::Result<()> {
    if record.status.is_finished() {
        return Ok(());
    }
    record.status = Status::Failed;
    record.finished_ms = Some(now_ms());
    record.error = Some(ExecutionError { node: None, step: None, message, failure: None });
    let mut batch = start.held;
    disarm(&record, &mut batch);
    batch.put(keys::execution(&record.id), encode(&record));
    keys::restatus(&mut batch, &record.id, start.stored_status, record.status);
    inner.store.commit(batch).await?;
    inner.metrics.record_finished(record.status.as_str());
    announce(inner, &record);
    let watchers = inner.watchers.lock().remove(&record.id);
    for watcher in watchers.into_iter().flatten() {
        let _ = watcher.send(record.status);
    }
    if let Some(durable) = start.pending_start {
        let _ = durable.send(());
    }
    Ok(())
}

impl Driver {
    /// A driver for `record` on `plan`, with the outputs `$node` reads.
    fn new(
        inner: Arc<Inner>,
        record: ExecutionRecord,
        plan: Arc<Plan>,
        held: Batch,
        stored_status: Option<Status>,
        pending_start: Option<oneshot::Sender<()>>,
    ) -> anyhow::Result<Driver> {
        let needs_outputs = plan.nodes.iter().any(|n| n.config.uses(Root::Node));
        let mut driver = Driver {
            inner,
            record,
            plan,
            outputs: HashMap::new(),
            needs_outputs,
            running: FuturesUnordered::new(),
            launched: HashSet::new(),
            fired: Vec::new(),
            replies: Vec::new(),
            outbox: Vec::new(),
            new_timer: false,
            subscribed: Vec::new(),
            changed: false,
            must_commit: false,
            held,
            steps: Vec::new(),
            stored_status,
            pending_start,
        };
        if needs_outputs {
            let first = driver.record.first_steps.clone();
            for step in super::read_steps(&driver.inner.store, &driver.record.id, first)? {
                if let StepOutcome::Emitted { ports } = step.outcome {
                    driver.outputs.insert(step.node, ports.into_iter().flat_map(|(_, items)| items).collect());
                }
            }
        }
        Ok(driver)
    }

    /// The driving loop (see [`drive`]).
    async fn run(&mut self, id: &str, mut rx: mpsc::UnboundedReceiver<Wake>) -> anyhow::Result<()> {
        loop {
            let mut batch = Batch::default();
            let stopping = self.inner.stopping.load(std::sync::atomic::Ordering::SeqCst);
            if self.record.status == Status::Running && !stopping {
                self.launch(&mut batch);
            }
            if self.running.is_empty() && stopping {
                // Shutting down: make what is held durable and leave; the
                // execution continues from here at the next open.
                self.must_commit = true;
                self.commit(batch).await?;
                self.inner.drivers.lock().remove(id);
                return Ok(());
            }
            if self.running.is_empty() {
                if !self.idle(id, batch, &mut rx).await? {
                    return Ok(());
                }
                continue;
            }
            let event = tokio::select! {
                Some(done) = self.running.next() => Ok(done),
                Some(wake) = rx.recv() => Err(wake),
            };
            match event {
                Ok(done) => self.apply_done(done, &mut batch),
                Err(wake) => self.apply_wake(wake, &mut batch),
            }
            self.commit(batch).await?;
        }
    }

    /// Nothing is running: settle and commit what changed, or take a wake
    /// that slipped in. `false`: nothing is left, and the driver is gone
    /// from the engine's list.
    async fn idle(
        &mut self,
        id: &str,
        mut batch: Batch,
        rx: &mut mpsc::UnboundedReceiver<Wake>,
    ) -> anyhow::Result<bool> {
        let mut changed = false;
        if self.record.status == Status::Running && self.record.state.ready.is_empty() {
            self.settle_status(&mut batch);
            changed = true;
        }
        if changed || !batch.is_empty() || self.dirty() {
            self.commit(batch).await?;
            return Ok(true);
        }
        // Leave, unless a wake slipped in (checked under the lock wakes are
        // sent under, so none is lost).
        let wake = {
            let mut drivers = self.inner.drivers.lock();
            match rx.try_recv() {
                Ok(wake) => Some(wake),
                Err(_) => {
                    drivers.remove(id);
                    None
                }
            }
        };
        let Some(wake) = wake else { return Ok(false) };
        let mut batch = Batch::default();
        self.apply_wake(wake, &mut batch);
        self.commit(batch).await?;
        Ok(true)
    }
}

/// Keep credential values out of what a step records: its log lines,
/// failure message and code, emitted items (a plugin may echo what it was
/// given), and a wait's event name and state, which are stored and handed
/// back to the plugin when the wait ends.
fn redact_results(
    values: &[String],
    logs: &mut [crate::runtime::LogLine],
    ports: &mut [(String, Vec<Json>)],
    result: &mut Result<(), NodeFailure>,
    wait: &mut Option<Outcome>,
) {
    let redact = |text: &str| crate::runtime::redact(text, values.iter().map(String::as_str));
    let redact_json = |item: &mut Json| {
        let text = redact(item.get());
        if text != item.get() {
            *item = serde_json::value::RawValue::from_string(text)
                .unwrap_or_else(|_| serde_json::value::to_raw_value(&json!({"redacted": true})).expect("JSON"));
        }
    };
    for line in logs {
        line.message = redact(&line.message);
    }
    for item in ports.iter_mut().flat_map(|(_, items)| items.iter_mut()) {
        redact_json(item);
    }
    match result {
        Err(NodeFailure::Plugin { message, code, .. }) => {
            *message = redact(message);
            if let Some(code) = code {
                *code = redact(code);
            }
        }
        Err(
            NodeFailure::Trap { message }
            | NodeFailure::Setup { message }
            | NodeFailure::Host { message }
            | NodeFailure::Denied { message },
        ) => *message = redact(message),
        _ => {}
    }
    if let Some(Outcome::Wait { event, state, .. }) = wait {
        if let Some(event) = event {
            *event = redact(event);
        }
        redact_json(state);
    }
}

/// Answer wakes for an execution that cannot run.
/// Answer wakes for an execution that cannot run, and delete the keys that
/// would bring them back.
async fn answer_missing(inner: &Arc<Inner>, id: &str, rx: &mut mpsc::UnboundedReceiver<Wake>) -> anyhow::Result<()> {
    loop {
        let mut batch = Batch::default();
        let mut fired = Vec::new();
        let done = {
            let mut drivers = inner.drivers.lock();
            while let Ok(wake) = rx.try_recv() {
                match wake {
                    Wake::Retry { reply } | Wake::Cancel { reply } => {
                        let _ = reply.send(Err(EngineError::Conflict(format!("execution `{id}` cannot run"))));
                    }
                    Wake::Timer { key, .. } => {
                        batch.delete(key.clone());
                        fired.push(key);
                    }
                    Wake::Event { step, .. } => batch.delete(keys::wake(id, step)),
                }
            }
            if batch.is_empty() {
                drivers.remove(id);
            }
            batch.is_empty()
        };
        if done {
            return Ok(());
        }
        inner.store.commit(batch).await?;
        let mut set = inner.fired.lock();
        for key in fired {
            set.remove(&key);
        }
    }
}

impl Driver {
    fn dirty(&self) -> bool {
        self.changed || !self.replies.is_empty() || !self.fired.is_empty() || self.pending_start.is_some()
    }

    /// Write the execution record (and `batch`), wait until durable, then
    /// answer whoever waits on it.
    ///
    /// Writing is skipped altogether while nothing outside can observe the
    /// difference: the execution keeps running, nobody awaits an answer, and
    /// every step about to start is pure (its plugin can neither call out nor
    /// keep state). Those steps' records are held and written, in order, with
    /// the next commit that does wait; if a crash comes first, the pure steps
    /// behind them simply run again. So "a step starts only after the steps
    /// before it are durable" holds for every step that can have an effect,
    /// and for everything anyone was told.
    async fn commit(&mut self, batch: Batch) -> anyhow::Result<()> {
        self.held.ops.extend(batch.ops);
        self.changed = false;
        // A called execution that finishes hands its result to the step
        // that waits for it, once: in the commit that stores its end.
        let finishing = self.record.status.is_finished() && !self.stored_status.is_some_and(|s| s.is_finished());
        if let Some(parent) = self.record.parent.as_ref().filter(|p| finishing && p.waits) {
            let action = Action::ReturnCall { parent: parent.execution_id.clone(), child: self.record.id.clone() };
            let mut held = std::mem::take(&mut self.held);
            self.push_action(action, &mut held);
            self.held = held;
        }
        let next_are_pure =
            self.record.state.ready.iter().all(|a| {
                self.launched.contains(&a.step) || !self.plan.nodes[self.plan.node_index[&a.node]].side_effects
            });
        let observed = self.must_commit
            || !self.replies.is_empty()
            || !self.outbox.is_empty()
            || self.new_timer
            || (self.pending_start.is_some() && self.steps.len() >= PURE_STEPS_BEFORE_START);
        if self.record.status == Status::Running && next_are_pure && !observed {
            return Ok(());
        }
        let id = &self.record.id;
        self.record.updated_ms = now_ms();
        let mut batch = std::mem::take(&mut self.held);
        // An execution that finishes in its first commit keeps its steps in
        // its record: one key written instead of two.
        let finished_at_once = self.stored_status.is_none() && self.record.status.is_finished();
        if finished_at_once {
            self.record.first_steps = std::mem::take(&mut self.steps);
        } else if !self.steps.is_empty() {
            let first = self.record.state.next_record - self.steps.len() as u64;
            batch.put(keys::step_chunk(id, first), encode(&self.steps));
            self.steps.clear();
        }
        batch.put(keys::execution(id), encode(&self.record));
        keys::restatus(&mut batch, id, self.stored_status, self.record.status);
        self.inner.store.commit(batch).await?;
        if Some(self.record.status) != self.stored_status {
            if self.record.status.is_finished() {
                self.inner.metrics.record_finished(self.record.status.as_str());
            }
            announce(&self.inner, &self.record);
        }
        self.stored_status = Some(self.record.status);
        if let Some(durable) = self.pending_start.take() {
            let _ = durable.send(());
        }
        self.must_commit = false;
        {
            let mut fired = self.inner.fired.lock();
            for key in self.fired.drain(..) {
                fired.remove(&key);
            }
        }
        if std::mem::take(&mut self.new_timer) {
            self.inner.timers_changed.notify_one();
        }
        for (event, step) in std::mem::take(&mut self.subscribed) {
            if let Err(e) = self.inner.take_kept(&event, id, step) {
                tracing::error!(execution = %id, %event, "looking for a kept event: {e:#}");
            }
        }
        for (reply, result) in self.replies.drain(..) {
            let _ = reply.send(result);
        }
        if self.record.status != Status::Running {
            let watchers = self.inner.watchers.lock().remove(id);
            for watcher in watchers.into_iter().flatten() {
                let _ = watcher.send(self.record.status);
            }
        }
        outbox::spawn(&self.inner, std::mem::take(&mut self.outbox));
        Ok(())
    }

    /// A batches node's step: the next batch on `batch`, or, with none
    /// left, every item that came back on `done`. Items arriving while it
    /// has no progress yet are its items; later ones came back.
    fn next_batch(&mut self, node: &str, size: usize, items: &[Json]) -> Outcome {
        let progress = match self.record.state.batches.get_mut(node) {
            Some(progress) => {
                progress.done.extend(items.iter().cloned());
                progress
            }
            None => self
                .record
                .state
                .batches
                .entry(node.to_string())
                .or_insert(BatchState { pending: items.to_vec(), done: Vec::new() }),
        };
        let ports = if progress.pending.is_empty() {
            let done = std::mem::take(&mut progress.done);
            self.record.state.batches.remove(node);
            vec![("batch", Vec::new()), ("done", done)]
        } else {
            let batch: Vec<Json> = progress.pending.drain(..size.min(progress.pending.len())).collect();
            vec![("batch", batch), ("done", Vec::new())]
        };
        let ports =
            ports.into_iter().map(|(port, items)| crate::runtime::PortItems { port: port.into(), items }).collect();
        Outcome::Emit { ports }
    }

    /// With nothing ready or running: succeeded, or waiting on parked steps.
    /// A batches node still holding items means its loop stopped coming back.
    fn settle_status(&mut self, batch: &mut Batch) {
        if self.record.state.parked.is_empty() && !self.record.state.batches.is_empty() {
            let nodes: Vec<&String> = self.record.state.batches.keys().collect();
            let message = format!(
                "batches node `{}` still holds items, but no items came back along its loop (the loop's last \
                 node must send at least one item back per batch)",
                nodes.iter().map(|n| n.as_str()).collect::<Vec<_>>().join("`, `")
            );
            self.fail(None, message, None, batch);
            return;
        }
        if self.record.state.parked.is_empty() {
            self.record.status = Status::Succeeded;
            self.record.finished_ms = Some(now_ms());
        } else {
            self.record.status = Status::Waiting;
        }
    }

    /// Start every ready activation that is not running yet.
    fn launch(&mut self, batch: &mut Batch) {
        let ready: Vec<Activation> =
            self.record.state.ready.iter().filter(|a| !self.launched.contains(&a.step)).cloned().collect();
        for activation in ready {
            self.record.state.runs += 1;
            let max = self.plan.workflow.settings.max_steps;
            if self.record.state.runs > max {
                let message = format!("step limit of {max} reached: a loop may be running away (settings.max_steps)");
                // It never ran: a retry is its first attempt, not its next.
                let never_ran = Activation { attempt: activation.attempt - 1, ..activation };
                self.fail(Some(&never_ran), message, None, batch);
                return;
            }
            if let Some(message) = self.budget_spent() {
                let never_ran = Activation { attempt: activation.attempt - 1, ..activation };
                self.fail(Some(&never_ran), message, None, batch);
                return;
            }
            self.launched.insert(activation.step);
            let future = self.prepare(&activation);
            self.running.push(future);
        }
    }

    /// The task that runs one activation: config evaluated, credentials bound,
    /// the node called (once, or once per item when its config reads `$json`).
    fn prepare(&self, activation: &Activation) -> BoxFuture<'static, StepDone> {
        let started_ms = now_ms();
        let step = activation.step;
        let node = &self.plan.nodes[self.plan.node_index[&activation.node]];
        let setup_failed = move |message: String| -> BoxFuture<'static, StepDone> {
            let done = StepDone::without_call(step, Err(NodeFailure::Setup { message }), started_ms, Vec::new());
            Box::pin(std::future::ready(done))
        };
        if let Some(ports) = &node.pinned {
            // A test run's pinned output: the node is not called.
            let result = Ok(Outcome::Emit { ports: ports.clone() });
            let logs =
                vec![LogLine { level: "info".into(), message: "output pinned for this test run: not called".into() }];
            return Box::pin(std::future::ready(StepDone::without_call(step, result, started_ms, logs)));
        }
        if let Some(call) = &node.call {
            return Box::pin(std::future::ready(self.call_step(call, activation, started_ms)));
        }
        if node.batches.is_some() {
            // Decided where the node's progress lives: `apply_done` (`next_batch`).
            let result = Ok(Outcome::Emit { ports: Vec::new() });
            return Box::pin(std::future::ready(StepDone::without_call(step, result, started_ms, Vec::new())));
        }
        if let Some(table) = &node.decide {
            let result = Ok(decide_step(table, &activation.items));
            return Box::pin(std::future::ready(StepDone::without_call(step, result, started_ms, Vec::new())));
        }
        let calls = match self.calls(node, activation, started_ms) {
            Ok(calls) => calls,
            Err(message) => return setup_failed(format!("expression error in config at {message}")),
        };
        let bound = match bindings::bind(
            &*self.inner.credentials,
            &node.plugin,
            &node.credential_types,
            &node.secrets,
            &node.spec.credentials,
        ) {
            Ok(bound) => bound,
            Err(message) => return setup_failed(message),
        };
        // Values a plugin could echo into what is recorded.
        let secret_values = crate::runtime::secret_values(&node.credential_types, &bound);
        let template = Invocation {
            node: node.spec.node.clone(),
            execution_id: self.record.id.clone(),
            attempt: activation.attempt,
            resume_state: activation.resume.as_ref().map(|r| r.state.get().to_string()),
            kv_scope: self.record.workflow_id.clone(),
            limits: Some(self.call_limits(node)),
            bound,
            ..Default::default()
        };
        let step_calls = StepCalls {
            nodes: self.inner.nodes.clone(),
            plugin: node.plugin.clone(),
            version: node.version.clone(),
            template,
            calls,
            base_key: format!("{}:{}", self.record.id, step),
            secret_values,
        };
        Box::pin(step_calls.run(step, started_ms))
    }

    /// A calling node's step. First run: choose the child's id and wait for
    /// its result (or, fire and forget, pass the items on); the child is
    /// started by a follow-up action of the commit that records this step
    /// ([`Action::StartCall`]). Resumed by the child's result: its output
    /// items, or its failure as this step's.
    fn call_step(&self, call: &PlanCall, activation: &Activation, started_ms: u64) -> StepDone {
        let done = |result, logs: Vec<LogLine>, child| StepDone {
            child,
            ..StepDone::without_call(activation.step, result, started_ms, logs)
        };
        let info = |message: String| vec![LogLine { level: "info".into(), message }];
        if let Some(resume) = &activation.resume {
            let result: Value =
                resume.event.as_ref().and_then(|e| serde_json::from_str(e.get()).ok()).unwrap_or(Value::Null);
            let child = result["execution_id"].as_str().unwrap_or_default().to_string();
            return match result["status"].as_str() {
                Some("succeeded") => {
                    let items = result["items"].as_array().cloned().unwrap_or_default();
                    let items = items.into_iter().filter_map(|i| serde_json::value::to_raw_value(&i).ok()).collect();
                    let ports = vec![crate::runtime::PortItems { port: "main".into(), items }];
                    done(
                        Ok(Outcome::Emit { ports }),
                        info(format!("execution {child} of `{}` succeeded", call.workflow)),
                        None,
                    )
                }
                status => {
                    let message = format!(
                        "the called workflow `{}` {} (execution {child}): {}",
                        call.workflow,
                        status.unwrap_or("did not finish"),
                        result["error"].as_str().unwrap_or("no error recorded")
                    );
                    let failure = NodeFailure::Plugin {
                        message,
                        code: Some("call_failed".into()),
                        retryable: false,
                        retry_after_ms: None,
                    };
                    done(Err(failure), Vec::new(), None)
                }
            };
        }
        if self.record.depth >= super::MAX_CALL_DEPTH {
            let message = format!(
                "calls nest {} deep here, the most there may be: workflows calling each other without end?",
                super::MAX_CALL_DEPTH
            );
            let failure = NodeFailure::Setup { message };
            return done(Err(failure), Vec::new(), None);
        }
        let child = uuid::Uuid::now_v7().to_string();
        let logs = info(format!("started execution {child} of `{}` v{}", call.workflow, call.version));
        let result = if call.wait {
            let state =
                serde_json::value::to_raw_value(&json!({ "execution_id": child })).expect("JSON values serialise");
            Ok(Outcome::Wait { until_unix_ms: None, event: Some(call_event(&child)), state })
        } else {
            Ok(Outcome::Emit {
                ports: vec![crate::runtime::PortItems { port: "main".into(), items: activation.items.clone() }],
            })
        };
        done(result, logs, Some(child))
    }

    /// The (config, items) of each call a step makes: one call with every
    /// item, or one per item when the config reads `$json`. `Err` names the
    /// expression that failed.
    fn calls(
        &self,
        node: &PlanNode,
        activation: &Activation,
        started_ms: u64,
    ) -> Result<Vec<(String, Vec<String>)>, String> {
        let items: Vec<String> = activation.resume.as_ref().map_or_else(
            || activation.items.iter().map(|i| i.get().to_string()).collect(),
            |r| r.event.iter().map(|e| e.get().to_string()).collect(),
        );
        if let Some(config) = &node.static_config {
            return Ok(vec![(config.clone(), items)]);
        }
        let parsed: Vec<Value> = items.iter().map(|i| serde_json::from_str(i).unwrap_or(Value::Null)).collect();
        let items_value = Value::Array(parsed.clone());
        let trigger: Value = self
            .record
            .trigger
            .items
            .first()
            .and_then(|i| serde_json::from_str(i.get()).ok())
            .unwrap_or_else(|| json!({}));
        let execution = json!({
            "id": self.record.id,
            "workflow_id": self.record.workflow_id,
            "workflow_version": self.record.workflow_version,
        });
        let outputs = &self.outputs;
        let node_value = || node_outputs(outputs);
        let scope = |json| Scope {
            json,
            items: &items_value,
            node: &node_value,
            trigger: &trigger,
            execution: &execution,
            now_ms: started_ms,
            vars: &self.inner.config.vars,
        };
        let per_item = node.config.uses(Root::Json) && activation.resume.is_none() && parsed.len() > 1;
        if !per_item {
            return node.config.render(&scope(parsed.first())).map(|c| vec![(c.to_string(), items.clone())]);
        }
        parsed
            .iter()
            .zip(&items)
            .map(|(value, text)| Ok((node.config.render(&scope(Some(value)))?.to_string(), vec![text.clone()])))
            .collect()
    }

    /// A node's limits for its next call: its fuel no more than what is
    /// left of the execution's budget.
    fn call_limits(&self, node: &PlanNode) -> wirework_registry::Limits {
        let mut limits = node.limits;
        if let Some(budget) = self.inner.config.execution_fuel_budget {
            limits.fuel = limits.fuel.min(budget.saturating_sub(self.record.state.fuel_used)).max(1);
        }
        limits
    }

    /// Why no further call may run, when the execution's fuel budget is spent.
    fn budget_spent(&self) -> Option<String> {
        let budget = self.inner.config.execution_fuel_budget?;
        let used = self.record.state.fuel_used;
        (used >= budget).then(|| {
            format!(
                "fuel budget spent: the execution's calls used {used} fuel of the {budget} it may \
                 (the operator's --execution-fuel-budget)"
            )
        })
    }

    /// Record a finished call and move the execution on.
    fn apply_done(&mut self, mut done: StepDone, batch: &mut Batch) {
        self.launched.remove(&done.step);
        let Some(pos) = self.record.state.ready.iter().position(|a| a.step == done.step) else { return };
        let activation = self.record.state.ready.remove(pos);
        let plan = self.plan.clone();
        let node_index = plan.node_index[&activation.node];
        let node = &plan.nodes[node_index];
        if let (Some(call), Some(child)) = (&node.call, &done.child) {
            let parent = ParentLink {
                execution_id: self.record.id.clone(),
                step: activation.step,
                node: activation.node.clone(),
                waits: call.wait,
            };
            let action = Action::StartCall {
                workflow: call.workflow.clone(),
                version: call.version,
                id: child.clone(),
                items: activation.items.clone(),
                parent,
                depth: self.record.depth + 1,
            };
            self.push_action(action, batch);
        }
        if let Some(size) = node.batches {
            done.result = Ok(self.next_batch(&node.spec.id, size, &activation.items));
        }
        let (result, mut record) = self.step_record(node, &activation, done);
        let workflow = &self.record.workflow_id;
        self.inner.metrics.record_step(workflow, &record.plugin, &node.spec.node, record.duration_us, record.fuel);
        self.record.state.fuel_used = self.record.state.fuel_used.saturating_add(record.fuel);
        // A call that failed once the budget is spent (out of the fuel it had
        // left, most likely) ends the execution: no retry, no on_error path.
        let result = match (result, self.budget_spent()) {
            (Err(failure), Some(message)) => {
                record.outcome = StepOutcome::Failed { failure: failure.clone(), then: "stop".into() };
                self.fail(Some(&activation), message, Some(failure), batch);
                self.record.state.next_record += 1;
                self.steps.push(record);
                return;
            }
            (result, _) => result,
        };
        // An effectful call happened: its result is durable before anything
        // else starts, so it never runs again once it has finished.
        self.must_commit |= node.side_effects;
        let route = match result {
            Ok(Outcome::Emit { ports }) => {
                let ports: Vec<(String, Vec<Json>)> = ports.into_iter().map(|p| (p.port, p.items)).collect();
                self.emit_events(node, &ports, batch);
                if self.needs_outputs {
                    let items = ports.iter().flat_map(|(_, i)| i.iter().cloned()).collect();
                    self.outputs.insert(activation.node.clone(), items);
                }
                record.outcome = StepOutcome::Emitted { ports: ports.clone() };
                if self.record.state.compensating == Some(activation.step) {
                    // A compensation that ran: on to the next one.
                    self.compensation_done(None, batch);
                } else if let Some(by) = node.spec.compensate.clone() {
                    let items = ports.iter().flat_map(|(_, items)| items.iter().cloned()).collect();
                    let due = Compensable { step: activation.step, node: activation.node.clone(), by, items };
                    self.record.state.compensable.push(due);
                }
                Some(ports)
            }
            Ok(Outcome::Wait { until_unix_ms, event, state }) if until_unix_ms.is_some() || event.is_some() => {
                record.outcome = StepOutcome::Waiting { until_ms: until_unix_ms, event: event.clone() };
                self.park(&activation, until_unix_ms, event, state, batch);
                None
            }
            Ok(Outcome::Wait { .. }) => {
                let failure = NodeFailure::Plugin {
                    message: "the node asked to wait for neither a time nor an event".into(),
                    code: Some("bad_wait".into()),
                    retryable: false,
                    retry_after_ms: None,
                };
                record.outcome = StepOutcome::Failed { failure: failure.clone(), then: "stop".into() };
                let message = format!("node `{}` failed: {failure}", node.spec.id);
                self.fail(Some(&activation), message, Some(failure), batch);
                None
            }
            Err(failure) => {
                let (outcome, route) = self.after_failure(node, &activation, failure, batch);
                record.outcome = outcome;
                route
            }
        };
        self.record.state.next_record += 1;
        self.steps.push(record);
        if let Some(ports) = route {
            self.route_from(node_index, &activation, &ports, batch);
        }
    }

    /// The record of a finished call (its outcome still to be set), and the
    /// call's result.
    fn step_record(
        &self,
        node: &PlanNode,
        activation: &Activation,
        done: StepDone,
    ) -> (Result<Outcome, NodeFailure>, StepRecord) {
        let record = StepRecord {
            step: activation.step,
            node: activation.node.clone(),
            plugin: node.label(),
            attempt: activation.attempt,
            idempotency_key: format!("{}:{}", self.record.id, activation.step),
            resumed: activation.resume.is_some(),
            input: activation.items.clone(),
            outcome: StepOutcome::Waiting { until_ms: None, event: None },
            fuel: done.fuel,
            started_ms: done.started_ms,
            duration_us: done.duration_us,
            logs: done.logs,
            denials: done.denials,
            child_execution: done.child,
        };
        (done.result, record)
    }

    /// The node's `emit_event`, once per item on its first port.
    fn emit_events(&mut self, node: &PlanNode, ports: &[(String, Vec<Json>)], batch: &mut Batch) {
        let Some(template) = &node.emit_event else { return };
        let items = ports.iter().find(|(port, _)| *port == node.first_port).map(|(_, i)| i.as_slice());
        for item in items.unwrap_or_default() {
            let value: Value = serde_json::from_str(item.get()).unwrap_or(Value::Null);
            let no_node = || Value::Null;
            let scope = Scope {
                json: Some(&value),
                items: &Value::Null,
                node: &no_node,
                trigger: &Value::Null,
                execution: &Value::Null,
                now_ms: now_ms(),
                vars: &self.inner.config.vars,
            };
            match template.render(&scope) {
                Ok(Value::String(event)) if !event.is_empty() => {
                    self.push_action(Action::EmitEvent { event, payload: item.clone() }, batch)
                }
                other => tracing::warn!(node = %node.spec.id, "emit_event gave no event name: {other:?}"),
            }
        }
    }

    /// Park a step that waits for a time or an event (or both).
    fn park(
        &mut self,
        activation: &Activation,
        until_ms: Option<u64>,
        event: Option<String>,
        state: Json,
        batch: &mut Batch,
    ) {
        let id = &self.record.id;
        if let Some(until) = until_ms {
            batch.put(keys::timer(until, id, activation.step), Vec::new());
            self.new_timer = true;
        }
        if let Some(event) = &event {
            batch.put(keys::subscription(event, id, activation.step), Vec::new());
            self.subscribed.push((event.clone(), activation.step));
            self.must_commit = true;
        }
        let activation = Activation { resume: None, ..activation.clone() };
        self.record.state.parked.push(Parked { activation, until_ms, event, wait_state: Some(state) });
    }

    /// What a failed call leads to: a retry (parked until its backoff is
    /// due), else what the node's `on_error` says. The step's outcome, and
    /// the items to route when the execution goes on.
    fn after_failure(
        &mut self,
        node: &PlanNode,
        activation: &Activation,
        failure: NodeFailure,
        batch: &mut Batch,
    ) -> (StepOutcome, Option<PortOutput>) {
        let spec = &node.spec;
        let retry = spec.retry.as_ref().filter(|r| failure.retryable() && activation.attempt < r.max_attempts);
        if let Some(policy) = retry {
            let mut delay = policy.delay_ms(activation.attempt + 1);
            if policy.jitter && delay > 1 {
                delay = rand::thread_rng().gen_range(delay / 2..=delay);
            }
            // The outside system's `Retry-After` wins over a shorter backoff
            // (bounded as a retry policy's delays are: 30 days).
            if let NodeFailure::Plugin { retry_after_ms: Some(after), .. } = &failure {
                delay = delay.max((*after).min(30 * 24 * 3600 * 1000));
            }
            let due = now_ms().saturating_add(delay);
            batch.put(keys::timer(due, &self.record.id, activation.step), Vec::new());
            self.new_timer = true;
            let parked = Parked { activation: activation.clone(), until_ms: Some(due), event: None, wait_state: None };
            self.record.state.parked.push(parked);
            return (StepOutcome::Failed { failure, then: "retry".into() }, None);
        }
        match spec.on_error {
            super::model::OnError::Stop => {
                let message = format!("node `{}` failed: {failure}", spec.id);
                self.fail(Some(activation), message, Some(failure.clone()), batch);
                (StepOutcome::Failed { failure, then: "stop".into() }, None)
            }
            super::model::OnError::Continue => {
                let route = vec![(node.first_port.clone(), activation.items.clone())];
                (StepOutcome::Failed { failure, then: "continue".into() }, Some(route))
            }
            super::model::OnError::ErrorPort => {
                let items = error_port_items(spec, activation, &failure);
                (StepOutcome::Failed { failure, then: "error_port".into() }, Some(vec![("error".into(), items)]))
            }
        }
    }

    /// Route a step's output on. Routing can fail half way (a loop bound):
    /// then the state goes back to before it, and the node is the failed
    /// step to retry.
    fn route_from(
        &mut self,
        node_index: usize,
        activation: &Activation,
        ports: &[(String, Vec<Json>)],
        batch: &mut Batch,
    ) {
        let before = self.plan.edges.iter().any(|e| e.bound.is_some()).then(|| self.record.state.clone());
        let mut router = Router { plan: &self.plan, state: &mut self.record.state };
        if let Err(message) = router.route(Source::Node(node_index), ports) {
            if let Some(before) = before {
                self.record.state = before;
            }
            self.fail(Some(activation), message, None, batch);
        }
    }

    /// Mark the execution failed; running steps are dropped (they stay in
    /// `ready` and run again on retry), timers and subscriptions removed.
    fn fail(
        &mut self,
        activation: Option<&Activation>,
        message: String,
        failure: Option<NodeFailure>,
        batch: &mut Batch,
    ) {
        tracing::info!(execution = %self.record.id, "failed: {message}");
        self.changed = true;
        if self.record.state.compensating.is_some() {
            // A compensation failed (its retries spent): noted, and the rest still run.
            if let Some(a) = activation {
                self.record.state.ready.retain(|r| r.step != a.step);
            }
            self.compensation_done(Some(message), batch);
            return;
        }
        let now = now_ms();
        let id = self.record.id.clone();
        self.running = FuturesUnordered::new();
        self.launched.clear();
        if let Some(a) = activation {
            self.record.state.ready.retain(|r| r.step != a.step);
            self.record.state.failed = Some(a.clone());
        }
        self.disarm(batch);
        self.record.status = Status::Failed;
        self.record.finished_ms = Some(now);
        self.record.error = Some(ExecutionError {
            node: activation.map(|a| a.node.clone()),
            step: activation.map(|a| a.step),
            message: message.clone(),
            failure: failure.clone(),
        });
        // An execution started by an error trigger does not report its own
        // failure onwards: two error workflows cannot start each other forever.
        let from_error_trigger = self
            .plan
            .workflow
            .triggers
            .iter()
            .any(|t| t.id == self.record.trigger.id && t.kind == super::model::TriggerType::Error);
        let error_workflow = self.plan.workflow.settings.error_workflow.clone().filter(|_| !from_error_trigger);
        if let Some(workflow) = error_workflow {
            let item = json!({
                "execution_id": id,
                "workflow_id": self.record.workflow_id,
                "workflow_version": self.record.workflow_version,
                "node": activation.map(|a| a.node.clone()),
                "step": activation.map(|a| a.step),
                "message": message,
                "failure": failure,
                "attempt": activation.map(|a| a.attempt),
                "failed_ms": now,
            });
            let item = serde_json::value::to_raw_value(&item).expect("JSON values serialise");
            self.push_action(Action::StartErrorWorkflow { workflow, item }, batch);
        }
        if !self.record.state.compensable.is_empty() {
            // Undo what finished, newest first, before the failure is final.
            // Nothing else runs meanwhile: other branches are dropped, their
            // waits were disarmed above.
            self.record.state.ready.clear();
            self.record.state.parked.clear();
            self.record.status = Status::Running;
            self.record.finished_ms = None;
            self.record.compensation = Some(CompensationReport { status: "running".into(), steps: Vec::new() });
            self.next_compensation(batch);
        }
    }

    /// Start the newest compensation still due, or, with none left, end
    /// the execution as failed with its compensations' outcome.
    fn next_compensation(&mut self, batch: &mut Batch) {
        let Some(due) = self.record.state.compensable.pop() else {
            self.record.state.compensating = None;
            self.record.status = Status::Failed;
            self.record.finished_ms = Some(now_ms());
            if let Some(report) = &mut self.record.compensation {
                let failed = report.steps.iter().any(|s| s.status == "failed");
                report.status = if failed { "failed" } else { "completed" }.into();
            }
            self.disarm(batch);
            return;
        };
        let step = self.record.state.next_step;
        self.record.state.next_step += 1;
        self.record.state.compensating = Some(step);
        if let Some(report) = &mut self.record.compensation {
            report.steps.push(CompensationStep {
                compensates: due.step,
                node: due.node,
                by: due.by.clone(),
                step,
                status: "running".into(),
                error: None,
            });
        }
        let activation = Activation { step, node: due.by, items: due.items, attempt: 1, resume: None };
        self.record.state.ready.push(activation);
    }

    /// The running compensation ended (`error`: how it failed); start the next.
    fn compensation_done(&mut self, error: Option<String>, batch: &mut Batch) {
        let step = self.record.state.compensating.take();
        if let Some(entry) =
            self.record.compensation.as_mut().and_then(|r| r.steps.iter_mut().find(|s| Some(s.step) == step))
        {
            entry.status = if error.is_some() { "failed" } else { "succeeded" }.into();
            entry.error = error;
        }
        self.next_compensation(batch);
    }

    /// Record a follow-up action in `batch`, to carry out once it is durable.
    fn push_action(&mut self, action: Action, batch: &mut Batch) {
        let key = keys::action(&self.record.id, self.record.state.next_action);
        self.record.state.next_action += 1;
        batch.put(key.clone(), encode(&action));
        self.outbox.push((key, action));
    }

    /// Delete the timers and subscriptions of every parked activation.
    fn disarm(&mut self, batch: &mut Batch) {
        disarm(&self.record, batch);
    }

    /// Put back the timers and subscriptions of every parked activation.
    fn rearm(&mut self, batch: &mut Batch) {
        let id = &self.record.id;
        for parked in &self.record.state.parked {
            let step = parked.activation.step;
            if let Some(until) = parked.until_ms {
                batch.put(keys::timer(until, id, step), Vec::new());
                self.new_timer = true;
            }
            if let Some(event) = &parked.event {
                batch.put(keys::subscription(event, id, step), Vec::new());
                self.subscribed.push((event.clone(), step));
            }
        }
    }

    fn apply_wake(&mut self, wake: Wake, batch: &mut Batch) {
        let id = self.record.id.clone();
        match wake {
            Wake::Timer { step, key } => {
                let due = keys::parse_timer(&key).map(|(due, _, _)| due);
                batch.delete(key.clone());
                self.fired.push(key);
                if !matches!(self.record.status, Status::Running | Status::Waiting) {
                    return;
                }
                // The step and the time must both match: a stale timer of an
                // earlier park of this step must not end a later one.
                let found =
                    self.record.state.parked.iter().position(|p| p.activation.step == step && p.until_ms == due);
                if let Some(pos) = found {
                    let parked = self.record.state.parked.remove(pos);
                    if let Some(event) = &parked.event {
                        batch.delete(keys::subscription(event, &id, step));
                    }
                    let mut activation = parked.activation;
                    match parked.wait_state {
                        Some(state) => activation.resume = Some(Resume { state, event: None }),
                        None => activation.attempt += 1,
                    }
                    self.record.state.ready.push(activation);
                    self.record.status = Status::Running;
                }
            }
            Wake::Event { step, event, payload } => {
                batch.delete(keys::wake(&id, step));
                if !matches!(self.record.status, Status::Running | Status::Waiting) {
                    return;
                }
                let found = self
                    .record
                    .state
                    .parked
                    .iter()
                    .position(|p| p.activation.step == step && p.event.as_deref() == Some(event.as_str()));
                if let Some(pos) = found {
                    let parked = self.record.state.parked.remove(pos);
                    if let Some(until) = parked.until_ms {
                        batch.delete(keys::timer(until, &id, step));
                    }
                    let mut activation = parked.activation;
                    let state =
                        parked.wait_state.unwrap_or_else(|| serde_json::value::to_raw_value(&json!({})).expect("{}"));
                    activation.resume = Some(Resume { state, event: Some(payload) });
                    self.record.state.ready.push(activation);
                    self.record.status = Status::Running;
                }
            }
            Wake::Retry { reply } => {
                if self.record.compensation.is_some() {
                    let message =
                        format!("execution `{id}` was compensated (its finished steps undone): start it again instead");
                    let _ = reply.send(Err(EngineError::Conflict(message)));
                    return;
                }
                if self.record.status != Status::Failed {
                    let message =
                        format!("execution `{id}` is {:?}; only failed executions can be retried", self.record.status);
                    let _ = reply.send(Err(EngineError::Conflict(message.to_lowercase())));
                    return;
                }
                if let Some(mut activation) = self.record.state.failed.take() {
                    activation.attempt += 1;
                    // A failed call is retried with a new child, not its failed one's result.
                    if self.plan.node_index.get(&activation.node).is_some_and(|&i| self.plan.nodes[i].call.is_some()) {
                        activation.resume = None;
                    }
                    self.record.state.ready.push(activation);
                }
                // Fresh budgets for the rest of the run.
                self.record.state.runs = 0;
                self.record.state.loops.clear();
                self.rearm(batch);
                self.record.status = Status::Running;
                self.record.error = None;
                self.record.finished_ms = None;
                self.replies.push((reply, Ok(())));
            }
            Wake::Cancel { reply } => {
                if self.record.status.is_finished() {
                    let message = format!("execution `{id}` has already finished");
                    let _ = reply.send(Err(EngineError::Conflict(message)));
                    return;
                }
                self.running = FuturesUnordered::new();
                self.launched.clear();
                self.disarm(batch);
                self.record.status = Status::Cancelled;
                self.record.finished_ms = Some(now_ms());
                self.replies.push((reply, Ok(())));
            }
        }
    }
}

/// A decision table's step: each item on `main` with its rule's fields, or
/// on `no_match` as it came.
fn decide_step(table: &super::decide::CompiledTable, items: &[Json]) -> Outcome {
    let (mut matched, mut unmatched) = (Vec::new(), Vec::new());
    for item in items {
        let value: Value = serde_json::from_str(item.get()).unwrap_or(Value::Null);
        match table.decide(&value) {
            Some(decided) => matched.push(serde_json::value::to_raw_value(&decided).expect("JSON values serialise")),
            None => unmatched.push(item.clone()),
        }
    }
    let ports = vec![
        crate::runtime::PortItems { port: "main".into(), items: matched },
        crate::runtime::PortItems { port: "no_match".into(), items: unmatched },
    ];
    Outcome::Emit { ports }
}

/// The event that carries called execution `child`'s result to its parent.
pub(crate) fn call_event(child: &str) -> String {
    format!("{}call:{child}", super::RESERVED_EVENTS)
}

/// Items by output port, as a step emitted them.
type PortOutput = Vec<(String, Vec<Json>)>;

/// The node calls of one step, run in its task.
struct StepCalls {
    nodes: Arc<dyn super::NodeHost>,
    plugin: String,
    version: semver::Version,
    /// Every call's invocation but config, items and idempotency key.
    template: Invocation,
    /// (config, items) per call.
    calls: Vec<(String, Vec<String>)>,
    /// The step's idempotency key (a call's, with `.N` when there are several).
    base_key: String,
    /// Credential values to keep out of what is recorded.
    secret_values: Vec<String>,
}

impl StepCalls {
    /// Make the calls in order, stopping at the first failure; their output
    /// merged by port.
    async fn run(self, step: u64, started_ms: u64) -> StepDone {
        let clock = Instant::now();
        let (mut fuel, mut logs, mut denials) = (0, Vec::new(), Vec::new());
        let mut ports: Vec<(String, Vec<Json>)> = Vec::new();
        let several = self.calls.len() > 1;
        let mut result = Ok(());
        let mut wait = None;
        for (i, (config, items)) in self.calls.into_iter().enumerate() {
            let idempotency_key = if several { format!("{}.{i}", self.base_key) } else { self.base_key.clone() };
            let invocation = Invocation { config, items, idempotency_key, ..self.template.clone() };
            let report = self.nodes.invoke(&self.plugin, &self.version, invocation).await;
            fuel += report.fuel;
            logs.extend(report.logs);
            denials.extend(report.denials);
            match report.result {
                Ok(Outcome::Emit { ports: emitted }) => {
                    for p in emitted {
                        match ports.iter_mut().find(|(port, _)| *port == p.port) {
                            Some((_, items)) => items.extend(p.items),
                            None => ports.push((p.port, p.items)),
                        }
                    }
                }
                Ok(outcome @ Outcome::Wait { .. }) if !several => wait = Some(outcome),
                Ok(Outcome::Wait { .. }) => {
                    let message = "a node evaluated per item (its config reads $json) cannot wait".into();
                    result = Err(NodeFailure::Setup { message });
                    break;
                }
                Err(failure) => {
                    result = Err(failure);
                    break;
                }
            }
        }
        if !self.secret_values.is_empty() {
            redact_results(&self.secret_values, &mut logs, &mut ports, &mut result, &mut wait);
        }
        let result = result.map(|()| {
            wait.unwrap_or_else(|| Outcome::Emit {
                ports: ports.into_iter().map(|(port, items)| crate::runtime::PortItems { port, items }).collect(),
            })
        });
        let duration_us = clock.elapsed().as_micros() as u64;
        StepDone { step, result, fuel, started_ms, duration_us, logs, denials, child: None }
    }
}

/// A failed step's items for its `error` port: each with `error` set.
fn error_port_items(spec: &super::model::NodeSpec, activation: &Activation, failure: &NodeFailure) -> Vec<Json> {
    let error = json!({
        "message": failure.to_string(),
        "failure": failure,
        "node": spec.id,
        "attempt": activation.attempt,
    });
    activation
        .items
        .iter()
        .map(|item| {
            let mut value: Value = serde_json::from_str(item.get()).unwrap_or_else(|_| json!({}));
            value["error"] = error.clone();
            serde_json::value::to_raw_value(&value).expect("JSON values serialise")
        })
        .collect()
}

/// Delete the timers and subscriptions of every parked activation of `record`.
fn disarm(record: &ExecutionRecord, batch: &mut Batch) {
    for parked in &record.state.parked {
        let step = parked.activation.step;
        if let Some(until) = parked.until_ms {
            batch.delete(keys::timer(until, &record.id, step));
        }
        if let Some(event) = &parked.event {
            batch.delete(keys::subscription(event, &record.id, step));
        }
    }
}

/// `$node`: each node's last output, first item as `json`, all as `items`.
fn node_outputs(outputs: &HashMap<String, Vec<Json>>) -> Value {
    let map = outputs
        .iter()
        .map(|(node, items)| {
            let items: Vec<Value> = items.iter().filter_map(|i| serde_json::from_str(i.get()).ok()).collect();
            let first = items.first().cloned().unwrap_or_else(|| json!({}));
            (node.clone(), json!({"json": first, "items": items}))
        })
        .collect();
    Value::Object(map)
}
