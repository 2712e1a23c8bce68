//! `inbound`: Twilio's webhooks for incoming messages and status callbacks.
//!
//! Twilio posts a form (`application/x-www-form-urlencoded`) signed with
//! `X-Twilio-Signature`: base64 HMAC-SHA1, under the account's Auth Token, of
//! the URL it called followed by the sorted parameters. A request that does
//! not verify is answered 401; a valid one 200 with empty TwiML (no reply).
//!
//! - An incoming message (`Body` and `From`, no `MessageStatus`) gives the
//!   item `{kind: "message", ...}`, publishes `sms.received:<From>`, and for
//!   an opt-out (STOP...) or opt-in (START...) keyword
//!   `contact.unsubscribed:<From>` or `contact.resubscribed:<From>`.
//! - A status callback (`MessageStatus`) gives `{kind: "status", ...}` and
//!   publishes `sms.status:<MessageSid>`.
//!
//! `kinds` chooses which of the two start executions; events are published
//! for both whatever `kinds` says, so waits resume either way.

use crate::CREDENTIAL;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wirework_sdk::{
    credentials, form, log, signature, Event, Input, Item, Node, NodeError, NodeInfo, Outcome, Request, Response,
    TriggerResult,
};

/// Opt-out keywords (Twilio's defaults): the whole body, trimmed, any case.
pub const STOP_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Opt-in keywords (Twilio's defaults).
pub const START_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];

/// Empty TwiML: Twilio sends no reply.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// What a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An incoming message.
    Message,
    /// A status callback for a message sent.
    Status,
}

/// Configuration of `inbound`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConfig {
    /// Which requests start an execution; default both.
    #[serde(default = "all_kinds")]
    pub kinds: Vec<Kind>,
}

fn all_kinds() -> Vec<Kind> {
    vec![Kind::Message, Kind::Status]
}

/// Trigger: Twilio's messaging webhooks.
pub struct Inbound;

impl Node for Inbound {
    const NAME: &'static str = "inbound";
    type Config = InboundConfig;

    fn info() -> NodeInfo {
        NodeInfo::trigger(
            "Incoming SMS",
            "Twilio's webhooks for incoming messages and status callbacks, signature verified; publishes \
             sms.received, sms.status, contact.unsubscribed and contact.resubscribed events",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "kinds": {
                    "type": "array",
                    "items": {"enum": ["message", "status"]},
                    "uniqueItems": true,
                    "default": ["message", "status"],
                    "description": "Which webhooks start an execution: incoming messages, status callbacks, \
                                    or both. Events are published for both either way."
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(_: InboundConfig, input: Input) -> Result<Outcome, NodeError> {
        Ok(Outcome::emit(input.items))
    }

    fn handle_request(config: InboundConfig, request: Request) -> Result<TriggerResult, NodeError> {
        let params = match request.method.to_ascii_uppercase().as_str() {
            "POST" => form::decode(&request.body),
            // A webhook configured as GET: the parameters are in the signed URL.
            "GET" => form::decode(&request.query),
            other => return Ok(reject(405, &format!("method {other} not allowed: Twilio posts its webhooks"))),
        };
        let credential = credentials::get(CREDENTIAL)?;
        let auth_token = credential.field("auth_token")?;
        let signed: &[(String, String)] = if request.method.eq_ignore_ascii_case("GET") { &[] } else { &params };
        if let Err(e) = signature::verify_twilio(&request.url, signed, request.header("x-twilio-signature"), auth_token)
        {
            log::warn(&format!("refused a Twilio webhook: {e}"));
            return Ok(reject(401, &e.to_string()));
        }
        let params = Params::new(params);
        let mut result = TriggerResult::respond(twiml());
        if params.has("MessageStatus") {
            let item = status_item(&params);
            if let Some(sid) = params.get("MessageSid").or_else(|| params.get("SmsSid")) {
                result.events.push(Event::keyed("sms.status", sid, item.clone()));
            }
            if config.kinds.contains(&Kind::Status) {
                result.items.push(item);
            }
        } else if params.has("Body") && params.get("From").is_some() {
            let (item, events) = message(&params);
            result.events.extend(events);
            if config.kinds.contains(&Kind::Message) {
                result.items.push(item);
            }
        } else {
            log::warn("ignored a Twilio webhook that is neither an incoming message nor a status callback");
        }
        Ok(result)
    }
}

/// The parameters of a webhook, by name (the first value of each).
struct Params(BTreeMap<String, String>);

impl Params {
    fn new(pairs: Vec<(String, String)>) -> Params {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            map.entry(key).or_insert(value);
        }
        Params(map)
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The value, if present and not blank.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn text(&self, name: &str) -> Value {
        self.0.get(name).map_or(Value::Null, |v| Value::String(v.clone()))
    }
}

fn message(params: &Params) -> (Item, Vec<Event>) {
    let from = params.get("From").unwrap_or_default();
    let body = params.0.get("Body").map(String::as_str).unwrap_or_default();
    let message_sid = params.get("MessageSid").or_else(|| params.get("SmsSid"));
    let num_media: u64 = params.get("NumMedia").and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    let mut item = Map::new();
    item.insert("kind".into(), json!("message"));
    item.insert("from".into(), json!(from));
    item.insert("to".into(), params.text("To"));
    item.insert("body".into(), json!(body));
    item.insert("message_sid".into(), json!(message_sid));
    item.insert("account_sid".into(), params.text("AccountSid"));
    item.insert("num_media".into(), json!(num_media));
    if num_media > 0 {
        let media: Vec<Value> = (0..num_media.min(10))
            .filter_map(|i| {
                let url = params.get(&format!("MediaUrl{i}"))?;
                Some(json!({"url": url, "content_type": params.text(&format!("MediaContentType{i}"))}))
            })
            .collect();
        item.insert("media".into(), Value::Array(media));
    }
    let mut events = Vec::new();
    if let Some((change, keyword)) = opt_keyword(body, params.get("OptOutType")) {
        item.insert("keyword".into(), json!(keyword));
        let name = match change {
            OptChange::Unsubscribed => "contact.unsubscribed",
            OptChange::Resubscribed => "contact.resubscribed",
        };
        let payload = json!({"phone": from, "channel": "sms", "keyword": keyword, "message_sid": message_sid});
        events.push(Event::keyed(name, from, payload));
    }
    let item = Value::Object(item);
    events.push(Event::keyed("sms.received", from, item.clone()));
    (item, events)
}

fn status_item(params: &Params) -> Item {
    let mut item = Map::new();
    item.insert("kind".into(), json!("status"));
    item.insert("message_sid".into(), json!(params.get("MessageSid").or_else(|| params.get("SmsSid"))));
    item.insert("status".into(), params.text("MessageStatus"));
    item.insert("to".into(), params.text("To"));
    item.insert("from".into(), params.text("From"));
    if let Some(code) = params.get("ErrorCode") {
        let code = code.trim();
        item.insert("error_code".into(), code.parse::<u64>().map_or_else(|_| json!(code), Value::from));
    }
    Value::Object(item)
}

/// Whether a message opts out or in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptChange {
    Unsubscribed,
    Resubscribed,
}

/// The opt-out or opt-in a message asks for, with its keyword (upper case):
/// the whole body, trimmed, is one of Twilio's default keywords, or Twilio's
/// Advanced Opt-Out matched one of the Messaging Service's own keywords and
/// said so in `OptOutType` (`STOP` or `START`; `HELP` changes nothing).
pub(crate) fn opt_keyword(body: &str, opt_out_type: Option<&str>) -> Option<(OptChange, String)> {
    let keyword = body.trim().to_uppercase();
    if STOP_KEYWORDS.contains(&keyword.as_str()) {
        return Some((OptChange::Unsubscribed, keyword));
    }
    if START_KEYWORDS.contains(&keyword.as_str()) {
        return Some((OptChange::Resubscribed, keyword));
    }
    if keyword.is_empty() {
        return None;
    }
    match opt_out_type.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
        Some("STOP") => Some((OptChange::Unsubscribed, keyword)),
        Some("START") => Some((OptChange::Resubscribed, keyword)),
        _ => None,
    }
}

fn twiml() -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: EMPTY_TWIML.as_bytes().to_vec(),
    }
}

fn reject(status: u16, message: &str) -> TriggerResult {
    TriggerResult::respond(Response::json(status, &json!({"error": message})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirework_sdk::testing::FakeHost;

    const TOKEN: &str = "tw-auth-token-do-not-leak";
    const HOOK: &str = "https://wirework.example.com/hooks/sms-replies/twilio";

    /// Twilio's scheme written out independently of the SDK: the URL, then
    /// each parameter's name and value, sorted.
    fn sign(url: &str, params: &[(&str, &str)], token: &str) -> String {
        let mut sorted = params.to_vec();
        sorted.sort();
        let mut data = url.to_string();
        for (k, v) in sorted {
            data.push_str(k);
            data.push_str(v);
        }
        signature::hmac_sha1_base64(token.as_bytes(), data.as_bytes())
    }

    fn twilio(token: &str) -> FakeHost {
        FakeHost::new()
            .credential("twilio", &[("account_sid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"), ("auth_token", token)])
    }

    fn post(url: &str, params: &[(&str, &str)], signature: Option<&str>) -> Request {
        let mut headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        if let Some(signature) = signature {
            headers.push(("x-twilio-signature".into(), signature.into()));
        }
        Request {
            method: "POST".into(),
            url: url.into(),
            path: "/twilio".into(),
            query: url.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default(),
            headers,
            body: form::encode_pairs(params).into_bytes(),
        }
    }

    /// A signed POST of `params` to [`HOOK`], handled with `config`.
    fn handle(config: Value, params: &[(&str, &str)]) -> TriggerResult {
        let signature = sign(HOOK, params, TOKEN);
        twilio(TOKEN).handle::<Inbound>(config, post(HOOK, params, Some(&signature))).unwrap()
    }

    fn assert_twiml(result: &TriggerResult) {
        let response = result.response.as_ref().expect("an answer");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("text/xml"));
        assert_eq!(
            String::from_utf8_lossy(&response.body),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
        );
    }

    fn assert_refused(result: &TriggerResult, why: &str) {
        let response = result.response.as_ref().expect("an answer");
        assert_eq!(response.status, 401);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
        assert!(!String::from_utf8_lossy(&response.body).contains(TOKEN));
        assert!(!String::from_utf8_lossy(&response.body).contains("12345"));
        assert!(result.items.is_empty() && result.events.is_empty());
    }

    fn names(result: &TriggerResult) -> Vec<&str> {
        result.events.iter().map(|e| e.name.as_str()).collect()
    }

    // "Validating Signatures from Twilio" in Twilio's docs: this token, URL
    // and form give this signature.
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_PARAMS: &[(&str, &str)] = &[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    const DOC_SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    #[test]
    fn the_published_example_verifies_through_the_trigger() {
        assert_eq!(sign(DOC_URL, DOC_PARAMS, "12345"), DOC_SIG, "the test's own signer is wrong");
        let host = twilio("12345");
        let result = host.handle::<Inbound>(json!({}), post(DOC_URL, DOC_PARAMS, Some(DOC_SIG))).unwrap();
        // Signed right, but a voice request: answered, nothing started.
        assert_twiml(&result);
        assert!(result.items.is_empty() && result.events.is_empty());
    }

    #[test]
    fn forged_requests_are_answered_401() {
        let cases: Vec<(&str, FakeHost, Request, &str)> = vec![
            ("wrong token", twilio("54321"), post(DOC_URL, DOC_PARAMS, Some(DOC_SIG)), "does not match"),
            (
                "tampered parameter",
                twilio("12345"),
                post(
                    DOC_URL,
                    &[DOC_PARAMS[..2].to_vec(), vec![("Digits", "9999")], DOC_PARAMS[3..].to_vec()].concat(),
                    Some(DOC_SIG),
                ),
                "does not match",
            ),
            (
                "added parameter",
                twilio("12345"),
                post(DOC_URL, &[DOC_PARAMS, &[("Body", "STOP")]].concat(), Some(DOC_SIG)),
                "does not match",
            ),
            ("missing header", twilio("12345"), post(DOC_URL, DOC_PARAMS, None), "X-Twilio-Signature"),
            ("empty header", twilio("12345"), post(DOC_URL, DOC_PARAMS, Some(" ")), "X-Twilio-Signature"),
            ("malformed header", twilio("12345"), post(DOC_URL, DOC_PARAMS, Some("not base64!")), "malformed"),
            (
                "http instead of https",
                twilio("12345"),
                post("http://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS, Some(DOC_SIG)),
                "does not match",
            ),
            (
                "another query",
                twilio("12345"),
                post("https://mycompany.com/myapp.php?foo=1&bar=3", DOC_PARAMS, Some(DOC_SIG)),
                "does not match",
            ),
        ];
        for (what, host, request, why) in cases {
            let result = host.handle::<Inbound>(json!({}), request).unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_refused(&result, why);
            for (_, line) in host.logs() {
                assert!(!line.contains("12345") && !line.contains("54321"), "{what}: {line}");
            }
        }
    }

    #[test]
    fn an_explicit_default_port_still_verifies() {
        let params = [("Body", "hi"), ("From", "+14155552671"), ("To", "+15557122661"), ("MessageSid", "SM1")];
        let signature = sign(HOOK, &params, TOKEN);
        let with_port = "https://wirework.example.com:443/hooks/sms-replies/twilio";
        let result = twilio(TOKEN).handle::<Inbound>(json!({}), post(with_port, &params, Some(&signature))).unwrap();
        assert_twiml(&result);
        assert_eq!(result.items.len(), 1);
    }

    // The parameters of an incoming SMS, as Twilio posts them.
    fn incoming(body: &str) -> Vec<(&str, &str)> {
        vec![
            ("ToCountry", "US"),
            ("ToState", "CA"),
            ("SmsMessageSid", "SMaaaabbbbccccddddeeeeffff00001111"),
            ("NumMedia", "0"),
            ("ToCity", "SAN FRANCISCO"),
            ("FromZip", "94105"),
            ("SmsSid", "SMaaaabbbbccccddddeeeeffff00001111"),
            ("FromState", "CA"),
            ("SmsStatus", "received"),
            ("FromCity", "SAN FRANCISCO"),
            ("Body", body),
            ("FromCountry", "US"),
            ("To", "+15557122661"),
            ("ToZip", "94105"),
            ("NumSegments", "1"),
            ("MessageSid", "SMaaaabbbbccccddddeeeeffff00001111"),
            ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
            ("From", "+14155552671"),
            ("ApiVersion", "2010-04-01"),
        ]
    }

    #[test]
    fn an_incoming_message_starts_an_execution_and_publishes_sms_received() {
        let result = handle(json!({}), &incoming("Yes please, call me at 5pm!"));
        assert_twiml(&result);
        let item = json!({
            "kind": "message",
            "from": "+14155552671",
            "to": "+15557122661",
            "body": "Yes please, call me at 5pm!",
            "message_sid": "SMaaaabbbbccccddddeeeeffff00001111",
            "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "num_media": 0
        });
        assert_eq!(result.items, vec![item.clone()]);
        assert_eq!(result.events, vec![Event::new("sms.received:+14155552671", item)]);
    }

    #[test]
    fn stop_keywords_publish_contact_unsubscribed() {
        for (body, keyword) in [
            ("STOP", "STOP"),
            (" stop ", "STOP"),
            ("Stop\n", "STOP"),
            ("unsubscribe", "UNSUBSCRIBE"),
            ("StopAll", "STOPALL"),
            ("cancel", "CANCEL"),
            ("End", "END"),
            ("QUIT", "QUIT"),
        ] {
            let result = handle(json!({}), &incoming(body));
            assert_twiml(&result);
            assert_eq!(names(&result), ["contact.unsubscribed:+14155552671", "sms.received:+14155552671"], "{body:?}");
            assert_eq!(
                result.events[0].payload,
                json!({"phone": "+14155552671", "channel": "sms", "keyword": keyword,
                       "message_sid": "SMaaaabbbbccccddddeeeeffff00001111"})
            );
            assert_eq!(result.items[0]["keyword"], keyword);
            assert_eq!(result.items[0]["body"], body);
            assert_eq!(result.events[1].payload, result.items[0]);
        }
    }

    #[test]
    fn start_keywords_publish_contact_resubscribed() {
        for (body, keyword) in [("START", "START"), ("yes", "YES"), (" Unstop", "UNSTOP")] {
            let result = handle(json!({}), &incoming(body));
            assert_eq!(names(&result), ["contact.resubscribed:+14155552671", "sms.received:+14155552671"], "{body:?}");
            assert_eq!(result.events[0].payload["keyword"], keyword);
            assert_eq!(result.events[0].payload["channel"], "sms");
            assert_eq!(result.items[0]["keyword"], keyword);
        }
    }

    #[test]
    fn a_keyword_must_be_the_whole_body() {
        for body in ["stop it", "please STOP", "STOP!", "yes please", "", "STOPP", "restart"] {
            let result = handle(json!({}), &incoming(body));
            assert_eq!(names(&result), ["sms.received:+14155552671"], "{body:?}");
            assert!(result.items[0].get("keyword").is_none(), "{body:?}");
        }
    }

    #[test]
    fn advanced_opt_out_keywords_follow_twilios_opt_out_type() {
        let mut params = incoming("Arrêt");
        params.push(("OptOutType", "STOP"));
        let result = handle(json!({}), &params);
        assert_eq!(names(&result), ["contact.unsubscribed:+14155552671", "sms.received:+14155552671"]);
        assert_eq!(result.events[0].payload["keyword"], "ARRÊT");
        let mut params = incoming("Subscribe");
        params.push(("OptOutType", "START"));
        assert_eq!(names(&handle(json!({}), &params))[0], "contact.resubscribed:+14155552671");
        let mut params = incoming("info");
        params.push(("OptOutType", "HELP"));
        let result = handle(json!({}), &params);
        assert_eq!(names(&result), ["sms.received:+14155552671"]);
        assert!(result.items[0].get("keyword").is_none());
    }

    #[test]
    fn media_of_an_mms_is_listed() {
        let mut params = incoming("");
        params.retain(|(k, _)| *k != "NumMedia");
        params.extend([
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME0"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1"),
            ("MediaContentType1", "image/png"),
        ]);
        let result = handle(json!({}), &params);
        assert_eq!(result.items[0]["num_media"], 2);
        assert_eq!(result.items[0]["body"], "");
        assert_eq!(
            result.items[0]["media"],
            json!([
                {"url": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME0", "content_type": "image/jpeg"},
                {"url": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1", "content_type": "image/png"}
            ])
        );
    }

    fn status(status: &str, error_code: Option<&str>) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("SmsSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f".to_string()),
            ("SmsStatus", status.to_string()),
            ("MessageStatus", status.to_string()),
            ("To", "+14155552671".to_string()),
            ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f".to_string()),
            ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".to_string()),
            ("From", "+15557122661".to_string()),
            ("ApiVersion", "2010-04-01".to_string()),
        ];
        if let Some(code) = error_code {
            params.push(("ErrorCode", code.to_string()));
        }
        params
    }

    fn borrowed<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
        params.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    #[test]
    fn a_status_callback_starts_an_execution_and_publishes_sms_status() {
        let result = handle(json!({}), &borrowed(&status("delivered", None)));
        assert_twiml(&result);
        let item = json!({
            "kind": "status",
            "message_sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
            "status": "delivered",
            "to": "+14155552671",
            "from": "+15557122661"
        });
        assert_eq!(result.items, vec![item.clone()]);
        assert_eq!(result.events, vec![Event::new("sms.status:SM1f0e8ae6ade43cb3c0ce4525424e404f", item)]);

        let result = handle(json!({}), &borrowed(&status("undelivered", Some("30003"))));
        assert_eq!(result.items[0]["status"], "undelivered");
        assert_eq!(result.items[0]["error_code"], 30003);
        assert_eq!(result.events[0].payload["error_code"], 30003);
    }

    #[test]
    fn kinds_choose_what_starts_an_execution_but_events_are_always_published() {
        let only_messages = json!({"kinds": ["message"]});
        let result = handle(only_messages.clone(), &borrowed(&status("sent", None)));
        assert_twiml(&result);
        assert!(result.items.is_empty());
        assert_eq!(names(&result), ["sms.status:SM1f0e8ae6ade43cb3c0ce4525424e404f"]);
        assert_eq!(handle(only_messages, &incoming("hi")).items.len(), 1);

        let only_status = json!({"kinds": ["status"]});
        let result = handle(only_status.clone(), &incoming("STOP"));
        assert_twiml(&result);
        assert!(result.items.is_empty());
        assert_eq!(names(&result), ["contact.unsubscribed:+14155552671", "sms.received:+14155552671"]);
        assert_eq!(handle(only_status, &borrowed(&status("sent", None))).items.len(), 1);

        let none = handle(json!({"kinds": []}), &incoming("hi"));
        assert!(none.items.is_empty());
        assert_eq!(none.events.len(), 1);
    }

    #[test]
    fn a_get_webhook_is_verified_on_its_url() {
        let url = format!("{HOOK}?{}", form::encode_pairs(&incoming("hello")));
        let signature = sign(&url, &[], TOKEN);
        let request = Request {
            method: "GET".into(),
            url: url.clone(),
            path: "/twilio".into(),
            query: url.split_once('?').unwrap().1.to_string(),
            headers: vec![("x-twilio-signature".into(), signature)],
            body: Vec::new(),
        };
        let result = twilio(TOKEN).handle::<Inbound>(json!({}), request.clone()).unwrap();
        assert_twiml(&result);
        assert_eq!(result.items[0]["body"], "hello");
        assert_eq!(result.items[0]["from"], "+14155552671");
        let tampered =
            Request { url: url.replace("hello", "bye"), query: request.query.replace("hello", "bye"), ..request };
        assert_refused(&twilio(TOKEN).handle::<Inbound>(json!({}), tampered).unwrap(), "does not match");
    }

    #[test]
    fn other_methods_are_answered_405() {
        let mut request = post(HOOK, &incoming("hi"), None);
        request.method = "PUT".into();
        let result = twilio(TOKEN).handle::<Inbound>(json!({}), request).unwrap();
        assert_eq!(result.response.unwrap().status, 405);
        assert!(result.items.is_empty());
    }

    #[test]
    fn a_missing_credential_or_bad_config_is_an_error() {
        let params = incoming("hi");
        let signature = sign(HOOK, &params, TOKEN);
        let error = FakeHost::new().handle::<Inbound>(json!({}), post(HOOK, &params, Some(&signature))).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("credential_missing"));
        let error = twilio(TOKEN)
            .handle::<Inbound>(json!({"kinds": ["call"]}), post(HOOK, &params, Some(&signature)))
            .unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"));
        let error = twilio(TOKEN)
            .handle::<Inbound>(json!({"kind": "message"}), post(HOOK, &params, Some(&signature)))
            .unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_config"));
    }

    #[test]
    fn every_event_is_one_the_manifest_requests() {
        let manifest = include_str!("../plugin.toml");
        assert!(manifest.contains(r#"events = ["contact.unsubscribed", "contact.resubscribed", "sms.*"]"#));
        let covered = |name: &str| {
            let base = name.split_once(':').map_or(name, |(base, _)| base);
            base == "contact.unsubscribed" || base == "contact.resubscribed" || base.starts_with("sms.")
        };
        let mut all = handle(json!({}), &incoming("STOP")).events;
        all.extend(handle(json!({}), &incoming("START")).events);
        all.extend(handle(json!({}), &borrowed(&status("failed", Some("30008")))).events);
        assert_eq!(all.len(), 5);
        for event in all {
            assert!(covered(&event.name), "{}", event.name);
        }
    }

    #[test]
    fn opt_keyword_normalises_the_whole_body() {
        assert_eq!(opt_keyword("\tstop \r\n", None), Some((OptChange::Unsubscribed, "STOP".into())));
        assert_eq!(opt_keyword("yes", Some("HELP")), Some((OptChange::Resubscribed, "YES".into())));
        assert_eq!(opt_keyword("help", Some("HELP")), None);
        assert_eq!(opt_keyword("  ", Some("STOP")), None);
        assert_eq!(opt_keyword("no more", None), None);
    }

    #[test]
    fn the_schema_names_every_config_field() {
        let schema = crate::tests_support::schema_of::<Inbound>();
        assert_eq!(crate::tests_support::property_names(&schema), ["kinds"]);
        assert_eq!(schema["properties"]["kinds"]["items"]["enum"], json!(["message", "status"]));
        let config: InboundConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(config.kinds, [Kind::Message, Kind::Status]);
    }
}
