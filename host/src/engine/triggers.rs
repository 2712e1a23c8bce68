//! The trigger index: everything that starts executions of the active
//! workflows, built in one pass over the workflow heads whenever a deploy,
//! rollback or activation changes them. The engine answers events and
//! fires schedules from it; the server routes webhooks with
//! [`Engine::webhook`](super::Engine::webhook). There is no other copy.

use super::model::TriggerType;
use super::records::{WorkflowHead, WorkflowVersion};
use super::schedule::{CronSchedule, Scheduled};
use semver::Version;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where one webhook goes: the trigger node that turns its requests into items.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The workflow.
    pub workflow: String,
    /// Its current version, which requests start.
    pub version: u32,
    /// The trigger's id.
    pub trigger: String,
    /// The plugin of the trigger node (`publisher/name`).
    pub plugin: String,
    /// The exact version the workflow version pinned.
    pub plugin_version: Version,
    /// The trigger node's name.
    pub node: String,
    /// The trigger node's configuration, JSON.
    pub config: String,
    /// Answer with the execution's result (`sync`) rather than at once.
    pub sync: bool,
    /// The trigger node's credential bindings.
    pub credentials: BTreeMap<String, String>,
}

/// The active workflows' triggers (see the module docs).
#[derive(Debug, Default)]
pub struct TriggerIndex {
    /// Every workflow's current version, active or not (manual starts).
    current: HashMap<String, u32>,
    /// Event name to the (workflow, trigger) pairs it starts.
    events: HashMap<String, Vec<(String, String)>>,
    /// (workflow, path without surrounding `/`) to its webhook.
    webhooks: HashMap<(String, String), Arc<Webhook>>,
}

/// A webhook path as routed: without surrounding slashes.
pub fn normalise_path(path: &str) -> &str {
    path.trim_matches('/')
}

impl TriggerIndex {
    /// Index `workflows` (each head with its current version, when that
    /// version could be read); the active schedules come back apart, for the
    /// schedule loop.
    pub(crate) fn build(workflows: Vec<(WorkflowHead, Option<WorkflowVersion>)>) -> (TriggerIndex, Vec<Scheduled>) {
        let mut index = TriggerIndex::default();
        let mut schedules = Vec::new();
        for (head, version) in workflows {
            index.current.insert(head.id.clone(), head.current);
            let (true, Some(version)) = (head.active, version) else { continue };
            for trigger in &version.workflow.triggers {
                match trigger.kind {
                    TriggerType::Event => {
                        if let Some(event) = &trigger.event {
                            let starts = index.events.entry(event.clone()).or_default();
                            starts.push((head.id.clone(), trigger.id.clone()));
                        }
                    }
                    TriggerType::Schedule => {
                        let Some(cron) = &trigger.cron else { continue };
                        match CronSchedule::parse(cron, trigger.timezone.as_deref()) {
                            Ok(schedule) => schedules.push(Scheduled {
                                workflow: head.id.clone(),
                                version: head.current,
                                trigger: trigger.id.clone(),
                                schedule,
                                since_ms: None,
                            }),
                            Err(e) => tracing::warn!(workflow = %head.id, "skipping schedule: {e}"),
                        }
                    }
                    TriggerType::Webhook => {
                        let (Some(path), Some(uses)) = (&trigger.path, &trigger.uses) else { continue };
                        let Ok((plugin, _)) = super::validate::parse_uses(uses) else { continue };
                        let Some(plugin_version) = version.pins.get(&plugin).cloned() else { continue };
                        let config = if trigger.config.is_null() { json!({}) } else { trigger.config.clone() };
                        let webhook = Webhook {
                            workflow: head.id.clone(),
                            version: head.current,
                            trigger: trigger.id.clone(),
                            plugin,
                            plugin_version,
                            node: trigger.node.clone().unwrap_or_else(|| "webhook".into()),
                            config: config.to_string(),
                            sync: trigger.mode.as_deref() == Some("sync"),
                            credentials: trigger.credentials.clone(),
                        };
                        let key = (head.id.clone(), normalise_path(path).to_string());
                        index.webhooks.insert(key, Arc::new(webhook));
                    }
                    TriggerType::Manual | TriggerType::Error => {}
                }
            }
        }
        (index, schedules)
    }

    /// A workflow's current version.
    pub fn current(&self, workflow: &str) -> Option<u32> {
        self.current.get(workflow).copied()
    }

    /// The (workflow, trigger) pairs event `name` starts: the triggers
    /// listening for exactly `name`, and for a keyed event (`name:key`,
    /// e.g. `email.opened:ann@example.com`) those listening for its name
    /// before the first `:` (`email.opened`) too.
    pub fn event_starts(&self, name: &str) -> Vec<(String, String)> {
        let exact = self.events.get(name).into_iter().flatten();
        let base = match name.split_once(':') {
            Some((base, _)) => self.events.get(base),
            None => None,
        };
        exact.chain(base.into_iter().flatten()).cloned().collect()
    }

    /// The active webhook of `workflow` at `path`.
    pub fn webhook(&self, workflow: &str, path: &str) -> Option<Arc<Webhook>> {
        self.webhooks.get(&(workflow.to_string(), normalise_path(path).to_string())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::Workflow;

    fn deployed(id: &str, active: bool, text: &str) -> (WorkflowHead, Option<WorkflowVersion>) {
        let workflow = Workflow::parse(text).unwrap();
        let pins = [("wirework/core".to_string(), Version::new(0, 1, 2))].into();
        let version = WorkflowVersion {
            version: 3,
            deployed_ms: 0,
            workflow,
            pins,
            pinned: Default::default(),
            calls: Default::default(),
        };
        (WorkflowHead { id: id.into(), current: 3, latest: 3, active }, Some(version))
    }

    const ALL_KINDS: &str = r#"
id: intake
triggers:
  - {id: form, type: webhook, path: /leads/new/, uses: wirework/core@^0.1, mode: sync}
  - {id: nightly, type: schedule, cron: "0 3 * * *", timezone: Europe/Paris}
  - {id: signup, type: event, event: contact.added}
  - {id: by-hand, type: manual}
nodes: [{id: tag, uses: wirework/core@^0.1, node: set, config: {fields: {stage: new}}}]
connections: [{from: form, to: tag}, {from: nightly, to: tag}, {from: signup, to: tag}, {from: by-hand, to: tag}]
"#;

    #[test]
    fn one_pass_indexes_every_kind_of_the_active_workflows_only() {
        let off = ALL_KINDS.replace("id: intake", "id: paused");
        let (index, schedules) =
            TriggerIndex::build(vec![deployed("intake", true, ALL_KINDS), deployed("paused", false, &off)]);
        let hook = index.webhook("intake", "leads/new").expect("routed without the slashes");
        assert_eq!((hook.trigger.as_str(), hook.node.as_str(), hook.sync), ("form", "webhook", true));
        assert_eq!(
            (hook.plugin.as_str(), hook.plugin_version.to_string(), hook.version),
            ("wirework/core", "0.1.2".into(), 3)
        );
        assert_eq!(hook.config, "{}");
        assert!(index.webhook("paused", "leads/new").is_none(), "an inactive workflow's hooks are gone");
        assert_eq!(index.event_starts("contact.added"), [("intake".to_string(), "signup".to_string())]);
        assert!(index.event_starts("contact.removed").is_empty());
        assert_eq!(
            index.event_starts("contact.added:ann@example.com"),
            [("intake".to_string(), "signup".to_string())],
            "a keyed event starts the triggers on its name"
        );
        assert!(index.event_starts("contact.added.more:x").is_empty());
        assert_eq!(schedules.iter().map(|s| s.workflow.as_str()).collect::<Vec<_>>(), ["intake"]);
        assert_eq!(
            (index.current("intake"), index.current("paused")),
            (Some(3), Some(3)),
            "manual starts need only the version"
        );
    }
}
