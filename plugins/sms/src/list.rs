//! `list-messages`: `GET {base}/2010-04-01/Accounts/{sid}/Messages.json?To=&From=&DateSent>=&PageSize=`,
//! following `next_page_uri` (relative to the base) up to `limit` messages.

use crate::{api_error, bad_config, count, given, Account, CREDENTIAL};
use serde::Deserialize;
use serde_json::{json, Value};
use wirework_sdk::{form, http, Input, Item, Node, NodeError, NodeInfo, Outcome};

/// The most messages one call returns.
pub const MAX_LIMIT: u32 = 10_000;
/// Twilio's largest page.
pub const MAX_PAGE_SIZE: u32 = 1_000;

/// Configuration of `list-messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    /// Only messages to this number.
    #[serde(default)]
    pub to: Option<String>,
    /// Only messages from this number.
    #[serde(default)]
    pub from: Option<String>,
    /// Only messages sent on this day (`YYYY-MM-DD`): Twilio's `DateSent`.
    #[serde(default)]
    pub date_sent: Option<String>,
    /// Only messages sent on or after this date or time: Twilio's `DateSent>`.
    #[serde(default)]
    pub date_sent_after: Option<String>,
    /// Only messages sent on or before this date or time: Twilio's `DateSent<`.
    #[serde(default)]
    pub date_sent_before: Option<String>,
    /// Messages per page (Twilio's `PageSize`, 1-1000); default `min(limit, 1000)`.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// The most messages to return (1-10,000), default 100.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// Lists messages, newest first, one output item per input item.
pub struct ListMessages;

impl Node for ListMessages {
    const NAME: &'static str = "list-messages";
    type Config = ListConfig;

    fn info() -> NodeInfo {
        NodeInfo::action(
            "List SMS messages",
            "Lists the account's messages (newest first) by recipient, sender and date; one output item per \
             input item: {messages, count, has_more}",
        )
        .schema(json!({
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": "Only messages sent to this number (E.164)"},
                "from": {"type": "string", "description": "Only messages sent from this number (E.164)"},
                "date_sent": {"type": "string", "description": "Only messages sent on this day, YYYY-MM-DD (UTC)"},
                "date_sent_after": {
                    "type": "string",
                    "description": "Only messages sent on or after this date (YYYY-MM-DD) or time (ISO 8601, UTC)"
                },
                "date_sent_before": {
                    "type": "string",
                    "description": "Only messages sent on or before this date (YYYY-MM-DD) or time (ISO 8601, UTC)"
                },
                "page_size": {
                    "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                    "description": "Messages per request; default the limit, at most 1000"
                },
                "limit": {
                    "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100,
                    "description": "The most messages to return"
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(config: ListConfig, input: Input) -> Result<Outcome, NodeError> {
        if !(1..=MAX_LIMIT).contains(&config.limit) {
            return Err(bad_config(format!("`limit` must be 1 to {MAX_LIMIT}, not {}", config.limit)));
        }
        if config.page_size.is_some_and(|p| !(1..=MAX_PAGE_SIZE).contains(&p)) {
            return Err(bad_config(format!("`page_size` must be 1 to {MAX_PAGE_SIZE}")));
        }
        let account = Account::bound()?;
        let url = first_page_url(&account, &config);
        let calls = input.items.len().max(1);
        let mut out = Vec::with_capacity(calls);
        for _ in 0..calls {
            out.push(list(&account, &url, config.limit as usize)?);
        }
        Ok(Outcome::emit(out))
    }
}

fn first_page_url(account: &Account, config: &ListConfig) -> String {
    let page_size = config.page_size.unwrap_or(config.limit.min(MAX_PAGE_SIZE));
    let mut query: Vec<(&str, &str)> = Vec::new();
    let filters = [
        ("To", &config.to),
        ("From", &config.from),
        ("DateSent", &config.date_sent),
        ("DateSent>", &config.date_sent_after),
        ("DateSent<", &config.date_sent_before),
    ];
    for (name, value) in &filters {
        if let Some(value) = given(value) {
            query.push((name, value));
        }
    }
    let page_size = page_size.to_string();
    query.push(("PageSize", &page_size));
    format!("{}?{}", account.messages_url(), form::encode_pairs(&query))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    messages: Vec<Value>,
    next_page_uri: Option<String>,
}

fn list(account: &Account, first: &str, limit: usize) -> Result<Item, NodeError> {
    let mut url = first.to_string();
    let mut messages = Vec::new();
    let has_more = loop {
        let response = http::get(&url).credential(CREDENTIAL).send()?;
        if !(200..300).contains(&response.status) {
            return Err(api_error("listing messages", &response));
        }
        let page: Page = response.body_json()?;
        let on_page = page.messages.len();
        let take = on_page.min(limit - messages.len());
        messages.extend(page.messages[..take].iter().map(summary));
        let next = page.next_page_uri.filter(|uri| !uri.is_empty());
        if messages.len() >= limit {
            // Full: more exist if this page had some left or there is a next one.
            break on_page > take || next.is_some();
        }
        match next {
            // An empty page with a next one would loop for ever: stop.
            Some(_) if on_page == 0 => break false,
            Some(uri) if uri.starts_with('/') => url = format!("{}{uri}", account.base),
            Some(uri) => {
                return Err(NodeError::fatal(format!(
                    "listing messages: Twilio's next_page_uri is not a path below the API base: {uri}"
                ))
                .with_code("bad_response"))
            }
            None => break false,
        }
    };
    Ok(json!({"messages": messages, "count": messages.len(), "has_more": has_more}))
}

/// A message as Twilio lists it, in the fields a workflow uses.
fn summary(message: &Value) -> Value {
    json!({
        "sid": message["sid"],
        "status": message["status"],
        "direction": message["direction"],
        "from": message["from"],
        "to": message["to"],
        "body": message["body"],
        "num_segments": count(message.get("num_segments")),
        "num_media": count(message.get("num_media")),
        "date_created": message["date_created"],
        "date_sent": message["date_sent"],
        "date_updated": message["date_updated"],
        "error_code": message["error_code"],
        "error_message": message["error_message"],
        "price": message["price"],
        "price_unit": message["price_unit"],
        "messaging_service_sid": message["messaging_service_sid"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirework_sdk::testing::{FakeHost, Reply};

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "tw-auth-token-do-not-leak";
    const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy1hdXRoLXRva2VuLWRvLW5vdC1sZWFr";
    const PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

    fn twilio() -> FakeHost {
        FakeHost::new().credential("twilio", &[("account_sid", SID), ("auth_token", TOKEN)])
    }

    fn message(n: u32) -> Value {
        json!({
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": format!("message {n}"),
            "date_created": "Mon, 01 Dec 2025 10:00:00 +0000",
            "date_sent": "Mon, 01 Dec 2025 10:00:01 +0000",
            "date_updated": "Mon, 01 Dec 2025 10:00:02 +0000",
            "direction": "inbound",
            "error_code": null,
            "error_message": null,
            "from": "+14155552671",
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "1",
            "price": "-0.00790",
            "price_unit": "USD",
            "sid": format!("SM{n:032}"),
            "status": "received",
            "subresource_uris": {"media": "/2010-04-01/Accounts/AC.../Media.json"},
            "to": "+15557122661",
            "uri": "/2010-04-01/Accounts/AC.../Messages/SM....json"
        })
    }

    fn page(numbers: impl IntoIterator<Item = u32>, next: Option<&str>) -> Reply {
        let messages: Vec<Value> = numbers.into_iter().map(message).collect();
        Reply::json(
            200,
            json!({
                "end": 1, "first_page_uri": PATH, "next_page_uri": next, "page": 0, "page_size": 2,
                "previous_page_uri": null, "start": 0, "uri": PATH, "messages": messages
            }),
        )
    }

    fn output(outcome: Outcome) -> Vec<Item> {
        let Outcome::Emit(mut ports) = outcome else { panic!("not emitted") };
        assert_eq!(ports.len(), 1);
        ports.remove(0).1
    }

    #[test]
    fn pages_through_next_page_uri_with_filters_and_the_base_url_override() {
        let next1 = format!("{PATH}?To=%2B15557122661&PageSize=2&Page=1&PageToken=PASM1");
        let next2 = format!("{PATH}?To=%2B15557122661&PageSize=2&Page=2&PageToken=PASM2");
        let base = "http://127.0.0.1:9090/twilio";
        let host = FakeHost::new()
            .credential(
                "twilio",
                &[("account_sid", SID), ("auth_token", TOKEN), ("base_url", "http://127.0.0.1:9090/twilio/")],
            )
            .expect(
                "GET",
                &format!("{base}{PATH}?To=%2B15557122661&From=%2B14155552671&DateSent%3E=2025-12-01&PageSize=2"),
                page(1..=2, Some(&next1)),
            )
            .expect("GET", &format!("{base}{next1}"), page(3..=4, Some(&next2)))
            .expect("GET", &format!("{base}{next2}"), page(5..=5, None));
        let config = json!({
            "to": "+15557122661", "from": "+14155552671", "date_sent_after": "2025-12-01",
            "date_sent": "", "page_size": 2, "limit": 10
        });
        let items = output(host.run::<ListMessages>(config, vec![]).unwrap());
        host.assert_done();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["count"], 5);
        assert_eq!(items[0]["has_more"], false);
        let sids: Vec<&str> =
            items[0]["messages"].as_array().unwrap().iter().map(|m| m["sid"].as_str().unwrap()).collect();
        assert_eq!(sids.len(), 5);
        assert_eq!(sids[4], format!("SM{:032}", 5));
        assert_eq!(
            items[0]["messages"][0],
            json!({
                "sid": format!("SM{:032}", 1), "status": "received", "direction": "inbound",
                "from": "+14155552671", "to": "+15557122661", "body": "message 1",
                "num_segments": 1, "num_media": 0,
                "date_created": "Mon, 01 Dec 2025 10:00:00 +0000",
                "date_sent": "Mon, 01 Dec 2025 10:00:01 +0000",
                "date_updated": "Mon, 01 Dec 2025 10:00:02 +0000",
                "error_code": null, "error_message": null, "price": "-0.00790", "price_unit": "USD",
                "messaging_service_sid": null
            })
        );
        for sent in host.requests() {
            assert_eq!(sent.method, "GET");
            assert_eq!(sent.header("authorization"), Some(BASIC));
            assert!(sent.body.is_empty());
        }
    }

    #[test]
    fn stops_at_the_limit_and_says_there_is_more() {
        let next = format!("{PATH}?PageSize=2&Page=1&PageToken=PASM1");
        let host = twilio()
            .expect("GET", &format!("https://api.twilio.com{PATH}?PageSize=2"), page(1..=2, Some(&next)))
            .expect("GET", &format!("https://api.twilio.com{next}"), page(3..=4, Some("/next")));
        let items = output(host.run::<ListMessages>(json!({"limit": 3, "page_size": 2}), vec![]).unwrap());
        host.assert_done();
        assert_eq!(items[0]["count"], 3);
        assert_eq!(items[0]["has_more"], true);
        assert_eq!(items[0]["messages"].as_array().unwrap().len(), 3);

        // A last page with more than the limit left: more.
        let host = twilio().expect("GET", &format!("https://api.twilio.com{PATH}?PageSize=3"), page(1..=4, None));
        let items = output(host.run::<ListMessages>(json!({"limit": 3}), vec![]).unwrap());
        host.assert_done();
        assert_eq!((items[0]["count"].clone(), items[0]["has_more"].clone()), (json!(3), json!(true)));

        // Exactly the limit on the last page, no next page: nothing more.
        let host = twilio().expect(
            "GET",
            &format!("https://api.twilio.com{PATH}?DateSent%3C=2025-12-31&PageSize=2"),
            page(1..=2, None),
        );
        let items =
            output(host.run::<ListMessages>(json!({"limit": 2, "date_sent_before": "2025-12-31"}), vec![]).unwrap());
        host.assert_done();
        assert_eq!((items[0]["count"].clone(), items[0]["has_more"].clone()), (json!(2), json!(false)));
    }

    #[test]
    fn default_limit_is_100_and_one_list_per_input_item() {
        let url = format!("https://api.twilio.com{PATH}?From=%2B14155552671&PageSize=100");
        let host = twilio().expect("GET", &url, page(1..=1, None)).expect("GET", &url, page(1..=1, None));
        let items = output(
            host.run::<ListMessages>(json!({"from": "+14155552671"}), vec![json!({"a": 1}), json!({"a": 2})]).unwrap(),
        );
        host.assert_done();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], json!({"messages": [summary(&message(1))], "count": 1, "has_more": false}));
    }

    #[test]
    fn an_empty_list_is_one_item_with_no_messages() {
        let host = twilio().expect("GET", &format!("https://api.twilio.com{PATH}?PageSize=100"), page([], None));
        let items = output(host.run::<ListMessages>(json!({}), vec![]).unwrap());
        assert_eq!(items, vec![json!({"messages": [], "count": 0, "has_more": false})]);
    }

    #[test]
    fn limits_out_of_range_are_bad_config() {
        for config in
            [json!({"limit": 0}), json!({"limit": 10_001}), json!({"page_size": 0}), json!({"page_size": 1001})]
        {
            let host = twilio();
            let error = host.run::<ListMessages>(config.clone(), vec![]).unwrap_err();
            assert_eq!(error.code.as_deref(), Some("bad_config"), "{config}");
            assert!(host.requests().is_empty());
        }
        // Limits above a page: pages of 1000.
        let host = twilio().expect("GET", &format!("https://api.twilio.com{PATH}?PageSize=1000"), page(1..=1, None));
        output(host.run::<ListMessages>(json!({"limit": 10_000}), vec![]).unwrap());
        host.assert_done();
    }

    #[test]
    fn errors_on_any_page_are_classified_and_hold_no_secret() {
        let first = format!("https://api.twilio.com{PATH}?PageSize=2");
        let next = format!("{PATH}?PageSize=2&Page=1&PageToken=PASM1");
        let host = twilio().expect("GET", &first, page(1..=2, Some(&next))).expect(
            "GET",
            &format!("https://api.twilio.com{next}"),
            Reply::with(429, &[("retry-after", "3")], r#"{"code":20429,"message":"Too Many Requests","status":429}"#),
        );
        let error = host.run::<ListMessages>(json!({"page_size": 2}), vec![]).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.retry_after_ms, Some(3000));
        assert_eq!(error.code.as_deref(), Some("twilio_20429"));
        assert!(error.message.starts_with("listing messages:"), "{}", error.message);

        let host = twilio().expect("GET", &first, Reply::with(502, &[], "bad gateway"));
        let error = host.run::<ListMessages>(json!({"page_size": 2}), vec![]).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.code.as_deref(), Some("http_502"));

        let body = json!({"code": 20404, "message": "The requested resource /2010-04-01/Accounts/AC.../Messages.json was not found",
                          "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404});
        let host = twilio().expect("GET", &first, Reply::json(404, body));
        let error = host.run::<ListMessages>(json!({"page_size": 2}), vec![]).unwrap_err();
        assert!(!error.retryable);
        assert_eq!(error.code.as_deref(), Some("twilio_20404"));
        assert!(error.message.contains("was not found"), "{}", error.message);
        assert!(!error.message.contains(TOKEN));

        let body = json!({"code": 20422, "message": "Invalid DateSent", "status": 400});
        let host = twilio().expect(
            "GET",
            &format!("https://api.twilio.com{PATH}?DateSent=yesterday&PageSize=100"),
            Reply::json(400, body),
        );
        let error = host.run::<ListMessages>(json!({"date_sent": "yesterday"}), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("twilio_20422"));
        assert!(!error.retryable);
        for (_, line) in host.logs() {
            assert!(!line.contains(TOKEN));
        }
    }

    #[test]
    fn a_next_page_elsewhere_is_refused() {
        let host = twilio().expect(
            "GET",
            &format!("https://api.twilio.com{PATH}?PageSize=100"),
            page(1..=1, Some("https://evil.example/steal")),
        );
        let error = host.run::<ListMessages>(json!({}), vec![]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("bad_response"));
        assert_eq!(host.requests().len(), 1);
    }

    #[test]
    fn the_schema_names_every_config_field() {
        let schema = crate::tests_support::schema_of::<ListMessages>();
        let names = crate::tests_support::property_names(&schema);
        assert_eq!(names, ["date_sent", "date_sent_after", "date_sent_before", "from", "limit", "page_size", "to"]);
        let all = json!({"to": "+1", "from": "+1", "date_sent": "d", "date_sent_after": "d", "date_sent_before": "d",
                         "page_size": 5, "limit": 5});
        serde_json::from_value::<ListConfig>(all).unwrap();
        assert!(serde_json::from_value::<ListConfig>(json!({"DateSent": "x"})).is_err());
    }
}
