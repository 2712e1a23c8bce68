//! `wirework/slack`: Slack's Web API and interactivity.
//!
//! | node            | what it does |
//! |-----------------|--------------|
//! | `post-message`  | `chat.postMessage`, one message per input item |
//! | `approval`      | posts a message with Approve / Reject buttons and waits for the click (or a timeout) |
//! | `lookup-user`   | `users.lookupByEmail`, one user per input item |
//! | `list-channels` | `conversations.list`, following Slack's cursor up to `limit` |
//! | `interactions`  | trigger: Slack's signed interactivity requests; a click on an approval's button publishes `slack.approval:<key>` |
//!
//! Requests go to `{base_url}/api/<method>` (default base `https://slack.com`),
//! authenticated by the host with the bound `slack-bot` credential as a bearer
//! token: the plugin reads only its non-secret `base_url`. Slack answers most
//! failures with HTTP 200 and `{"ok": false, "error": "..."}`: [`api_error`]
//! turns those, and HTTP failures, into node errors (the code is Slack's own
//! error string, e.g. `channel_not_found`).

mod approval;
mod directory;
mod interactions;
mod message;

pub use approval::{Approval, ApprovalConfig};
pub use directory::{ListChannels, ListChannelsConfig, LookupUser, LookupUserConfig};
pub use interactions::{Interactions, InteractionsConfig};
pub use message::{PostMessage, PostMessageConfig};

use serde_json::Value;
use wirework_sdk::{credentials, http, log, NodeError, Response};

/// The credential type of the bot token (bearer, sent by the host).
pub const BOT_CREDENTIAL: &str = "slack-bot";
/// The credential type of the app's signing secret (read by the trigger).
pub const SIGNING_CREDENTIAL: &str = "slack-signing";
/// Slack's API base, when the credential gives no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://slack.com";

/// Slack `error` strings that say "try again later" rather than "this request
/// is wrong" (Slack's Web API docs list them for every method).
const RETRYABLE_ERRORS: &[&str] =
    &["ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"];

/// `{base}/api/{method}`, the base from the bound credential (default
/// [`DEFAULT_BASE_URL`]), without a trailing `/`.
fn api_url(method: &str) -> Result<String, NodeError> {
    let credential = credentials::get(BOT_CREDENTIAL)?;
    let base = credential.optional("base_url").unwrap_or(DEFAULT_BASE_URL).trim().trim_end_matches('/');
    Ok(format!("{base}/api/{method}"))
}

/// POST a JSON body to a Web API method; the answer's JSON when `ok` is true.
fn post(method: &str, what: &str, body: &Value) -> Result<Value, NodeError> {
    let body = serde_json::to_vec(body).expect("a JSON value serialises");
    let response = http::post(&api_url(method)?)
        // Slack warns `missing_charset` without the charset.
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .credential(BOT_CREDENTIAL)
        .send()?;
    answer(method, what, &response)
}

/// GET a Web API method with these query parameters; the answer's JSON when `ok` is true.
fn get(method: &str, what: &str, query: &[(&str, &str)]) -> Result<Value, NodeError> {
    let mut url = api_url(method)?;
    if !query.is_empty() {
        url = format!("{url}?{}", wirework_sdk::form::encode_pairs(query));
    }
    let response = http::get(&url).credential(BOT_CREDENTIAL).send()?;
    answer(method, what, &response)
}

/// The body of a successful answer, or the error [`api_error`] makes of it.
fn answer(method: &str, what: &str, response: &Response) -> Result<Value, NodeError> {
    let what = format!("{what} ({method})");
    if !(200..300).contains(&response.status) {
        return Err(api_error(&what, response));
    }
    let body: Value = match serde_json::from_slice(&response.body) {
        Ok(body) => body,
        Err(_) => return Err(api_error(&what, response)),
    };
    if body["ok"] != Value::Bool(true) {
        return Err(api_error(&what, response));
    }
    if let Some(warning) = body["warning"].as_str() {
        log::debug(&format!("{what}: Slack warned `{warning}`"));
    }
    Ok(body)
}

/// The node error for a Slack answer that is not a success: an HTTP status
/// other than 2xx, or `{"ok": false, "error": "..."}`.
///
/// - code: Slack's `error` string when the body has one (`channel_not_found`,
///   `ratelimited`, `invalid_auth`), else `http_<status>` (`bad_response` for
///   a 2xx whose body is not Slack's JSON);
/// - retryable: HTTP 408, 429 and 5xx, and the errors Slack documents as
///   transient (`ratelimited`, `internal_error`, `fatal_error`,
///   `service_unavailable`, `request_timeout`), with `retry_after_ms` from
///   `Retry-After` (seconds) when given; everything else is fatal;
/// - message: `what` (the action and the method), Slack's error, and the
///   details Slack adds (`needed` scope, `response_metadata.messages`).
pub fn api_error(what: &str, response: &Response) -> NodeError {
    let status = response.status;
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let slack_error = body.as_ref().and_then(|b| b["error"].as_str()).filter(|e| !e.is_empty());
    let retryable =
        matches!(status, 408 | 429 | 500..=599) || slack_error.is_some_and(|e| RETRYABLE_ERRORS.contains(&e));
    let http = if status == 200 { String::new() } else { format!(" (HTTP {status})") };
    let (message, code) = match slack_error {
        Some(error) => {
            let mut message = format!("{what}: Slack answered `{error}`{http}");
            let body = body.as_ref().expect("an error came from the body");
            if let Some(needed) = body["needed"].as_str() {
                message.push_str(&format!("; the token needs the scope `{needed}`"));
            }
            let details: Vec<&str> = body["response_metadata"]["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !details.is_empty() {
                message.push_str(&format!(": {}", details.join("; ")));
            }
            (message, error.to_string())
        }
        None if (200..300).contains(&status) => {
            let excerpt: String = String::from_utf8_lossy(&response.body).chars().take(200).collect();
            (format!("{what}: Slack's answer is not the expected JSON: {excerpt}"), "bad_response".to_string())
        }
        None => {
            let excerpt: String = String::from_utf8_lossy(&response.body).chars().take(200).collect();
            (format!("{what}: HTTP {status}: {excerpt}"), format!("http_{status}"))
        }
    };
    let error = if retryable { NodeError::retryable(message) } else { NodeError::fatal(message) };
    let error = error.with_code(&code);
    match response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(secs) if retryable => error.retry_after_ms(secs.saturating_mul(1000)),
        _ => error,
    }
}

/// A config string that an expression may have made a number or a boolean
/// (`"{{ $json.amount }}"` keeps its JSON type); `null` is `None`.
fn opt_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error as _;
    use serde::Deserialize as _;
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        value @ (Value::Number(_) | Value::Bool(_)) => Ok(Some(value.to_string())),
        value => Err(D::Error::custom(format!("expected a string, not {value}"))),
    }
}

/// A config error.
fn bad_config(message: impl Into<String>) -> NodeError {
    NodeError::fatal(message).with_code("bad_config")
}

/// A required text field of the (evaluated) config, trimmed, or a config error naming it.
fn required<'a>(value: &'a str, name: &str) -> Result<&'a str, NodeError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(bad_config(format!("`{name}` is empty")));
    }
    Ok(value)
}

wirework_sdk::plugin!(PostMessage, Approval, LookupUser, ListChannels, Interactions);

#[cfg(test)]
mod testkit {
    //! What every test module uses.
    use wirework_sdk::testing::FakeHost;

    /// The bot token the tests bind: it must never show in an error or a log.
    pub const TOKEN: &str = "xoxb-1111-2222-s3cr3t-t0k3n";
    /// The signing secret of Slack's published example.
    pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    /// A host with the bot token bound (no base_url: Slack itself).
    pub fn bot() -> FakeHost {
        FakeHost::new().credential(super::BOT_CREDENTIAL, &[("token", TOKEN)])
    }

    /// A host whose credential points at another base (with a trailing `/`).
    pub fn bot_at(base: &str) -> FakeHost {
        FakeHost::new().credential(super::BOT_CREDENTIAL, &[("token", TOKEN), ("base_url", base)])
    }

    /// Assert that the token shows nowhere the host records.
    pub fn assert_no_secret(host: &FakeHost, error: &wirework_sdk::NodeError) {
        assert!(!error.message.contains(TOKEN), "the token leaked into {error:?}");
        assert!(!error.code.as_deref().unwrap_or("").contains(TOKEN));
        for (_, line) in host.logs() {
            assert!(!line.contains(TOKEN), "the token leaked into the log: {line}");
            assert!(!line.contains(SIGNING_SECRET), "the signing secret leaked into the log: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Response { status, headers, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn ok_false_is_fatal_with_slacks_error_as_code() {
        let e =
            api_error("posting (chat.postMessage)", &response(200, &[], r#"{"ok":false,"error":"channel_not_found"}"#));
        assert!(!e.retryable);
        assert_eq!(e.code.as_deref(), Some("channel_not_found"));
        assert_eq!(e.message, "posting (chat.postMessage): Slack answered `channel_not_found`");
        assert_eq!(e.retry_after_ms, None);
    }

    #[test]
    fn transient_slack_errors_are_retryable() {
        for error in ["internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"] {
            let body = json!({"ok": false, "error": error}).to_string();
            let e = api_error("x", &response(200, &[], &body));
            assert!(e.retryable, "{error}");
            assert_eq!(e.code.as_deref(), Some(error));
        }
    }

    #[test]
    fn http_429_and_5xx_are_retryable_with_retry_after() {
        let e = api_error("x", &response(429, &[("Retry-After", "30")], ""));
        assert!(e.retryable);
        assert_eq!(e.retry_after_ms, Some(30_000));
        assert_eq!(e.code.as_deref(), Some("http_429"));
        let e = api_error("x", &response(429, &[("retry-after", "2")], r#"{"ok":false,"error":"ratelimited"}"#));
        assert_eq!((e.retryable, e.retry_after_ms, e.code.as_deref()), (true, Some(2000), Some("ratelimited")));
        assert!(e.message.contains("(HTTP 429)"), "{}", e.message);
        let e = api_error("x", &response(503, &[], "<html>upstream</html>"));
        assert_eq!((e.retryable, e.code.as_deref()), (true, Some("http_503")));
        assert!(e.message.contains("HTTP 503: <html>upstream</html>"), "{}", e.message);
        let e = api_error("x", &response(408, &[], ""));
        assert!(e.retryable);
    }

    #[test]
    fn other_4xx_are_fatal_and_ignore_retry_after() {
        let e = api_error("x", &response(404, &[("retry-after", "5")], "Not Found"));
        assert_eq!((e.retryable, e.retry_after_ms, e.code.as_deref()), (false, None, Some("http_404")));
        let e = api_error("x", &response(400, &[], r#"{"ok":false,"error":"invalid_arguments"}"#));
        assert_eq!((e.retryable, e.code.as_deref()), (false, Some("invalid_arguments")));
    }

    #[test]
    fn details_slack_adds_are_in_the_message() {
        let body = json!({
            "ok": false, "error": "missing_scope", "needed": "chat:write", "provided": "users:read",
        });
        let e = api_error("x", &response(200, &[], &body.to_string()));
        assert!(e.message.contains("needs the scope `chat:write`"), "{}", e.message);
        let body = json!({
            "ok": false, "error": "invalid_blocks",
            "response_metadata": {"messages": ["[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]"]},
        });
        let e = api_error("x", &response(200, &[], &body.to_string()));
        assert!(e.message.ends_with("[json-pointer:/blocks/0/text/text]"), "{}", e.message);
    }

    #[test]
    fn the_manifest_declares_every_node_and_the_event() {
        use wirework_sdk::Node;
        let manifest = include_str!("../plugin.toml");
        for name in [PostMessage::NAME, Approval::NAME, LookupUser::NAME, ListChannels::NAME] {
            let declared = format!("[[node]]\nname = \"{name}\"\ncredentials = [\"{BOT_CREDENTIAL}\"]\n");
            assert!(manifest.contains(&declared), "{name} is not declared as an action taking the bot token");
        }
        let trigger =
            format!("name = \"{}\"\nkind = \"trigger\"\ncredentials = [\"{SIGNING_CREDENTIAL}\"]", Interactions::NAME);
        assert!(manifest.contains(&trigger));
        assert_eq!(manifest.matches("[[node]]").count(), 5);
        assert!(manifest.contains("events = [\"slack.*\"]"));
        assert!(approval::EVENT.starts_with("slack.") && !approval::EVENT.contains(':'));
        assert!(manifest.contains("http = [\"slack.com\", \"*\"]"));
    }

    #[test]
    fn a_2xx_that_is_not_slack_json_is_a_bad_response() {
        let e = api_error("x", &response(200, &[], "<html>captive portal</html>"));
        assert_eq!((e.retryable, e.code.as_deref()), (false, Some("bad_response")));
    }
}
