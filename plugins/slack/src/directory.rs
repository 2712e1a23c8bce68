//! `lookup-user` (`users.lookupByEmail`) and `list-channels` (`conversations.list`).

use crate::{bad_config, get, required};
use serde::Deserialize;
use serde_json::{json, Value};
use wirework_sdk::{Input, Item, Node, NodeError, NodeInfo, Outcome};

/// Configuration of `lookup-user`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupUserConfig {
    /// The user's email address (usually `{{ $json.email }}`).
    pub email: String,
}

/// Finds the Slack user with an email address, per input item.
pub struct LookupUser;

impl Node for LookupUser {
    const NAME: &'static str = "lookup-user";
    type Config = LookupUserConfig;

    fn info() -> NodeInfo {
        NodeInfo::action("Look up a Slack user", "Finds the Slack user with an email address (users.lookupByEmail)")
            .schema(json!({
                "type": "object",
                "required": ["email"],
                "properties": {
                    "email": {"type": "string", "description": "The email address, e.g. {{ $json.email }}"}
                },
                "additionalProperties": false
            }))
    }

    fn run(config: LookupUserConfig, input: Input) -> Result<Outcome, NodeError> {
        let email = required(&config.email, "email")?;
        let calls = input.items.len().max(1);
        let mut out = Vec::with_capacity(calls);
        for _ in 0..calls {
            let answer = get("users.lookupByEmail", &format!("looking up the user {email}"), &[("email", email)])?;
            out.push(user_item(&answer["user"]));
        }
        Ok(Outcome::emit(out))
    }
}

fn user_item(user: &Value) -> Item {
    let profile = &user["profile"];
    json!({
        "id": user["id"],
        "name": user["name"],
        "real_name": user.get("real_name").unwrap_or(&profile["real_name"]),
        "display_name": profile["display_name"],
        "email": profile["email"],
        "tz": user["tz"],
        "is_bot": user["is_bot"],
        "deleted": user["deleted"],
    })
}

/// Configuration of `list-channels`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListChannelsConfig {
    /// Comma-separated conversation types: `public_channel`, `private_channel`, `mpim`, `im`.
    #[serde(default = "default_types")]
    pub types: String,
    /// At most this many channels (default 100, at most 10,000).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Leave archived channels out.
    #[serde(default)]
    pub exclude_archived: bool,
}

fn default_types() -> String {
    "public_channel".into()
}

fn default_limit() -> u32 {
    100
}

/// The largest `limit`.
const MAX_LIMIT: u32 = 10_000;
/// Slack's recommended page size for `conversations.list`.
const PAGE_SIZE: &str = "200";

/// Lists the workspace's channels, one item per channel.
pub struct ListChannels;

impl Node for ListChannels {
    const NAME: &'static str = "list-channels";
    type Config = ListChannelsConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "List Slack channels",
            "Lists the workspace's conversations, one item per channel (conversations.list, every page up to limit)",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "types": {
                    "type": "string",
                    "default": "public_channel",
                    "description": "Comma-separated: public_channel, private_channel, mpim, im"
                },
                "limit": {
                    "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100,
                    "description": "At most this many channels"
                },
                "exclude_archived": {"type": "boolean", "default": false, "description": "Leave archived channels out"}
            },
            "additionalProperties": false
        }))
    }

    fn run(config: ListChannelsConfig, input: Input) -> Result<Outcome, NodeError> {
        if config.limit == 0 || config.limit > MAX_LIMIT {
            return Err(bad_config(format!("`limit` must be between 1 and {MAX_LIMIT}, not {}", config.limit)));
        }
        let types = required(&config.types, "types")?;
        let mut out = Vec::new();
        for _ in 0..input.items.len().max(1) {
            out.extend(list(types, config.limit as usize, config.exclude_archived)?);
        }
        Ok(Outcome::emit(out))
    }
}

/// Every page of `conversations.list` until Slack's `next_cursor` is empty or `limit` is reached.
fn list(types: &str, limit: usize, exclude_archived: bool) -> Result<Vec<Item>, NodeError> {
    let mut channels = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut query = vec![("limit", PAGE_SIZE), ("types", types)];
        if exclude_archived {
            query.push(("exclude_archived", "true"));
        }
        if !cursor.is_empty() {
            query.push(("cursor", &cursor));
        }
        let answer = get("conversations.list", "listing channels", &query)?;
        for channel in answer["channels"].as_array().into_iter().flatten() {
            if channels.len() == limit {
                return Ok(channels);
            }
            channels.push(channel_item(channel));
        }
        let next = answer["response_metadata"]["next_cursor"].as_str().unwrap_or("");
        if next.is_empty() || channels.len() == limit {
            return Ok(channels);
        }
        if next == cursor {
            return Err(NodeError::fatal("listing channels (conversations.list): Slack gave the same cursor twice")
                .with_code("bad_response"));
        }
        cursor = next.to_string();
    }
}

fn channel_item(channel: &Value) -> Item {
    json!({
        "id": channel["id"],
        "name": channel["name"],
        "is_private": channel["is_private"],
        "is_archived": channel["is_archived"],
        "is_member": channel["is_member"],
        "num_members": channel["num_members"],
        "topic": channel["topic"]["value"],
        "purpose": channel["purpose"]["value"],
        "created": channel["created"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{assert_no_secret, bot, bot_at, TOKEN};
    use wirework_sdk::testing::Reply;

    fn ann() -> Value {
        json!({
            "ok": true,
            "user": {
                "id": "U0ANN", "team_id": "T1", "name": "ann", "real_name": "Ann Lee", "tz": "Europe/Amsterdam",
                "is_bot": false, "deleted": false,
                "profile": {"real_name": "Ann Lee", "display_name": "annie", "email": "ann@example.com"}
            }
        })
    }

    #[test]
    fn looks_up_a_user_by_email() {
        let host = bot().expect(
            "GET",
            "https://slack.com/api/users.lookupByEmail?email=ann%2Bsales%40example.com",
            Reply::json(200, ann()),
        );
        let outcome = host.run::<LookupUser>(json!({"email": "ann+sales@example.com"}), vec![json!({"x": 1})]);
        assert_eq!(
            outcome.unwrap(),
            Outcome::emit(vec![json!({
                "id": "U0ANN", "name": "ann", "real_name": "Ann Lee", "display_name": "annie",
                "email": "ann@example.com", "tz": "Europe/Amsterdam", "is_bot": false, "deleted": false,
            })])
        );
        let sent = &host.requests()[0];
        assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert!(sent.body.is_empty());
        host.assert_done();
    }

    #[test]
    fn lookup_honours_base_url() {
        let host = bot_at("https://slack.example.test").expect(
            "GET",
            "https://slack.example.test/api/users.lookupByEmail?email=a%40b.c",
            Reply::json(200, ann()),
        );
        host.run::<LookupUser>(json!({"email": "a@b.c"}), vec![]).unwrap();
        host.assert_done();
    }

    #[test]
    fn an_unknown_email_is_fatal() {
        let host = bot().expect(
            "GET",
            "https://slack.com/api/users.lookupByEmail?email=nobody%40example.com",
            Reply::json(200, json!({"ok": false, "error": "users_not_found"})),
        );
        let e = host.run::<LookupUser>(json!({"email": "nobody@example.com"}), vec![]).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.code.as_deref(), Some("users_not_found"));
        assert_eq!(
            e.message,
            "looking up the user nobody@example.com (users.lookupByEmail): Slack answered `users_not_found`"
        );
        assert_no_secret(&host, &e);
    }

    #[test]
    fn lookup_rate_limited_is_retryable() {
        let host = bot().expect(
            "GET",
            "https://slack.com/api/users.lookupByEmail?email=a%40b.c",
            Reply::with(429, &[("retry-after", "20")], r#"{"ok":false,"error":"ratelimited"}"#),
        );
        let e = host.run::<LookupUser>(json!({"email": "a@b.c"}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.retry_after_ms, e.code.as_deref()), (true, Some(20_000), Some("ratelimited")));
        assert_no_secret(&host, &e);
    }

    fn channel(id: &str) -> Value {
        json!({
            "id": id, "name": format!("chan-{id}"), "is_channel": true, "is_private": false, "is_archived": false,
            "is_member": true, "num_members": 4, "created": 1449252889,
            "topic": {"value": "topic", "creator": "U1"}, "purpose": {"value": "purpose", "creator": "U1"}
        })
    }

    fn page(ids: &[&str], next: &str) -> Reply {
        let channels: Vec<Value> = ids.iter().map(|id| channel(id)).collect();
        Reply::json(200, json!({"ok": true, "channels": channels, "response_metadata": {"next_cursor": next}}))
    }

    const FIRST: &str = "https://slack.com/api/conversations.list?limit=200&types=public_channel";

    #[test]
    fn lists_every_page() {
        let host = bot()
            .expect("GET", FIRST, page(&["C1", "C2"], "dGVhbTpDMDYxRkE1UEI="))
            .expect("GET", &format!("{FIRST}&cursor=dGVhbTpDMDYxRkE1UEI%3D"), page(&["C3"], "bmV4dA=="))
            .expect("GET", &format!("{FIRST}&cursor=bmV4dA%3D%3D"), page(&["C4"], ""));
        let Outcome::Emit(ports) = host.run::<ListChannels>(json!({}), vec![]).unwrap() else { panic!("no emit") };
        let ids: Vec<&str> = ports[0].1.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["C1", "C2", "C3", "C4"]);
        assert_eq!(
            ports[0].1[0],
            json!({
                "id": "C1", "name": "chan-C1", "is_private": false, "is_archived": false, "is_member": true,
                "num_members": 4, "topic": "topic", "purpose": "purpose", "created": 1449252889,
            })
        );
        for sent in host.requests() {
            assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        }
        host.assert_done();
    }

    #[test]
    fn stops_at_the_limit() {
        let host = bot_at("http://127.0.0.1:8025/")
            .expect(
                "GET",
                "http://127.0.0.1:8025/api/conversations.list?limit=200&types=public_channel%2Cprivate_channel\
                 &exclude_archived=true",
                page(&["C1", "C2"], "c2"),
            )
            .expect(
                "GET",
                "http://127.0.0.1:8025/api/conversations.list?limit=200&types=public_channel%2Cprivate_channel\
                 &exclude_archived=true&cursor=c2",
                page(&["C3", "C4"], "c3"),
            );
        let outcome = host.run::<ListChannels>(
            json!({"types": "public_channel,private_channel", "limit": 3, "exclude_archived": true}),
            vec![],
        );
        let Outcome::Emit(ports) = outcome.unwrap() else { panic!("no emit") };
        assert_eq!(ports[0].1.len(), 3);
        host.assert_done();
    }

    #[test]
    fn a_failing_page_fails_the_step() {
        let host = bot().expect("GET", FIRST, page(&["C1"], "c2")).expect(
            "GET",
            &format!("{FIRST}&cursor=c2"),
            Reply::with(502, &[], "bad gateway"),
        );
        let e = host.run::<ListChannels>(json!({}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (true, Some("http_502")));
        assert_no_secret(&host, &e);

        let host = bot().expect(
            "GET",
            FIRST,
            Reply::json(200, json!({"ok": false, "error": "missing_scope", "needed": "channels:read"})),
        );
        let e = host.run::<ListChannels>(json!({}), vec![]).unwrap_err();
        assert_eq!((e.retryable, e.code.as_deref()), (false, Some("missing_scope")));
        assert!(e.message.contains("channels:read"), "{}", e.message);
    }

    #[test]
    fn a_repeated_cursor_stops_the_loop() {
        let host = bot().expect("GET", FIRST, page(&["C1"], "same")).expect(
            "GET",
            &format!("{FIRST}&cursor=same"),
            page(&["C2"], "same"),
        );
        let e = host.run::<ListChannels>(json!({}), vec![]).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("bad_response"));
    }

    #[test]
    fn limit_is_bounded() {
        let host = bot();
        for limit in [0, 10_001] {
            let e = host.run::<ListChannels>(json!({"limit": limit}), vec![]).unwrap_err();
            assert_eq!(e.code.as_deref(), Some("bad_config"));
        }
        assert!(host.requests().is_empty());
    }
}
