//! Decision tables through the real server: a node's rules decide per item
//! (first hit, unique, collect), items no rule matches leave on `no_match`,
//! and tables whose rules overlap or can never match are refused at deploy
//! with the rule's place.

use crate::common::server::{data_dir, json, serve};
use reqwest::Method;
use serde_json::json;

const PRICING: &str = r#"
id: pricing
triggers: [{id: quote, type: webhook, path: quote, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - id: discount
    decide:
      inputs: [customer.tier, total]
      rules:
        - {when: [gold, ">= 100"], then: {discount: 15, reason: big gold order}}
        - {when: [gold, "-"], then: {discount: 10, reason: gold}}
        - {when: [[silver, bronze], "[50..100)"], then: {discount: 5, reason: mid order}}
  - {id: priced, uses: wirework/core@^0.1, node: set, config: {fields: {price: "{{ number($json.total) * (100 - $json.discount) / 100 }}"}}}
  - {id: list-price, uses: wirework/core@^0.1, node: set, config: {fields: {price: "{{ $json.total }}", discount: 0}}}
connections:
  - {from: quote, to: discount}
  - {from: discount, to: priced}
  - {from: "discount:no_match", to: list-price}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_decides_per_item_and_bad_tables_are_refused() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |_| {}).await;
    server.deploy(PRICING).await;
    let quote = |order: serde_json::Value| {
        let server = &server;
        async move { json(server.raw(Method::POST, "/hooks/pricing/quote").json(&order).send().await.unwrap()).await }
    };
    let (status, body) = quote(json!({"customer": {"tier": "gold"}, "total": 200})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["discount"].clone(), body["price"].clone(), body["reason"].clone()),
        (json!(15), json!(170), json!("big gold order"))
    );
    let (_, body) = quote(json!({"customer": {"tier": "gold"}, "total": 80})).await;
    assert_eq!(body["discount"], 10);
    let (_, body) = quote(json!({"customer": {"tier": "silver"}, "total": "60"})).await;
    assert_eq!(body["discount"], 5, "{body}");
    // No rule matches: the item leaves on no_match, unchanged.
    let (_, body) = quote(json!({"customer": {"tier": "silver"}, "total": 20})).await;
    assert_eq!((body["discount"].clone(), body["price"].clone()), (json!(0), json!(20)), "{body}");

    // Refused at deploy: rule 3 of a first-hit table that rules 1 and 2 cover,
    // and two rules of a unique table that overlap.
    let covered = PRICING.replace("id: pricing", "id: pricing-2").replace("path: quote", "path: quote-2").replace(
        "- {when: [[silver, bronze], \"[50..100)\"], then: {discount: 5, reason: mid order}}",
        "- {when: [gold, \"[0..1000]\"], then: {discount: 1}}",
    );
    let problems = server.refused(&covered).await;
    assert!(
        problems.contains("nodes[0](discount).decide.rules[2]") && problems.contains("rule 3 can never match"),
        "{problems}"
    );
    let overlapping = PRICING
        .replace("id: pricing", "id: pricing-3")
        .replace("path: quote", "path: quote-3")
        .replace("inputs: [customer.tier, total]", "hit: unique\n      inputs: [customer.tier, total]");
    let problems = server.refused(&overlapping).await;
    assert!(problems.contains("rules 1 and 2 overlap"), "{problems}");
    let (status, _) = json(server.api(Method::GET, "/workflows/pricing-3").send().await.unwrap()).await;
    assert_eq!(status, 404);
    server.stop().await;
}
