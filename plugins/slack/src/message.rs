//! `post-message`: `chat.postMessage`, one message per input item.

use crate::{post, required};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use wirework_sdk::{Input, Node, NodeError, NodeInfo, Outcome};

/// Configuration of `post-message`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessageConfig {
    /// A channel id (`C0123...`), a name (`#sales`) or a user id (a DM from the bot).
    pub channel: String,
    /// The message; with `blocks`, the fallback shown in notifications.
    /// Required (a number an expression gave is taken as text).
    #[serde(default, deserialize_with = "crate::opt_text")]
    pub text: Option<String>,
    /// Block Kit blocks.
    pub blocks: Option<Vec<Value>>,
    /// Reply in the thread of this message (its `ts`).
    pub thread_ts: Option<String>,
    /// Unfurl links in the text (Slack's default: only for some).
    pub unfurl_links: Option<bool>,
}

/// Posts a message per input item (one when there are none).
pub struct PostMessage;

impl Node for PostMessage {
    const NAME: &'static str = "post-message";
    type Config = PostMessageConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Post a Slack message", "Posts a message to a channel, a DM or a thread (chat.postMessage)")
            .schema(json!({
                "type": "object",
                "required": ["channel", "text"],
                "properties": {
                    "channel": {
                        "type": "string",
                        "description": "Channel id (C0123...), #name, or a user id for a DM from the bot"
                    },
                    "text": {
                        "type": "string",
                        "description": "The message (mrkdwn); with blocks, the fallback for notifications"
                    },
                    "blocks": {"type": "array", "items": {"type": "object"}, "description": "Block Kit blocks"},
                    "thread_ts": {"type": "string", "description": "Reply in this message's thread (its ts)"},
                    "unfurl_links": {"type": "boolean", "description": "Unfurl links in the text"}
                },
                "additionalProperties": false
            }))
    }

    fn run(config: PostMessageConfig, input: Input) -> Result<Outcome, NodeError> {
        let channel = required(&config.channel, "channel")?;
        let text = required(config.text.as_deref().unwrap_or(""), "text")?;
        let mut body = Map::new();
        body.insert("channel".into(), json!(channel));
        body.insert("text".into(), json!(text));
        if let Some(blocks) = &config.blocks {
            body.insert("blocks".into(), json!(blocks));
        }
        if let Some(thread_ts) = config.thread_ts.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            body.insert("thread_ts".into(), json!(thread_ts));
        }
        if let Some(unfurl) = config.unfurl_links {
            body.insert("unfurl_links".into(), json!(unfurl));
        }
        let body = Value::Object(body);
        let calls = input.items.len().max(1);
        let mut out = Vec::with_capacity(calls);
        for _ in 0..calls {
            let answer = post("chat.postMessage", &format!("posting a message to {channel}"), &body)?;
            out.push(json!({"ok": true, "channel": answer["channel"], "ts": answer["ts"]}));
        }
        Ok(Outcome::emit(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{assert_no_secret, bot, bot_at, TOKEN};
    use wirework_sdk::testing::Reply;

    const URL: &str = "https://slack.com/api/chat.postMessage";

    fn posted(channel: &str, ts: &str) -> Reply {
        Reply::json(200, json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": "hi", "ts": ts}}))
    }

    #[test]
    fn posts_the_message_with_the_bots_token() {
        let host = bot().expect("POST", URL, posted("C123", "1700000000.000100"));
        let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*New lead*"}}]);
        let outcome = host
            .run::<PostMessage>(
                json!({
                    "channel": "#sales", "text": "New lead: Ann", "blocks": blocks,
                    "thread_ts": "1699999999.000200", "unfurl_links": false,
                }),
                vec![],
            )
            .unwrap();
        assert_eq!(outcome, Outcome::emit(vec![json!({"ok": true, "channel": "C123", "ts": "1700000000.000100"})]));
        let sent = &host.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.header("content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(
            sent.json(),
            json!({
                "channel": "#sales", "text": "New lead: Ann", "blocks": blocks,
                "thread_ts": "1699999999.000200", "unfurl_links": false,
            })
        );
        host.assert_done();
    }

    #[test]
    fn optional_fields_are_left_out_and_base_url_is_honoured() {
        let host = bot_at("http://127.0.0.1:9999/slack/").expect(
            "POST",
            "http://127.0.0.1:9999/slack/api/chat.postMessage",
            posted("C1", "1.1"),
        );
        host.run::<PostMessage>(json!({"channel": "C1", "text": "hi", "thread_ts": ""}), vec![]).unwrap();
        assert_eq!(host.requests()[0].json(), json!({"channel": "C1", "text": "hi"}));
        host.assert_done();
    }

    #[test]
    fn a_number_from_an_expression_is_text() {
        let host = bot().expect("POST", URL, posted("C1", "1.1"));
        host.run::<PostMessage>(json!({"channel": "C1", "text": 42}), vec![]).unwrap();
        assert_eq!(host.requests()[0].json()["text"], "42");
    }

    #[test]
    fn one_message_per_input_item() {
        let host = bot().expect("POST", URL, posted("C1", "1.1")).expect("POST", URL, posted("C1", "1.2"));
        let outcome =
            host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![json!({"a": 1}), json!({"a": 2})]);
        assert_eq!(
            outcome.unwrap(),
            Outcome::emit(vec![
                json!({"ok": true, "channel": "C1", "ts": "1.1"}),
                json!({"ok": true, "channel": "C1", "ts": "1.2"}),
            ])
        );
        host.assert_done();
    }

    #[test]
    fn ok_false_is_fatal_with_slacks_error() {
        let host = bot().expect("POST", URL, Reply::json(200, json!({"ok": false, "error": "channel_not_found"})));
        let e = host.run::<PostMessage>(json!({"channel": "#nope", "text": "hi"}), vec![]).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.code.as_deref(), Some("channel_not_found"));
        assert_eq!(e.message, "posting a message to #nope (chat.postMessage): Slack answered `channel_not_found`");
        assert_no_secret(&host, &e);
    }

    #[test]
    fn invalid_auth_does_not_leak_the_token() {
        let host = bot().expect("POST", URL, Reply::json(200, json!({"ok": false, "error": "invalid_auth"})));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (false, Some("invalid_auth")));
        assert_no_secret(&host, &e);
    }

    #[test]
    fn rate_limits_and_server_errors_are_retryable() {
        let host = bot().expect("POST", URL, Reply::with(429, &[("Retry-After", "7")], ""));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.retry_after_ms, e.code.as_deref()), (true, Some(7000), Some("http_429")));
        assert_no_secret(&host, &e);

        let host = bot().expect("POST", URL, Reply::with(500, &[], "oops"));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (true, Some("http_500")));

        let host = bot().expect("POST", URL, Reply::json(200, json!({"ok": false, "error": "service_unavailable"})));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (true, Some("service_unavailable")));

        let host = bot().expect("POST", URL, Reply::Fail("connection reset".into()));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert!(e.retryable);
    }

    #[test]
    fn a_404_is_fatal() {
        let host = bot().expect("POST", URL, Reply::with(404, &[], "no such thing"));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (false, Some("http_404")));
        assert!(e.message.contains("no such thing"), "{}", e.message);
    }

    #[test]
    fn config_is_checked() {
        let host = bot();
        let e = host.run::<PostMessage>(json!({"channel": "C1"}), vec![]).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("bad_config"));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": ["a"]}), vec![]).unwrap_err();
        assert!(e.message.contains("expected a string"), "{}", e.message);
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "  "}), vec![]).unwrap_err();
        assert_eq!((e.code.as_deref(), e.message.as_str()), (Some("bad_config"), "`text` is empty"));
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "x", "colour": "red"}), vec![]).unwrap_err();
        assert!(e.message.contains("colour"), "{}", e.message);
        assert!(host.requests().is_empty());
    }

    #[test]
    fn without_a_bound_credential_nothing_is_sent() {
        let host = wirework_sdk::testing::FakeHost::new();
        let e = host.run::<PostMessage>(json!({"channel": "C1", "text": "hi"}), vec![]).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("credential_missing"));
        assert!(host.requests().is_empty());
    }
}
