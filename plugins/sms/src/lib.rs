//! `wirework/sms`: SMS through Twilio's Programmable Messaging API.
//!
//! | node            | what it does |
//! |-----------------|--------------|
//! | `send`          | sends one SMS/MMS per input item (`POST .../Messages.json`) |
//! | `list-messages` | lists messages by `To`, `From` and date, following `next_page_uri` up to `limit` |
//! | `inbound`       | trigger: Twilio's webhooks for inbound messages and status callbacks, signature checked |
//!
//! All three take the credential type `twilio` (`account_sid`, `auth_token`,
//! optional `base_url`): the host sends it as HTTP Basic on API calls, and
//! `inbound` reads `auth_token` to verify `X-Twilio-Signature`.
//! See the README for the request shapes, items and events.

mod inbound;
mod list;
mod send;

pub use inbound::{Inbound, InboundConfig, Kind};
pub use list::{ListConfig, ListMessages};
pub use send::{SendConfig, SendMessage};

use serde::Deserialize;
use serde_json::Value;
use wirework_sdk::{credentials, NodeError, Response};

/// The credential type every node takes.
pub const CREDENTIAL: &str = "twilio";

/// Twilio's API, when the credential names no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// What the nodes take from the bound credential: only non-secret fields.
struct Account {
    /// `AC...`, part of every API path.
    sid: String,
    /// `base_url` without a trailing `/`, or [`DEFAULT_BASE_URL`].
    base: String,
}

impl Account {
    fn bound() -> Result<Account, NodeError> {
        let credential = credentials::get(CREDENTIAL)?;
        let sid = credential.field("account_sid")?.trim();
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(NodeError::fatal(
                "the bound `twilio` credential's account_sid is not an Account SID (AC followed by letters and digits)",
            )
            .with_code("bad_credential"));
        }
        let base = credential.optional("base_url").unwrap_or(DEFAULT_BASE_URL).trim().trim_end_matches('/');
        Ok(Account { sid: sid.to_string(), base: base.to_string() })
    }

    /// `{base}/2010-04-01/Accounts/{sid}/Messages.json`.
    fn messages_url(&self) -> String {
        format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base, self.sid)
    }
}

/// Twilio's documented error body: `{"code": 21211, "message": "...",
/// "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u64>,
    message: Option<String>,
    more_info: Option<String>,
}

/// The error for a Twilio answer that is not a success: retryable for 408,
/// 429 and 5xx (with `Retry-After` in seconds when given), fatal otherwise.
/// The code is `twilio_<Twilio's numeric code>` when the body has one, else
/// `http_<status>`; the message says what was asked and Twilio's message.
pub(crate) fn api_error(what: &str, response: &Response) -> NodeError {
    let status = response.status;
    let parsed = serde_json::from_slice::<TwilioError>(&response.body).ok();
    let (message, code) = match parsed {
        Some(TwilioError { code, message: Some(message), more_info }) => {
            let mut text = match code {
                Some(code) => format!("{what}: Twilio error {code} (HTTP {status}): {message}"),
                None => format!("{what}: HTTP {status}: {message}"),
            };
            if let Some(more_info) = more_info.filter(|m| !m.is_empty()) {
                text.push_str(&format!(" ({more_info})"));
            }
            let code = code.map_or_else(|| format!("http_{status}"), |c| format!("twilio_{c}"));
            (text, code)
        }
        _ => {
            let body = String::from_utf8_lossy(&response.body);
            let excerpt: String = body.chars().take(300).collect();
            (format!("{what}: HTTP {status}: {excerpt}"), format!("http_{status}"))
        }
    };
    let error = match status {
        408 | 429 | 500..=599 => NodeError::retryable(message),
        _ => NodeError::fatal(message),
    };
    let error = error.with_code(&code);
    match response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(secs) if error.retryable => error.retry_after_ms(secs.saturating_mul(1000)),
        _ => error,
    }
}

/// A fatal configuration error (`bad_config`).
pub(crate) fn bad_config(message: impl Into<String>) -> NodeError {
    NodeError::fatal(message).with_code("bad_config")
}

/// `Some(trimmed)` for a non-blank string: config values are often
/// expressions that evaluate to `""` when the item lacks the field.
pub(crate) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Twilio writes counts (`num_segments`, `num_media`) as strings: numbers
/// when they parse, the value as it was otherwise.
pub(crate) fn count(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(s)) => s.trim().parse::<u64>().map_or_else(|_| Value::String(s.clone()), Value::from),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

wirework_sdk::plugin!(SendMessage, ListMessages, Inbound);

#[cfg(test)]
pub(crate) mod tests_support {
    use serde_json::Value;
    use wirework_sdk::Node;

    /// The config schema node `N` describes to the host, as the host reads it.
    pub fn schema_of<N: Node>() -> Value {
        let info = wirework_sdk::__private::describe::<N>();
        serde_json::from_str(&info.config_schema).expect("the schema is JSON")
    }

    /// The schema's property names, sorted.
    pub fn property_names(schema: &Value) -> Vec<String> {
        let mut names: Vec<String> = schema["properties"].as_object().expect("properties").keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn api_error_reads_twilios_error_body() {
        let body = json!({
            "code": 21211,
            "message": "The 'To' number +1555 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        });
        let error = api_error("sending the message", &response(400, &[], &body.to_string()));
        assert!(!error.retryable);
        assert_eq!(error.code.as_deref(), Some("twilio_21211"));
        assert_eq!(
            error.message,
            "sending the message: Twilio error 21211 (HTTP 400): The 'To' number +1555 is not a valid phone number. \
             (https://www.twilio.com/docs/errors/21211)"
        );
    }

    #[test]
    fn api_error_classifies_statuses_and_reads_retry_after() {
        let error =
            api_error("x", &response(429, &[("Retry-After", "7")], r#"{"code":20429,"message":"Too Many Requests"}"#));
        assert!(error.retryable);
        assert_eq!(error.retry_after_ms, Some(7000));
        assert_eq!(error.code.as_deref(), Some("twilio_20429"));
        let error = api_error("x", &response(503, &[], "<html>unavailable</html>"));
        assert!(error.retryable);
        assert_eq!(error.retry_after_ms, None);
        assert_eq!(error.code.as_deref(), Some("http_503"));
        assert_eq!(error.message, "x: HTTP 503: <html>unavailable</html>");
        let error = api_error("x", &response(408, &[], ""));
        assert!(error.retryable);
        // A 4xx is fatal, and its Retry-After does not matter.
        let error = api_error("x", &response(404, &[("retry-after", "5")], r#"{"message":"not found","status":404}"#));
        assert!(!error.retryable);
        assert_eq!(error.retry_after_ms, None);
        assert_eq!(error.code.as_deref(), Some("http_404"));
        assert_eq!(error.message, "x: HTTP 404: not found");
    }

    #[test]
    fn counts_become_numbers_when_they_parse() {
        assert_eq!(count(Some(&json!("2"))), json!(2));
        assert_eq!(count(Some(&json!(3))), json!(3));
        assert_eq!(count(Some(&json!("many"))), json!("many"));
        assert_eq!(count(None), Value::Null);
    }
}
