//! A loopback fake of Slack's Web API (`{base}/api/<method>`) and helpers to
//! send what Slack sends to an app's Interactivity Request URL.
//!
//! Methods: `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
//! `users.lookupByEmail`, `conversations.list`. As Slack does, the fake
//!
//! - authenticates `Authorization: Bearer <token>` against [`TOKEN`]: no
//!   header is HTTP 200 `{"ok": false, "error": "not_authed"}`, another token
//!   `invalid_auth`;
//! - takes arguments from the query (GET) or a POST body of
//!   `application/json` (`invalid_json`, `json_not_object`; without
//!   `charset=utf-8` the answer carries Slack's `missing_charset` warning) or
//!   `application/x-www-form-urlencoded` (`blocks` then JSON text); any other
//!   content type is `invalid_post_type`. Writes (`chat.*`) must be POSTs
//!   (stricter than Slack, which takes GET too: a plugin that writes with GET
//!   gets `invalid_request_method`, an error of the fake's own);
//! - answers failures with HTTP 200 and `{"ok": false, "error": "..."}`
//!   (`channel_not_found`, `not_in_channel`, `is_archived`, `no_text`,
//!   `invalid_blocks` with `response_metadata.messages`, `message_not_found`,
//!   `users_not_found`, `user_not_found`, `invalid_arguments`,
//!   `invalid_cursor`, `invalid_limit`, `invalid_types`), an unknown method
//!   with HTTP 404 `unknown_method`;
//! - keeps every posted message (blocks and all: a test finds the approval
//!   buttons' values there) and applies `chat.update` to it; `ts` grows by
//!   100 µs a message from `1700000000.000100`;
//! - pages `conversations.list` with `cursor` / `limit` and
//!   `response_metadata.next_cursor` (base64 of `team:<next channel id>`, as
//!   Slack's look); [`Fake::set_page_size`] caps a page below `limit`, as
//!   Slack may;
//! - records every request ([`Fake::requests`]) and can be told to fail the
//!   next N ([`Fake::fail_next`]): a 429 is Slack's rate limit, with
//!   `Retry-After` and `{"ok": false, "error": "ratelimited"}`.
//!
//! Seeded workspace: channels `#sales` (`C0SALES`), `#approvals`
//! (`C0APPROVALS`), `#general` (`C0GENERAL`), `#random` (`C0RANDOM`, the bot
//! is not a member: `not_in_channel`), `#old-news` (`C0OLDNEWS`, archived),
//! the private `#legal` (`G0LEGAL`); users `U0ANN` (ann@example.com),
//! `U0BOB` (bob@example.com), `U0BOSS` (boss@example.com). A user id as a
//! channel is a DM (`D0ANN` for `U0ANN`).
//!
//! Interactivity: [`Message::click`] builds the `block_actions` payload of a
//! click on one of a posted message's buttons, [`Click::body`] the form body
//! Slack posts (`payload=<urlencoded JSON>`), and [`signature`] /
//! [`signed_post`] sign it as Slack does (`X-Slack-Request-Timestamp`,
//! `X-Slack-Signature: v0=hex(hmac_sha256(secret, "v0:{ts}:{body}"))`).

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The bot token the fake accepts (the `slack-bot` credential's `token`).
pub const TOKEN: &str = "xoxb-1111111111-2222222222-E2eT3stB0tT0k3nS3cr3t";
/// The app's signing secret (the `slack-signing` credential's `signing_secret`).
pub const SIGNING_SECRET: &str = "e2e0f7423b10e8888abcd99yyyzzz85a";
/// The team every payload names.
pub const TEAM_ID: &str = "T0WIREWORK";
/// The bot's user id (the author of every posted message).
pub const BOT_USER_ID: &str = "U0BOT";
/// The bot's id.
pub const BOT_ID: &str = "B0BOT";
/// The `ts` of the first message posted.
pub const FIRST_TS: &str = "1700000000.000100";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The whole path, `/api/chat.postMessage`.
    pub path: String,
    /// The Web API method, `chat.postMessage` (empty for paths outside `/api/`).
    pub api_method: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The query's pairs, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// One query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A message the bot posted, as it stands now (after any `chat.update`).
#[derive(Debug, Clone)]
pub struct Message {
    /// The channel id it is in (`C0APPROVALS`, `D0ANN`).
    pub channel: String,
    pub ts: String,
    pub text: Option<String>,
    /// Its Block Kit blocks (`Null` when it has none).
    pub blocks: Value,
    pub thread_ts: Option<String>,
    /// The body of every `chat.update` applied to it, in order.
    pub updates: Vec<Value>,
}

impl Message {
    /// The message as Slack shows it (in answers and in interaction payloads).
    pub fn json(&self) -> Value {
        let mut message = json!({
            "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID,
            "ts": self.ts, "text": self.text.clone().unwrap_or_default(),
        });
        if !self.blocks.is_null() {
            message["blocks"] = self.blocks.clone();
        }
        if let Some(thread_ts) = &self.thread_ts {
            message["thread_ts"] = json!(thread_ts);
        }
        if !self.updates.is_empty() {
            message["edited"] = json!({"user": BOT_USER_ID, "ts": self.ts});
        }
        message
    }

    /// Every button of its `actions` blocks.
    pub fn buttons(&self) -> Vec<Button> {
        let mut buttons = Vec::new();
        for block in self.blocks.as_array().into_iter().flatten().filter(|b| b["type"] == "actions") {
            for element in block["elements"].as_array().into_iter().flatten().filter(|e| e["type"] == "button") {
                buttons.push(Button {
                    block_id: block["block_id"].as_str().unwrap_or_default().to_string(),
                    action_id: element["action_id"].as_str().unwrap_or_default().to_string(),
                    value: element["value"].as_str().map(str::to_string),
                    text: element["text"]["text"].as_str().unwrap_or_default().to_string(),
                    style: element["style"].as_str().map(str::to_string),
                });
            }
        }
        buttons
    }

    /// The button with that `action_id`.
    pub fn button(&self, action_id: &str) -> Option<Button> {
        self.buttons().into_iter().find(|b| b.action_id == action_id)
    }

    /// A click on the button `action_id` by the user `user_id` (`user_name`),
    /// now; `None` when the message has no such button.
    pub fn click(&self, action_id: &str, user_id: &str, user_name: &str) -> Option<Click> {
        let button = self.button(action_id)?;
        Some(Click {
            user_id: user_id.to_string(),
            user_name: user_name.to_string(),
            action_id: button.action_id,
            block_id: button.block_id,
            value: button.value,
            label: button.text,
            style: button.style,
            channel: self.channel.clone(),
            message_ts: self.ts.clone(),
            action_ts: slack_ts_now(),
            message: self.json(),
        })
    }
}

/// A button of a posted message.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub block_id: String,
    pub action_id: String,
    pub value: Option<String>,
    /// Its label.
    pub text: String,
    /// `primary`, `danger` or none.
    pub style: Option<String>,
}

/// An ephemeral message (`chat.postEphemeral`): only `user` sees it.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub text: Option<String>,
    pub message_ts: String,
}

/// A conversation of the workspace.
#[derive(Debug, Clone)]
pub struct Channel {
    /// `C...` (public), `G...` (private).
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    /// Whether the bot is in it (it may post only then).
    pub is_member: bool,
    pub num_members: u64,
    pub topic: String,
    pub purpose: String,
    /// Unix seconds.
    pub created: u64,
}

impl Channel {
    /// A public channel the bot is in.
    pub fn public(id: &str, name: &str) -> Channel {
        Channel {
            id: id.into(),
            name: name.into(),
            is_private: false,
            is_archived: false,
            is_member: true,
            num_members: 3,
            topic: format!("All about {name}"),
            purpose: format!("For {name}"),
            created: 1_600_000_000,
        }
    }

    /// As `conversations.list` shows it.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "name_normalized": self.name,
            "is_channel": !self.is_private, "is_group": self.is_private, "is_im": false, "is_mpim": false,
            "is_private": self.is_private, "is_archived": self.is_archived, "is_general": self.name == "general",
            "is_member": self.is_member, "is_shared": false, "is_ext_shared": false, "is_org_shared": false,
            "created": self.created, "creator": "U0ANN", "unlinked": 0, "num_members": self.num_members,
            "topic": {"value": self.topic, "creator": "U0ANN", "last_set": self.created},
            "purpose": {"value": self.purpose, "creator": "U0ANN", "last_set": self.created},
            "previous_names": [],
        })
    }
}

/// A user of the workspace.
#[derive(Debug, Clone)]
pub struct User {
    /// `U...`
    pub id: String,
    pub name: String,
    pub real_name: String,
    pub display_name: String,
    pub email: String,
    pub tz: String,
    pub is_bot: bool,
    pub deleted: bool,
}

impl User {
    pub fn new(id: &str, name: &str, real_name: &str, email: &str) -> User {
        User {
            id: id.into(),
            name: name.into(),
            real_name: real_name.into(),
            display_name: name.into(),
            email: email.into(),
            tz: "Europe/Amsterdam".into(),
            is_bot: false,
            deleted: false,
        }
    }

    /// As `users.lookupByEmail` shows it.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "team_id": TEAM_ID, "name": self.name, "deleted": self.deleted, "color": "9f69e7",
            "real_name": self.real_name, "tz": self.tz, "tz_label": "Central European Time", "tz_offset": 3600,
            "is_admin": false, "is_owner": false, "is_bot": self.is_bot, "is_app_user": false, "updated": 1_600_000_000,
            "profile": {
                "real_name": self.real_name, "real_name_normalized": self.real_name,
                "display_name": self.display_name, "display_name_normalized": self.display_name,
                "email": self.email, "team": TEAM_ID,
            },
        })
    }
}

/// The failures still to come.
struct Failing {
    status: u16,
    remaining: usize,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    messages: Vec<Message>,
    ephemerals: Vec<Ephemeral>,
    channels: Vec<Channel>,
    users: Vec<User>,
    failing: Option<Failing>,
    /// The most channels one `conversations.list` page holds, whatever `limit` asks.
    page_size: Option<usize>,
    /// Messages (and ephemerals) posted so far: the next `ts`.
    posted: u64,
}

/// The running fake.
pub struct Fake {
    addr: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// Start a fake on a loopback port, with the seeded workspace.
pub async fn start() -> Fake {
    let inner = Inner {
        channels: vec![
            Channel::public("C0SALES", "sales"),
            Channel::public("C0APPROVALS", "approvals"),
            Channel::public("C0GENERAL", "general"),
            Channel { is_member: false, ..Channel::public("C0RANDOM", "random") },
            Channel { is_archived: true, ..Channel::public("C0OLDNEWS", "old-news") },
            Channel { is_private: true, ..Channel::public("G0LEGAL", "legal") },
        ],
        users: vec![
            User::new("U0ANN", "ann", "Ann Lee", "ann@example.com"),
            User::new("U0BOB", "bob", "Bob Marsh", "bob@example.com"),
            User::new("U0BOSS", "boss", "Bo Sullivan", "boss@example.com"),
            User { is_bot: true, ..User::new(BOT_USER_ID, "wirework", "Wirework", "") },
        ],
        ..Default::default()
    };
    let inner = Arc::new(Mutex::new(inner));
    let router = axum::Router::new()
        .route("/api/{method}", axum::routing::any(api))
        .fallback(not_found)
        .with_state(inner.clone());
    Fake { addr: crate::common::serve(router).await, inner }
}

impl Fake {
    /// The API base: the `slack-bot` credential's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The body of `PUT /api/v1/credentials/{name}` for a `slack-bot`
    /// credential with the right token, pointing at this fake.
    pub fn bot_credential(&self) -> Value {
        self.bot_credential_with(TOKEN)
    }

    /// The same with another token (Slack answers it `invalid_auth`).
    pub fn bot_credential_with(&self, token: &str) -> Value {
        json!({"type": "wirework/slack:slack-bot", "fields": {"token": token, "base_url": self.base_url()}})
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The requests to one Web API method (`chat.postMessage`), in order.
    pub fn calls(&self, api_method: &str) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.api_method == api_method).collect()
    }

    /// Fail the next `times` requests with HTTP `status` (after recording
    /// them): a 429 answers `{"ok": false, "error": "ratelimited"}`, other
    /// statuses a plain-text body; `retry_after` (seconds) is sent as
    /// `Retry-After`.
    pub fn fail_next(&self, status: u16, times: usize, retry_after: Option<u64>) {
        self.inner.lock().unwrap().failing = Some(Failing { status, remaining: times, retry_after });
    }

    /// At most `size` channels a `conversations.list` page, whatever `limit` says.
    pub fn set_page_size(&self, size: usize) {
        self.inner.lock().unwrap().page_size = Some(size);
    }

    /// Add a channel (listed after the ones already there).
    pub fn add_channel(&self, channel: Channel) {
        self.inner.lock().unwrap().channels.push(channel);
    }

    /// Add a user.
    pub fn add_user(&self, user: User) {
        self.inner.lock().unwrap().users.push(user);
    }

    /// Every message posted, in order, as it stands now.
    pub fn messages(&self) -> Vec<Message> {
        self.inner.lock().unwrap().messages.clone()
    }

    /// The message with that `ts`.
    pub fn message(&self, ts: &str) -> Option<Message> {
        self.messages().into_iter().find(|m| m.ts == ts)
    }

    /// Every ephemeral message posted, in order.
    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.inner.lock().unwrap().ephemerals.clone()
    }
}

/// The `slack-signing` credential's body for `PUT /api/v1/credentials/{name}`.
pub fn signing_credential() -> Value {
    json!({"type": "wirework/slack:slack-signing", "fields": {"signing_secret": SIGNING_SECRET}})
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// `{"ok": false, "error": error}`, which Slack answers most failures with (HTTP 200).
fn fail(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

/// What a method answers (HTTP 200 either way): the body of a success, or Slack's error body.
type Answer = Result<Value, Value>;

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    Path(api_method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method: method.to_string(),
        path: format!("/api/{api_method}"),
        api_method: api_method.clone(),
        query: query.unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    };
    let mut inner = inner.lock().unwrap();
    inner.requests.push(request.clone());
    if let Some(failing) = inner.failing.as_mut().filter(|f| f.remaining > 0) {
        failing.remaining -= 1;
        let status = StatusCode::from_u16(failing.status).unwrap();
        let mut response = if failing.status == 429 {
            (status, axum::Json(json!({"ok": false, "error": "ratelimited"}))).into_response()
        } else {
            (status, [("content-type", "text/plain")], format!("Slack is having trouble (HTTP {})", failing.status))
                .into_response()
        };
        if let Some(secs) = failing.retry_after {
            response.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
        }
        return response;
    }
    let known = ["chat.postMessage", "chat.update", "chat.postEphemeral", "users.lookupByEmail", "conversations.list"];
    if !known.contains(&api_method.as_str()) {
        let body = json!({"ok": false, "error": "unknown_method", "req_method": api_method});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    // Slack authenticates before it reads the arguments.
    match request.header("authorization") {
        None => return axum::Json(fail("not_authed")).into_response(),
        Some(auth) if auth != format!("Bearer {TOKEN}") => return axum::Json(fail("invalid_auth")).into_response(),
        Some(_) => {}
    }
    let writes = api_method.starts_with("chat.");
    if writes && request.method != "POST" {
        return axum::Json(fail("invalid_request_method")).into_response();
    }
    let (args, warning) = match arguments(&request) {
        Ok(parsed) => parsed,
        Err(error) => return axum::Json(fail(error)).into_response(),
    };
    let answer = match api_method.as_str() {
        "chat.postMessage" => post_message(&mut inner, &args),
        "chat.update" => update(&mut inner, &args),
        "chat.postEphemeral" => post_ephemeral(&mut inner, &args),
        "users.lookupByEmail" => lookup_by_email(&inner, &args),
        _ => list_conversations(&inner, &args),
    };
    match answer {
        Ok(mut body) => {
            body["ok"] = json!(true);
            if let Some(warning) = warning {
                body["warning"] = json!(warning);
                body["response_metadata"]["warnings"] = json!([warning]);
            }
            axum::Json(body).into_response()
        }
        Err(error) => axum::Json(error).into_response(),
    }
}

/// The call's arguments: the query's, then the body's (JSON or form); and
/// the warning Slack adds (`missing_charset` for JSON without a charset).
fn arguments(request: &Request) -> Result<(Map<String, Value>, Option<&'static str>), &'static str> {
    let mut args: Map<String, Value> = request.query_pairs().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    if request.method != "POST" || request.body.is_empty() {
        return Ok((args, None));
    }
    let content_type = request.header("content-type").unwrap_or("").to_ascii_lowercase();
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("");
    let charset = parts.find_map(|p| p.strip_prefix("charset=")).map(|c| c.trim_matches('"').to_string());
    match mime {
        "application/json" => {
            let body: Value = serde_json::from_slice(&request.body).map_err(|_| "invalid_json")?;
            let Value::Object(fields) = body else { return Err("json_not_object") };
            args.extend(fields);
            let warning = match charset.as_deref() {
                Some("utf-8") => None,
                _ => Some("missing_charset"),
            };
            Ok((args, warning))
        }
        "application/x-www-form-urlencoded" => {
            for (k, v) in url::form_urlencoded::parse(&request.body) {
                args.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            Ok((args, None))
        }
        _ => Err("invalid_post_type"),
    }
}

/// A string argument (a form's text, or a JSON string, number or boolean).
fn text_arg(args: &Map<String, Value>, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// The channel id an argument names: an id, `#name` (or a bare name), or a
/// user id (the DM with that user, `D...`).
fn resolve(inner: &Inner, given: &str) -> Option<Result<String, &'static str>> {
    let name = given.strip_prefix('#').unwrap_or(given);
    if let Some(channel) = inner.channels.iter().find(|c| c.id == given || c.name == name) {
        return Some(if channel.is_archived {
            Err("is_archived")
        } else if !channel.is_member {
            Err("not_in_channel")
        } else {
            Ok(channel.id.clone())
        });
    }
    if given.starts_with('D') && inner.users.iter().any(|u| u.id[1..] == given[1..]) {
        return Some(Ok(given.to_string()));
    }
    inner.users.iter().find(|u| u.id == given && !u.is_bot).map(|u| Ok(format!("D{}", &u.id[1..])))
}

fn channel_arg(inner: &Inner, args: &Map<String, Value>) -> Result<String, Value> {
    let given = text_arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
    match resolve(inner, &given) {
        None => Err(fail("channel_not_found")),
        Some(Err(error)) => Err(fail(error)),
        Some(Ok(id)) => Ok(id),
    }
}

/// `text` and `blocks` (checked as Slack checks them); at least one of them.
fn content(args: &Map<String, Value>) -> Result<(Option<String>, Value), Value> {
    let text = text_arg(args, "text");
    let blocks = match args.get("blocks") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        // A form carries them as JSON text.
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| invalid_blocks(vec!["invalid JSON".into()]))?,
        Some(blocks) => blocks.clone(),
    };
    if !blocks.is_null() {
        check_blocks(&blocks).map_err(invalid_blocks)?;
    }
    let no_blocks = blocks.as_array().is_none_or(|b| b.is_empty());
    if text.is_none() && no_blocks && args.get("attachments").is_none() {
        return Err(fail("no_text"));
    }
    Ok((text, blocks))
}

fn invalid_blocks(messages: Vec<String>) -> Value {
    let messages: Vec<String> = messages.into_iter().map(|m| format!("[ERROR] {m}")).collect();
    json!({
        "ok": false, "error": "invalid_blocks", "errors": messages,
        "response_metadata": {"messages": messages},
    })
}

/// Block Kit's limits that a message's blocks break, as Slack words them
/// (`... [json-pointer:/blocks/0/text/text]`).
fn check_blocks(blocks: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(blocks) = blocks.as_array() else {
        return Err(vec!["must provide an array [json-pointer:/blocks]".into()]);
    };
    if blocks.len() > 50 {
        problems.push("no more than 50 items allowed [json-pointer:/blocks]".into());
    }
    let mut block_ids = Vec::new();
    let mut action_ids = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("/blocks/{i}");
        let kind = block["type"].as_str().unwrap_or("");
        let known = ["section", "actions", "context", "divider", "header", "image", "input", "rich_text", "video"];
        if !known.contains(&kind) {
            problems.push(format!("unsupported type: {kind:?} [json-pointer:{at}/type]"));
            continue;
        }
        if let Some(id) = block["block_id"].as_str() {
            if id.is_empty() || id.len() > 255 || block_ids.contains(&id) {
                problems.push(format!("invalid or duplicate block_id [json-pointer:{at}/block_id]"));
            }
            block_ids.push(id);
        }
        match kind {
            "section" => {
                if block["text"].is_null() && block["fields"].is_null() {
                    problems.push(format!("must provide text or fields [json-pointer:{at}]"));
                }
                if !block["text"].is_null() {
                    check_text(&block["text"], 3000, &format!("{at}/text"), &mut problems);
                }
            }
            "actions" => {
                let elements = block["elements"].as_array().map(Vec::as_slice).unwrap_or_default();
                if elements.is_empty() || elements.len() > 25 {
                    problems.push(format!("must have 1 to 25 elements [json-pointer:{at}/elements]"));
                }
                for (j, element) in elements.iter().enumerate() {
                    let at = format!("{at}/elements/{j}");
                    if element["type"] == "button" {
                        check_text(&element["text"], 75, &format!("{at}/text"), &mut problems);
                        if element["text"]["type"] != "plain_text" {
                            problems.push(format!("must be plain_text [json-pointer:{at}/text/type]"));
                        }
                        if element["value"].as_str().is_some_and(|v| v.len() > 2000) {
                            problems.push(format!("must be less than 2001 characters [json-pointer:{at}/value]"));
                        }
                        if let Some(style) = element["style"].as_str() {
                            if style != "primary" && style != "danger" {
                                problems.push(format!("must be primary or danger [json-pointer:{at}/style]"));
                            }
                        }
                    }
                    if let Some(id) = element["action_id"].as_str() {
                        if id.is_empty() || id.len() > 255 || action_ids.contains(&id) {
                            problems.push(format!("invalid or duplicate action_id [json-pointer:{at}/action_id]"));
                        }
                        action_ids.push(id);
                    }
                }
            }
            "context" => {
                let elements = block["elements"].as_array().map(Vec::as_slice).unwrap_or_default();
                if elements.is_empty() || elements.len() > 10 {
                    problems.push(format!("must have 1 to 10 elements [json-pointer:{at}/elements]"));
                }
                for (j, element) in elements.iter().enumerate() {
                    if element["type"] != "image" {
                        check_text(element, 3000, &format!("{at}/elements/{j}"), &mut problems);
                    }
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A text object: `{type: plain_text | mrkdwn, text}`, `text` 1 to `max` characters.
fn check_text(text: &Value, max: usize, at: &str, problems: &mut Vec<String>) {
    if !matches!(text["type"].as_str(), Some("plain_text" | "mrkdwn")) {
        problems.push(format!("must be a text object [json-pointer:{at}]"));
        return;
    }
    match text["text"].as_str().map(|t| t.chars().count()) {
        Some(0) | None => problems.push(format!("must be more than 0 characters [json-pointer:{at}/text]")),
        Some(n) if n > max => {
            problems.push(format!("must be less than {} characters [json-pointer:{at}/text]", max + 1))
        }
        Some(_) => {}
    }
}

/// The next message `ts`: `1700000000.000100`, then 100 µs later each time.
fn next_ts(inner: &mut Inner) -> String {
    inner.posted += 1;
    let micros = inner.posted * 100;
    format!("{}.{:06}", 1_700_000_000 + micros / 1_000_000, micros % 1_000_000)
}

fn post_message(inner: &mut Inner, args: &Map<String, Value>) -> Answer {
    let channel = channel_arg(inner, args)?;
    let (text, blocks) = content(args)?;
    let thread_ts = text_arg(args, "thread_ts");
    let ts = next_ts(inner);
    let message = Message { channel: channel.clone(), ts: ts.clone(), text, blocks, thread_ts, updates: vec![] };
    let shown = message.json();
    inner.messages.push(message);
    Ok(json!({"channel": channel, "ts": ts, "message": shown}))
}

fn update(inner: &mut Inner, args: &Map<String, Value>) -> Answer {
    let given = text_arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
    let channel = match resolve(inner, &given) {
        Some(Ok(id)) => id,
        // A message in an archived channel, or one the bot left, is still not found to update.
        Some(Err(_)) | None => return Err(fail("channel_not_found")),
    };
    let ts = text_arg(args, "ts").ok_or_else(|| fail("message_not_found"))?;
    let (text, blocks) = content(args)?;
    let message = inner.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts);
    let message = message.ok_or_else(|| fail("message_not_found"))?;
    message.text = text.clone();
    if !blocks.is_null() {
        message.blocks = blocks;
    }
    message.updates.push(Value::Object(args.clone()));
    Ok(json!({"channel": channel, "ts": ts, "text": text.unwrap_or_default(), "message": message.json()}))
}

fn post_ephemeral(inner: &mut Inner, args: &Map<String, Value>) -> Answer {
    let channel = channel_arg(inner, args)?;
    let user = text_arg(args, "user").ok_or_else(|| fail("user_not_found"))?;
    if !inner.users.iter().any(|u| u.id == user) {
        return Err(fail("user_not_found"));
    }
    let (text, _) = content(args)?;
    let message_ts = next_ts(inner);
    inner.ephemerals.push(Ephemeral { channel, user, text, message_ts: message_ts.clone() });
    Ok(json!({"message_ts": message_ts}))
}

fn lookup_by_email(inner: &Inner, args: &Map<String, Value>) -> Answer {
    let email = text_arg(args, "email").ok_or_else(|| fail("invalid_arguments"))?;
    let user = inner.users.iter().find(|u| !u.email.is_empty() && u.email.eq_ignore_ascii_case(&email));
    let user = user.ok_or_else(|| fail("users_not_found"))?;
    Ok(json!({"user": user.json()}))
}

/// Slack's cursor for the page starting at channel `id`.
pub fn cursor_for(id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("team:{id}"))
}

fn list_conversations(inner: &Inner, args: &Map<String, Value>) -> Answer {
    let limit = match text_arg(args, "limit") {
        None => 100,
        Some(limit) => match limit.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(fail("invalid_limit")),
        },
    };
    let types = text_arg(args, "types").unwrap_or_else(|| "public_channel".into());
    let types: Vec<&str> = types.split(',').map(str::trim).collect();
    if types.iter().any(|t| !["public_channel", "private_channel", "mpim", "im"].contains(t)) {
        return Err(fail("invalid_types"));
    }
    let exclude_archived = matches!(text_arg(args, "exclude_archived").as_deref(), Some("true" | "1"));
    let listed: Vec<&Channel> = inner
        .channels
        .iter()
        .filter(|c| types.contains(&if c.is_private { "private_channel" } else { "public_channel" }))
        .filter(|c| !(exclude_archived && c.is_archived))
        .collect();
    let start = match text_arg(args, "cursor") {
        None => 0,
        Some(cursor) => match listed.iter().position(|c| cursor_for(&c.id) == cursor) {
            Some(at) => at,
            None => return Err(fail("invalid_cursor")),
        },
    };
    let size = inner.page_size.map_or(limit, |cap| cap.min(limit));
    let page: Vec<Value> = listed.iter().skip(start).take(size).map(|c| c.json()).collect();
    let next = listed.get(start + size).map(|c| cursor_for(&c.id)).unwrap_or_default();
    Ok(json!({"channels": page, "response_metadata": {"next_cursor": next}}))
}

/// What Slack posts when someone clicks a button: the fields of a
/// `block_actions` payload that matter. Change any before [`Click::body`]
/// to send something else.
#[derive(Debug, Clone)]
pub struct Click {
    pub user_id: String,
    pub user_name: String,
    pub action_id: String,
    pub block_id: String,
    pub value: Option<String>,
    /// The button's label.
    pub label: String,
    pub style: Option<String>,
    /// `container.channel_id`.
    pub channel: String,
    /// `container.message_ts`.
    pub message_ts: String,
    /// When it was clicked: Slack's `"1700000123.456789"`.
    pub action_ts: String,
    /// The message clicked, as Slack shows it.
    pub message: Value,
}

impl Click {
    /// `action_ts` in ms since the epoch (what the approval reports as `at`).
    pub fn action_ms(&self) -> u64 {
        let (secs, fraction) = self.action_ts.split_once('.').unwrap_or((&self.action_ts, "0"));
        secs.parse::<u64>().unwrap() * 1000 + format!("{fraction:0<3}")[..3].parse::<u64>().unwrap()
    }

    /// The `block_actions` payload, as Slack sends it.
    pub fn payload(&self) -> Value {
        let mut action = json!({
            "type": "button", "action_id": self.action_id, "block_id": self.block_id,
            "text": {"type": "plain_text", "text": self.label, "emoji": true}, "action_ts": self.action_ts,
        });
        if let Some(value) = &self.value {
            action["value"] = json!(value);
        }
        if let Some(style) = &self.style {
            action["style"] = json!(style);
        }
        json!({
            "type": "block_actions",
            "user": {"id": self.user_id, "username": self.user_name, "name": self.user_name, "team_id": TEAM_ID},
            "api_app_id": "A0WIREWORK",
            "token": "Shh_its_a_legacy_verification_token",
            "container": {
                "type": "message", "message_ts": self.message_ts, "channel_id": self.channel, "is_ephemeral": false,
            },
            "trigger_id": "1700000001.1111111111.0123456789abcdef0123456789abcdef",
            "team": {"id": TEAM_ID, "domain": "wirework-e2e"},
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": {"id": self.channel, "name": "approvals"},
            "message": self.message,
            "state": {"values": {}},
            "response_url": format!("https://hooks.slack.com/actions/{TEAM_ID}/1700000001/e2eRespons3Url"),
            "actions": [action],
        })
    }

    /// The form body Slack posts: `payload=<urlencoded JSON>`.
    pub fn body(&self) -> String {
        payload_body(&self.payload())
    }
}

/// `payload=<urlencoded JSON>`, the body of any interactivity request.
pub fn payload_body(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

/// Now, in Unix seconds (what `X-Slack-Request-Timestamp` carries).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Now as a Slack timestamp, `"1767225660.123456"`.
pub fn slack_ts_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// `X-Slack-Signature` of `body` sent at `timestamp` (Unix seconds):
/// `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` under `secret`.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// A POST of `body` to `url` (a `/hooks/...` URL) as Slack sends an
/// interactivity request: form-encoded, signed with `secret` at `timestamp`.
pub fn signed_post_at(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    secret: &str,
    timestamp: u64,
) -> reqwest::RequestBuilder {
    let timestamp = timestamp.to_string();
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", signature(secret, &timestamp, body))
        .body(body.to_string())
}

/// [`signed_post_at`] now.
pub fn signed_post(client: &reqwest::Client, url: &str, body: &str, secret: &str) -> reqwest::RequestBuilder {
    signed_post_at(client, url, body, secret, unix_now())
}
