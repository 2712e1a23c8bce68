//! `send`: one message per input item, `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.
//!
//! Twilio's Messages API takes no idempotency key: a retry after a timeout or
//! a 5xx may send the message twice, so workflows should leave `retry` off on
//! this node unless a duplicate is acceptable.

use crate::{api_error, bad_config, count, given, Account, CREDENTIAL};
use serde::Deserialize;
use serde_json::{json, Value};
use wirework_sdk::{form, http, log, Input, Item, Node, NodeError, NodeInfo, Outcome};

/// Configuration of `send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendConfig {
    /// The recipient, E.164 (`+14155552671`), or `whatsapp:+14155552671`.
    pub to: String,
    /// The sender: a Twilio number, short code or alphanumeric sender id.
    #[serde(default)]
    pub from: Option<String>,
    /// A Messaging Service (`MG...`) that picks the sender; instead of or with `from`.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The text (Twilio takes up to 1,600 characters).
    #[serde(default)]
    pub body: Option<String>,
    /// Where Twilio posts the message's status changes (e.g. this plugin's `inbound` trigger).
    #[serde(default)]
    pub status_callback: Option<String>,
    /// Public URLs of media to send (MMS), one `MediaUrl` each.
    #[serde(default)]
    pub media_urls: Vec<String>,
}

/// Sends an SMS (or MMS) per input item.
pub struct SendMessage;

impl Node for SendMessage {
    const NAME: &'static str = "send";
    type Config = SendConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "Send SMS",
            "Sends an SMS or MMS through Twilio, one per input item. Twilio has no idempotency key: \
             a retried send may be delivered twice, so leave retries off unless that is acceptable.",
        )
        .schema(json!({
            "type": "object",
            "required": ["to"],
            "properties": {
                "to": {
                    "type": "string",
                    "description": "Recipient in E.164 form: + and 8 to 15 digits, e.g. +14155552671 \
                                    (or whatsapp:+14155552671)"
                },
                "from": {
                    "type": "string",
                    "description": "Sender: your Twilio number (E.164), short code or alphanumeric sender id. \
                                    This or messaging_service_sid is required"
                },
                "messaging_service_sid": {
                    "type": "string",
                    "description": "Messaging Service SID (MG...) that picks the sender. This or from is required"
                },
                "body": {
                    "type": "string",
                    "description": "Message text, up to 1,600 characters. This or media_urls is required"
                },
                "status_callback": {
                    "type": "string",
                    "description": "URL Twilio posts delivery status to, e.g. this plugin's inbound trigger"
                },
                "media_urls": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Public URLs of images or other media to send as MMS (at most 10)"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(config: SendConfig, input: Input) -> Result<Outcome, NodeError> {
        let form = message_form(&config)?;
        let account = Account::bound()?;
        let url = account.messages_url();
        let calls = input.items.len().max(1);
        let mut out = Vec::with_capacity(calls);
        for _ in 0..calls {
            out.push(send(&url, &form)?);
        }
        Ok(Outcome::emit(out))
    }
}

/// The form pairs of the request, after checking the config (before any call).
fn message_form(config: &SendConfig) -> Result<Vec<(&'static str, String)>, NodeError> {
    let to = config.to.trim();
    if !looks_like_e164(to) {
        return Err(NodeError::fatal(format!(
            "`to` is not a phone number in E.164 form (+ and 8 to 15 digits, e.g. +14155552671): {to:?}"
        ))
        .with_code("bad_number"));
    }
    let from = given(&config.from);
    let service = given(&config.messaging_service_sid);
    if from.is_none() && service.is_none() {
        return Err(bad_config("set `from` (a Twilio number) or `messaging_service_sid`"));
    }
    let body = given(&config.body);
    let media: Vec<&str> = config.media_urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()).collect();
    if body.is_none() && media.is_empty() {
        return Err(bad_config("set `body` or `media_urls`: a message needs text or media"));
    }
    let mut form = vec![("To", to.to_string())];
    form.extend(from.map(|f| ("From", f.to_string())));
    form.extend(service.map(|s| ("MessagingServiceSid", s.to_string())));
    // The body as written (not trimmed): spacing may matter to the reader.
    form.extend(body.and(config.body.clone()).map(|b| ("Body", b)));
    form.extend(media.into_iter().map(|u| ("MediaUrl", u.to_string())));
    form.extend(given(&config.status_callback).map(|u| ("StatusCallback", u.to_string())));
    Ok(form)
}

/// `+` and 8 to 15 digits, the first not 0, optionally after `whatsapp:`.
pub(crate) fn looks_like_e164(number: &str) -> bool {
    let number = number.strip_prefix("whatsapp:").unwrap_or(number);
    let Some(digits) = number.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

fn send(url: &str, form: &[(&str, String)]) -> Result<Item, NodeError> {
    let response = http::post(url)
        .credential(CREDENTIAL)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form::encode_pairs(form))
        .send()?;
    if !(200..300).contains(&response.status) {
        return Err(api_error("sending the message", &response));
    }
    let message: Value = response.body_json()?;
    let item = json!({
        "sid": message["sid"],
        "status": message["status"],
        "to": message["to"],
        "from": message["from"],
        "num_segments": count(message.get("num_segments")),
        "date_created": message["date_created"],
    });
    log::info(&format!(
        "sent message {} ({})",
        item["sid"].as_str().unwrap_or("?"),
        item["status"].as_str().unwrap_or("?")
    ));
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirework_sdk::testing::{FakeHost, Reply};

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "tw-auth-token-do-not-leak";
    /// base64("AC0123456789abcdef0123456789abcdef:tw-auth-token-do-not-leak")
    const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy1hdXRoLXRva2VuLWRvLW5vdC1sZWFr";
    const URL: &str = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

    fn twilio() -> FakeHost {
        FakeHost::new().credential("twilio", &[("account_sid", SID), ("auth_token", TOKEN)])
    }

    fn created(to: &str) -> Reply {
        Reply::json(
            201,
            json!({
                "account_sid": SID,
                "api_version": "2010-04-01",
                "body": "Hi",
                "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
                "date_sent": null,
                "direction": "outbound-api",
                "error_code": null,
                "from": "+15557122661",
                "messaging_service_sid": null,
                "num_media": "0",
                "num_segments": "1",
                "price": null,
                "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
                "status": "queued",
                "to": to,
                "uri": "/2010-04-01/Accounts/AC.../Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json"
            }),
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn assert_no_secret(host: &FakeHost, error: &NodeError) {
        assert!(!error.message.contains(TOKEN), "{}", error.message);
        for (_, line) in host.logs() {
            assert!(!line.contains(TOKEN), "{line}");
        }
    }

    #[test]
    fn sends_a_form_with_every_field_to_the_base_url_override() {
        let host = FakeHost::new()
            .credential(
                "twilio",
                &[("account_sid", SID), ("auth_token", TOKEN), ("base_url", "http://127.0.0.1:9090/tw/")],
            )
            .expect(
                "POST",
                "http://127.0.0.1:9090/tw/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
                created("+14155552671"),
            );
        let config = json!({
            "to": " +14155552671 ",
            "from": "+15557122661",
            "messaging_service_sid": "MG9752274e9e519418a7406176694466fa",
            "body": "Your code is 1234 & it expires soon",
            "status_callback": "https://hooks.example.com/hooks/sms/status",
            "media_urls": ["https://example.com/a.png", "", "https://example.com/b c.jpg"]
        });
        let outcome = host.run::<SendMessage>(config, vec![json!({"email": "ann@example.com"})]).unwrap();
        host.assert_done();
        assert_eq!(
            outcome,
            Outcome::emit(vec![json!({
                "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
                "status": "queued",
                "to": "+14155552671",
                "from": "+15557122661",
                "num_segments": 1,
                "date_created": "Thu, 24 Aug 2023 05:01:45 +0000"
            })])
        );
        let sent = &host.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(sent.header("authorization"), Some(BASIC));
        assert_eq!(sent.header("idempotency-key"), None);
        assert_eq!(
            sent.form(),
            pairs(&[
                ("To", "+14155552671"),
                ("From", "+15557122661"),
                ("MessagingServiceSid", "MG9752274e9e519418a7406176694466fa"),
                ("Body", "Your code is 1234 & it expires soon"),
                ("MediaUrl", "https://example.com/a.png"),
                ("MediaUrl", "https://example.com/b c.jpg"),
                ("StatusCallback", "https://hooks.example.com/hooks/sms/status"),
            ])
        );
        // The `+` is escaped on the wire, or Twilio would read a space.
        assert!(String::from_utf8_lossy(&sent.body).starts_with("To=%2B14155552671&From=%2B15557122661&"));
    }

    #[test]
    fn sends_once_per_item_with_a_messaging_service_and_the_default_base() {
        let host = twilio().expect("POST", URL, created("+447700900123")).expect("POST", URL, created("+447700900123"));
        let config = json!({"to": "+447700900123", "messaging_service_sid": "MG123", "body": "Hello", "from": ""});
        let outcome = host.run::<SendMessage>(config, vec![json!({"n": 1}), json!({"n": 2})]).unwrap();
        host.assert_done();
        let Outcome::Emit(ports) = outcome else { panic!("not emitted") };
        assert_eq!(ports[0].1.len(), 2);
        assert_eq!(ports[0].1[1]["to"], "+447700900123");
        for sent in host.requests() {
            assert_eq!(
                sent.form(),
                pairs(&[("To", "+447700900123"), ("MessagingServiceSid", "MG123"), ("Body", "Hello")])
            );
            assert_eq!(sent.header("authorization"), Some(BASIC));
        }
    }

    #[test]
    fn one_call_without_items_and_media_only_is_fine() {
        let host = twilio().expect("POST", URL, created("whatsapp:+14155552671"));
        let config = json!({"to": "whatsapp:+14155552671", "from": "whatsapp:+15557122661", "media_urls": ["https://x.test/a.png"]});
        let outcome = host.run::<SendMessage>(config, vec![]).unwrap();
        host.assert_done();
        let Outcome::Emit(ports) = outcome else { panic!("not emitted") };
        assert_eq!(ports[0].1.len(), 1);
        assert_eq!(
            host.requests()[0].form(),
            pairs(&[
                ("To", "whatsapp:+14155552671"),
                ("From", "whatsapp:+15557122661"),
                ("MediaUrl", "https://x.test/a.png")
            ])
        );
    }

    #[test]
    fn a_number_that_is_not_e164_fails_before_any_call() {
        for to in [
            "4155552671",
            "+1 415 555 2671",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
            "",
            "+1415555267a",
            "sms:+14155552671",
        ] {
            let host = twilio();
            let error =
                host.run::<SendMessage>(json!({"to": to, "from": "+15557122661", "body": "x"}), vec![]).unwrap_err();
            assert_eq!(error.code.as_deref(), Some("bad_number"), "{to}");
            assert!(!error.retryable);
            assert!(host.requests().is_empty());
        }
        for ok in ["+12345678", "+123456789012345", "+14155552671", "whatsapp:+447700900123"] {
            assert!(looks_like_e164(ok), "{ok}");
        }
    }

    #[test]
    fn a_sender_and_some_content_are_required() {
        let host = twilio();
        let error = host.run::<SendMessage>(json!({"to": "+14155552671", "body": "x"}), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"));
        assert!(error.message.contains("messaging_service_sid"), "{}", error.message);
        let error = host
            .run::<SendMessage>(json!({"to": "+14155552671", "from": "+15557122661", "body": "  "}), vec![])
            .unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"));
        let error =
            host.run::<SendMessage>(json!({"to": "+14155552671", "from": "+1", "text": "x"}), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"));
        assert!(error.message.contains("text"), "{}", error.message);
        assert!(host.requests().is_empty());
    }

    #[test]
    fn twilio_errors_are_fatal_with_twilios_code_and_message_and_no_secret() {
        let body = json!({
            "code": 21211,
            "message": "The 'To' number +14155552671 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        });
        let host = twilio().expect("POST", URL, Reply::json(400, body));
        let error = host
            .run::<SendMessage>(json!({"to": "+14155552671", "from": "+15557122661", "body": "x"}), vec![])
            .unwrap_err();
        assert!(!error.retryable);
        assert_eq!(error.code.as_deref(), Some("twilio_21211"));
        assert!(error.message.starts_with("sending the message: Twilio error 21211"), "{}", error.message);
        assert!(error.message.contains("is not a valid phone number"), "{}", error.message);
        assert_no_secret(&host, &error);

        let host = twilio().expect(
            "POST",
            URL,
            Reply::json(401, json!({"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})),
        );
        let error = host
            .run::<SendMessage>(json!({"to": "+14155552671", "from": "+15557122661", "body": "x"}), vec![])
            .unwrap_err();
        assert_eq!(error.code.as_deref(), Some("twilio_20003"));
        assert!(!error.retryable);
        assert_no_secret(&host, &error);

        let host =
            twilio().expect("POST", URL, Reply::with(404, &[("content-type", "text/html")], "<h1>Not Found</h1>"));
        let error = host
            .run::<SendMessage>(json!({"to": "+14155552671", "from": "+15557122661", "body": "x"}), vec![])
            .unwrap_err();
        assert_eq!(error.code.as_deref(), Some("http_404"));
        assert!(!error.retryable);
        assert!(error.message.contains("Not Found"), "{}", error.message);
    }

    #[test]
    fn rate_limits_server_errors_and_network_failures_are_retryable() {
        let config = json!({"to": "+14155552671", "from": "+15557122661", "body": "x"});
        let host = twilio().expect(
            "POST",
            URL,
            Reply::with(
                429,
                &[("Retry-After", "30")],
                r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
            ),
        );
        let error = host.run::<SendMessage>(config.clone(), vec![]).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.retry_after_ms, Some(30_000));
        assert_eq!(error.code.as_deref(), Some("twilio_20429"));
        assert_no_secret(&host, &error);

        let host = twilio().expect(
            "POST",
            URL,
            Reply::json(500, json!({"code": 20500, "message": "Internal Server Error", "status": 500})),
        );
        let error = host.run::<SendMessage>(config.clone(), vec![]).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.retry_after_ms, None);
        assert_eq!(error.code.as_deref(), Some("twilio_20500"));

        let host = twilio().expect("POST", URL, Reply::Fail("timed out after 30000 ms".into()));
        let error = host.run::<SendMessage>(config, vec![]).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.code.as_deref(), Some("http_failed"));
    }

    #[test]
    fn a_missing_credential_or_bad_account_sid_is_fatal() {
        let config = json!({"to": "+14155552671", "from": "+15557122661", "body": "x"});
        let error = FakeHost::new().run::<SendMessage>(config.clone(), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("credential_missing"));
        let host = FakeHost::new().credential("twilio", &[("account_sid", "AC1/../x"), ("auth_token", TOKEN)]);
        let error = host.run::<SendMessage>(config, vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_credential"));
        assert_no_secret(&host, &error);
    }

    #[test]
    fn the_schema_names_every_config_field() {
        let schema = crate::tests_support::schema_of::<SendMessage>();
        let keys = crate::tests_support::property_names(&schema);
        assert_eq!(keys, ["body", "from", "media_urls", "messaging_service_sid", "status_callback", "to"]);
        // Every property the schema lists is accepted by the config type.
        let all = json!({"to": "+14155552671", "from": "+1", "messaging_service_sid": "MG", "body": "b",
                         "status_callback": "https://x", "media_urls": []});
        serde_json::from_value::<SendConfig>(all).unwrap();
        assert_eq!(schema["required"], json!(["to"]));
    }
}
