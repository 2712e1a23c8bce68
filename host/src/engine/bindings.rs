//! A node's or trigger's `credentials` map bound to values for one call.
//!
//! Each key of the map is either a credential type the plugin declares
//! (`bearer: github-token`: the stored credential must be of the plugin's
//! type `bearer`) or a secret name its manifest requests (`API_KEY:
//! sendgrid-prod`: the stored credential must be a plain value). A deploy
//! checks both ([`check`]); a call binds them ([`bind`]), failing with a
//! setup error when a credential was deleted or changed type since.

use super::nodes::{credential_type_id, CredentialValue, Credentials};
use crate::runtime::{Bound, BoundCredentials};
use std::collections::BTreeMap;
use std::sync::Arc;
use wirework_registry::CredentialType;

/// What one binding of a `credentials` map takes.
enum Slot<'a> {
    /// A credential of this declared type.
    Typed(&'a CredentialType),
    /// A plain value for this requested secret.
    Secret,
}

fn slot<'a>(key: &str, types: &'a [CredentialType], secrets: &[String]) -> Result<Slot<'a>, String> {
    if let Some(kind) = types.iter().find(|t| t.name == key) {
        return Ok(Slot::Typed(kind));
    }
    if secrets.iter().any(|s| s == key) {
        return Ok(Slot::Secret);
    }
    let mut takes: Vec<String> = types.iter().map(|t| format!("credential type `{}`", t.name)).collect();
    takes.extend(secrets.iter().map(|s| format!("secret `{s}`")));
    let takes = if takes.is_empty() { "nothing".to_string() } else { takes.join(", ") };
    Err(format!("`{key}` is neither a credential type nor a secret of this plugin (it takes {takes})"))
}

/// Check one binding against the credential it names as stored now: `key`
/// of a node of `plugin` bound to credential `name`. `Err` says what is wrong.
pub(crate) fn check(
    credentials: &dyn Credentials,
    plugin: &str,
    types: &[CredentialType],
    secrets: &[String],
    key: &str,
    name: &str,
) -> Result<(), String> {
    let slot = slot(key, types, secrets)?;
    let Some(kind) = credentials.kind(name) else {
        return Err(format!("no credential `{name}` is stored"));
    };
    match (slot, kind) {
        (Slot::Typed(t), Some(kind)) if kind == credential_type_id(plugin, &t.name) => Ok(()),
        (Slot::Typed(t), Some(kind)) => Err(format!(
            "credential `{name}` is of type `{kind}`; this takes one of type `{}`",
            credential_type_id(plugin, &t.name)
        )),
        (Slot::Typed(t), None) => Err(format!(
            "credential `{name}` is a plain value; this takes one of type `{}`",
            credential_type_id(plugin, &t.name)
        )),
        (Slot::Secret, None) => Ok(()),
        (Slot::Secret, Some(kind)) => {
            Err(format!("credential `{name}` is of type `{kind}`; secret `{key}` takes a plain value"))
        }
    }
}

/// The values `bindings` hand one call of a node of `plugin`. `Err` names
/// the binding that cannot be made.
pub(crate) fn bind(
    credentials: &dyn Credentials,
    plugin: &str,
    types: &[CredentialType],
    secrets: &[String],
    bindings: &BTreeMap<String, String>,
) -> Result<Bound, String> {
    let mut bound_secrets = BTreeMap::new();
    let mut bound_credentials = BoundCredentials::new();
    for (key, name) in bindings {
        let slot = slot(key, types, secrets)?;
        let value = credentials.get(name).ok_or_else(|| format!("credential `{name}` (bound to {key}) is not set"))?;
        match (slot, value) {
            (Slot::Secret, CredentialValue::Plain(value)) => {
                bound_secrets.insert(key.clone(), value);
            }
            (Slot::Typed(t), CredentialValue::Typed { kind, fields })
                if kind == credential_type_id(plugin, &t.name) =>
            {
                if let Some(missing) = t.fields.iter().find(|f| !f.optional && !fields.contains_key(&f.name)) {
                    return Err(format!("credential `{name}` (bound to {key}) has no field `{}`", missing.name));
                }
                bound_credentials.insert(key.clone(), fields);
            }
            _ => {
                let problem = check(credentials, plugin, types, secrets, key, name).err();
                return Err(problem.unwrap_or_else(|| format!("credential `{name}` does not fit {key}")));
            }
        }
    }
    Ok(Bound {
        secrets: (!bound_secrets.is_empty()).then(|| Arc::new(bound_secrets)),
        credentials: (!bound_credentials.is_empty()).then(|| Arc::new(bound_credentials)),
    })
}
