//! What the engine keeps in the store, and under which keys.
//!
//! | key | value |
//! |-----|-------|
//! | `wh/{id}` | [`WorkflowHead`]: current and latest version, active flag |
//! | `wv/{id}/{version:010}` | [`WorkflowVersion`]: the definition and its plugin pins |
//! | `ex/{id}` | [`ExecutionRecord`]: status and the state to continue from |
//! | `wx/{workflow}\0{id}` | (empty) an execution of the workflow: its executions, newest last, without reading the others |
//! | `st/{id}/{seq:010}` | [`StepRecord`]s from `seq` on: the node calls one commit wrote, in order (an execution that finished in its first commit keeps that commit's steps in its record instead) |
//! | `ac/{id}` | executions that are `running` (to continue after a restart, and to list them) |
//! | `xs/{status}/{id}` | (empty) an execution that is `waiting`, `failed` or `cancelled`: listing by one of them reads only its executions |
//! | `tm/{due:016x}/{id}/{step:010}` | a timer: a wait's deadline or a retry's backoff |
//! | `sb/{event}\0{id}/{step:010}` | an execution waiting for an event |
//! | `wk/{id}/{step:010}` | an event delivered but not yet taken up by its execution |
//! | `ek/{event}\0{arrived:016x}-{nonce}` | [`Delivery`]: an event that arrived while nothing waited on its name, kept for a wait that begins within the event window |
//! | `ob/{id}/{seq:010}` | a follow-up action (error workflow, event) not yet carried out |
//! | `sc/{workflow}\0{trigger}` | a schedule trigger's last slot fired |
//! | `meta/wx` | set once every execution has its `wx/` key (stores from before the index, or whose newest execution lacks its key, get them at open) |
//! | `meta/xs` | set once every execution has its key by status (given at open, with `wx/`) |
//! | `meta/format` | the [`STORE_FORMAT`] of the newest wirework that opened the store |
//!
//! The server keeps its own records beside these (`server/` module docs).
//!
//! Execution ids are UUIDv7, so `ex/` keys (and the index keys ending in an
//! id) are in creation order: listing by time and pruning scan them without a
//! time index.
//!
//! **Versions.** A store records the format it is in (`meta/format`), and a
//! wirework refuses to open a store in a newer format than its own
//! [`STORE_FORMAT`] ([`check_format`]): an older wirework would not know what
//! a newer one keeps, and would lose it when it rewrites a record. A store in
//! an older format, or from before the marker, is brought up to date at open
//! and then marked: one from before the marker (format 0) gets its indexes
//! built again in full, since any older wirework may have written it last.
//! Wireworks from before the marker do not check it: one of them would drop
//! the steps an execution record keeps (`first_steps`) when it rewrites the
//! record (a retry), and give the executions it moves to `waiting`, `failed`
//! or `cancelled` no key by status (which the next newer wirework restores).
//!
//! Every status but `succeeded` has an index (`ac/` or `xs/`), written in the
//! commit that changes the status ([`keys::restatus`]). `succeeded` has none:
//! it is what most executions end as, so reading `ex/` back finds a page of
//! them at once, and the webhook path (an execution that succeeds in its first
//! commit) writes no index key for it.

use crate::runtime::{Json, LogLine, NodeFailure};
use crate::store::Store;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Steps are running or ready to run.
    Running,
    /// Nothing runs until a timer or an event resumes it.
    Waiting,
    /// Every path ran to its end.
    Succeeded,
    /// A step failed for good (or a limit was hit); can be retried.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl Status {
    /// Whether the execution is over (it may still be retried if failed).
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }

    /// Parse `running`, `waiting`, ...
    pub fn parse(text: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    /// The name it is stored, answered and counted under: `running`, `waiting`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// The format of what this wirework keeps in its store, written under
/// `meta/format`. Raise it when a change means an older wirework would
/// misread or lose something a newer one wrote. Format 1: execution records
/// keep their first commit's steps (`first_steps`), and executions are indexed
/// by status (`xs/`).
pub const STORE_FORMAT: u32 = 1;

/// A store this wirework must not open.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A newer wirework has written the store.
    #[error(
        "the store is in format {found}, written by a newer wirework; this one reads formats up to {STORE_FORMAT} \
         (run that newer version, or one at least as new, on this data directory)"
    )]
    Newer {
        /// The format the store is in.
        found: u32,
    },
    /// `meta/format` holds something else than a number.
    #[error("the store's format marker (meta/format) is unreadable: {0:?}")]
    Unreadable(String),
}

/// The format `store` is in (0: from before the marker, or empty), or an
/// error if this wirework cannot read it. Check before anything reads or
/// writes the store's records.
pub fn check_format(store: &Store) -> anyhow::Result<u32> {
    let Some(bytes) = store.get(keys::FORMAT)? else { return Ok(0) };
    let text = String::from_utf8_lossy(&bytes);
    let found: u32 = text.trim().parse().map_err(|_| FormatError::Unreadable(text.to_string()))?;
    if found > STORE_FORMAT {
        return Err(FormatError::Newer { found }.into());
    }
    Ok(found)
}

/// The head of a workflow: which version runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowHead {
    /// The workflow's id.
    pub id: String,
    /// The version new executions start on.
    pub current: u32,
    /// The highest version deployed.
    pub latest: u32,
    /// Whether triggers start executions.
    pub active: bool,
}

/// One deployed version of a workflow. Never changed once written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowVersion {
    /// 1, 2, ...
    pub version: u32,
    /// When it was deployed.
    pub deployed_ms: u64,
    /// The definition as deployed.
    pub workflow: super::model::Workflow,
    /// The exact plugin versions its ranges resolved to.
    pub pins: BTreeMap<String, Version>,
    /// Node outputs pinned for a test run (node id, then port, then items):
    /// those nodes are not called, their steps emit these. Only the drafts
    /// of test runs have any ([`crate::engine::Engine::test_run`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pinned: BTreeMap<String, BTreeMap<String, Vec<Json>>>,
    /// The exact version of each workflow its nodes call, resolved at deploy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calls: BTreeMap<String, u32>,
}

/// How an execution was started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerInfo {
    /// The trigger's id in the workflow.
    pub id: String,
    /// The items it started with.
    pub items: Vec<Json>,
}

/// Why an execution failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionError {
    /// The node that failed, if a node did.
    pub node: Option<String>,
    /// Its step number.
    pub step: Option<u64>,
    /// What happened.
    pub message: String,
    /// The node's failure, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<NodeFailure>,
}

/// One execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// UUIDv7.
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The workflow version it runs, whatever is deployed since.
    pub workflow_version: u32,
    /// Exact plugin versions, pinned at start.
    pub pins: BTreeMap<String, Version>,
    /// Where it stands.
    pub status: Status,
    /// What started it.
    pub trigger: TriggerInfo,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Last change.
    pub updated_ms: u64,
    /// When it finished.
    pub finished_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<ExecutionError>,
    /// The execution this one re-runs from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
    /// What remains to do.
    pub state: ExecState,
    /// The steps of an execution that finished in its first commit (most
    /// webhooks' executions), kept in its record instead of under `st/`: one
    /// record written instead of two. Later steps (of a retry) go under
    /// `st/` as usual. [`crate::engine::Engine::steps`] reads both, and
    /// [`crate::engine::Engine::execution`] leaves this empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_steps: Vec<StepRecord>,
    /// The execution whose node started this one, when a node did (a sub-workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    /// How many calls deep it runs: 0 when a trigger started it, its
    /// parent's depth plus one when a node did.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub depth: u32,
    /// Its compensations, once it failed after steps that name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<CompensationReport>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The step of another execution that started this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent execution.
    pub execution_id: String,
    /// Its step.
    pub step: u64,
    /// Its node.
    pub node: String,
    /// Whether the parent's step waits for this one's result.
    pub waits: bool,
}

/// The part of an execution that says what runs next: enough to continue
/// after a crash from the last committed step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecState {
    /// The next step number to hand out.
    pub next_step: u64,
    /// The next step-record sequence number.
    pub next_record: u64,
    /// Node runs so far, against the workflow's `max_steps`.
    pub runs: u32,
    /// Activations that are ready or were running when this was written.
    pub ready: Vec<Activation>,
    /// Activations suspended on a timer or an event.
    pub parked: Vec<Parked>,
    /// Items that arrived at a join, per node and incoming edge, while it waits for the rest.
    pub inbox: BTreeMap<String, BTreeMap<usize, Vec<Json>>>,
    /// Trips along each loop-closing edge.
    pub loops: BTreeMap<usize, u32>,
    /// The activation that failed, for retry-from-failed.
    pub failed: Option<Activation>,
    /// The next follow-up action's sequence number.
    #[serde(default)]
    pub next_action: u64,
    /// Fuel its calls used so far, against the operator's budget per execution.
    #[serde(default)]
    pub fuel_used: u64,
    /// The compensations due should it fail: one per finished step whose
    /// node names one, in the order they finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensable: Vec<Compensable>,
    /// The step of the compensation running now, once it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensating: Option<u64>,
    /// Per batches node in the middle of its items: what is still to hand
    /// on, and what came back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub batches: BTreeMap<String, BatchState>,
}

/// A batches node's progress through its items.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BatchState {
    /// Items not handed on yet.
    pub pending: Vec<Json>,
    /// Items that came back along the loop.
    pub done: Vec<Json>,
}

/// A finished step's compensation, due if its execution fails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compensable {
    /// The step that finished.
    pub step: u64,
    /// Its node.
    pub node: String,
    /// The node that undoes it.
    pub by: String,
    /// The items the step emitted: the compensation's input.
    pub items: Vec<Json>,
}

/// What became of a failed execution's compensations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompensationReport {
    /// `running`, `completed` (each succeeded) or `failed` (one or more failed).
    pub status: String,
    /// Each compensation run, in the order run (newest step first).
    pub steps: Vec<CompensationStep>,
}

/// One compensation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompensationStep {
    /// The step it undoes, and that step's node.
    pub compensates: u64,
    /// The compensated node.
    pub node: String,
    /// The compensating node, and its step.
    pub by: String,
    /// Its step number.
    pub step: u64,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A node run waiting to happen (or to be resumed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activation {
    /// Unique in the execution; with the execution id it is the idempotency key.
    pub step: u64,
    /// The node's id.
    pub node: String,
    /// Input items.
    pub items: Vec<Json>,
    /// 1, 2, ...
    pub attempt: u32,
    /// Set when this call resumes a wait.
    pub resume: Option<Resume>,
}

/// What a resumed wait is handed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resume {
    /// The state the node asked to get back.
    pub state: Json,
    /// The event that ended the wait; `None` when the timer did.
    pub event: Option<Json>,
}

/// A suspended activation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Parked {
    /// The activation to run when woken (a retry) or to resume (a wait).
    pub activation: Activation,
    /// Wake at this time.
    pub until_ms: Option<u64>,
    /// Or on this event.
    pub event: Option<String>,
    /// For a wait: the node's state. `None` marks a retry backoff.
    pub wait_state: Option<Json>,
}

/// An event handed to a waiting execution (the value of a `wk/` key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The event's name.
    pub event: String,
    /// Its payload.
    pub payload: Json,
}

/// How one node call ended. (Externally tagged: items are raw JSON, which
/// serde cannot buffer through an internally tagged enum.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Items on ports.
    Emitted {
        /// Port name to items.
        ports: Vec<(String, Vec<Json>)>,
    },
    /// Suspended.
    Waiting {
        /// Until when.
        until_ms: Option<u64>,
        /// For which event.
        event: Option<String>,
    },
    /// Failed.
    Failed {
        /// How.
        failure: NodeFailure,
        /// What the engine does next: `retry`, `stop`, `continue`, `error_port`.
        then: String,
    },
}

/// One node call, as the history shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step number (shared by the attempts and resumptions of one step).
    pub step: u64,
    /// The node's id.
    pub node: String,
    /// `publisher/name@version` that ran.
    pub plugin: String,
    /// 1, 2, ...
    pub attempt: u32,
    /// Passed to the node; the same for every attempt.
    pub idempotency_key: String,
    /// Whether this call resumed a wait.
    pub resumed: bool,
    /// Input items.
    pub input: Vec<Json>,
    /// What came of it.
    pub outcome: StepOutcome,
    /// Fuel used.
    pub fuel: u64,
    /// When it started.
    pub started_ms: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// What the plugin logged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// Capability refusals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denials: Vec<String>,
    /// The execution this step started, when its node calls a workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_execution: Option<String>,
}

/// What an execution's steps came to: the items of its last step that
/// emitted (on every port), as a synchronous webhook answers and a calling
/// node receives.
pub fn last_output(steps: &[StepRecord]) -> Vec<&Json> {
    steps
        .iter()
        .rev()
        .find_map(|step| match &step.outcome {
            StepOutcome::Emitted { ports } => Some(ports.iter().flat_map(|(_, items)| items.iter()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

pub(crate) mod keys {
    //! Key layout; see the module docs.

    use super::Status;
    use crate::store::Batch;

    pub const HEADS: &[u8] = b"wh/";
    pub fn head(workflow: &str) -> Vec<u8> {
        format!("wh/{workflow}").into_bytes()
    }
    pub fn version(workflow: &str, version: u32) -> Vec<u8> {
        format!("wv/{workflow}/{version:010}").into_bytes()
    }
    pub fn versions(workflow: &str) -> Vec<u8> {
        format!("wv/{workflow}/").into_bytes()
    }
    pub fn execution(id: &str) -> Vec<u8> {
        format!("ex/{id}").into_bytes()
    }
    pub fn workflow_execution(workflow: &str, id: &str) -> Vec<u8> {
        format!("wx/{workflow}\u{0}{id}").into_bytes()
    }
    pub fn workflow_executions(workflow: &str) -> Vec<u8> {
        format!("wx/{workflow}\u{0}").into_bytes()
    }
    /// Set once every `ex/` record has its `wx/` key.
    pub const WORKFLOW_INDEX_BUILT: &[u8] = b"meta/wx";
    pub fn step_chunk(id: &str, first_seq: u64) -> Vec<u8> {
        format!("st/{id}/{first_seq:010}").into_bytes()
    }
    pub fn steps(id: &str) -> Vec<u8> {
        format!("st/{id}/").into_bytes()
    }
    /// Where running executions are listed (their index by status too).
    pub const ACTIVE: &[u8] = b"ac/";
    pub fn active(id: &str) -> Vec<u8> {
        [ACTIVE, id.as_bytes()].concat()
    }
    /// Where the executions that have `status` are listed (`running`: the
    /// `ac/` keys), followed by their ids; `None` for `succeeded`, which has
    /// no index.
    pub fn by_status(status: Status) -> Option<&'static [u8]> {
        match status {
            Status::Running => Some(ACTIVE),
            Status::Waiting => Some(b"xs/waiting/"),
            Status::Failed => Some(b"xs/failed/"),
            Status::Cancelled => Some(b"xs/cancelled/"),
            Status::Succeeded => None,
        }
    }
    pub const STATUSES_INDEXED: &[u8] = b"xs/";
    /// Set once every execution has its key by status.
    pub const STATUS_INDEX_BUILT: &[u8] = b"meta/xs";
    /// The store's format ([`super::STORE_FORMAT`]), as a decimal number.
    pub const FORMAT: &[u8] = b"meta/format";
    /// In `batch`, move execution `id` from its status index as stored
    /// (`None`: not stored yet) to the one of `new`.
    pub fn restatus(batch: &mut Batch, id: &str, stored: Option<Status>, new: Status) {
        if stored == Some(new) {
            return;
        }
        if let Some(key) = stored.and_then(|s| status_entry(s, id)) {
            batch.delete(key);
        }
        if let Some(key) = status_entry(new, id) {
            batch.put(key, Vec::new());
        }
    }
    /// Execution `id`'s key in the index of `status`, if it has one.
    pub fn status_entry(status: Status, id: &str) -> Option<Vec<u8>> {
        by_status(status).map(|prefix| [prefix, id.as_bytes()].concat())
    }
    pub fn timer(due_ms: u64, id: &str, step: u64) -> Vec<u8> {
        format!("tm/{due_ms:016x}/{id}/{step:010}").into_bytes()
    }
    pub fn subscription(event: &str, id: &str, step: u64) -> Vec<u8> {
        format!("sb/{event}\u{0}{id}/{step:010}").into_bytes()
    }
    pub fn subscriptions(event: &str) -> Vec<u8> {
        format!("sb/{event}\u{0}").into_bytes()
    }
    pub const OUTBOX: &[u8] = b"ob/";
    pub fn action(id: &str, seq: u64) -> Vec<u8> {
        format!("ob/{id}/{seq:010}").into_bytes()
    }
    pub fn schedules(workflow: &str) -> Vec<u8> {
        format!("sc/{workflow}\u{0}").into_bytes()
    }
    pub fn schedule(workflow: &str, trigger: &str) -> Vec<u8> {
        format!("sc/{workflow}\u{0}{trigger}").into_bytes()
    }
    /// Events that arrived while nothing waited on their exact name, kept
    /// for a later wait (see `engine::kept_events`).
    pub const KEPT_EVENTS: &[u8] = b"ek/";
    pub fn kept_events(event: &str) -> Vec<u8> {
        format!("ek/{event}\u{0}").into_bytes()
    }
    pub fn kept_event(event: &str, arrived_ms: u64, nonce: u32) -> Vec<u8> {
        format!("ek/{event}\u{0}{arrived_ms:016x}-{nonce:08x}").into_bytes()
    }
    /// When a kept event's key says it arrived.
    pub fn kept_event_arrived(key: &[u8]) -> Option<u64> {
        let at = key.iter().rposition(|b| *b == 0)?;
        let tail = std::str::from_utf8(&key[at + 1..]).ok()?;
        u64::from_str_radix(tail.split('-').next()?, 16).ok()
    }
    pub fn wake(id: &str, step: u64) -> Vec<u8> {
        format!("wk/{id}/{step:010}").into_bytes()
    }

    /// `(due, execution, step)` of a timer key.
    pub fn parse_timer(key: &[u8]) -> Option<(u64, String, u64)> {
        let text = std::str::from_utf8(key).ok()?.strip_prefix("tm/")?;
        let mut parts = text.split('/');
        let due = u64::from_str_radix(parts.next()?, 16).ok()?;
        let id = parts.next()?.to_string();
        let step = parts.next()?.parse().ok()?;
        Some((due, id, step))
    }

    /// `(execution, step)` at the end of a subscription or wake key.
    pub fn parse_tail(key: &[u8]) -> Option<(String, u64)> {
        let text = std::str::from_utf8(key).ok()?;
        let text = text.rsplit('\u{0}').next()?;
        let text = text.strip_prefix("wk/").unwrap_or(text);
        let (id, step) = text.rsplit_once('/')?;
        let id = id.rsplit('/').next()?;
        Some((id.to_string(), step.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn a_status_has_one_name_in_records_answers_and_metrics() {
        for status in [Status::Running, Status::Waiting, Status::Succeeded, Status::Failed, Status::Cancelled] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
    }
}
