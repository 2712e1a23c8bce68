//! CEL expressions in a deployed workflow, through the real server and the
//! core plugin built from source: deploy-time errors name the node and the
//! field, runtime errors fail the step with the field, conditions and
//! values compute per item, `$vars` comes from the operator.

use crate::common::server::{data_dir, json, serve};
use reqwest::Method;
use serde_json::json;

const QUOTE: &str = r#"
id: quote
triggers: [{id: ask, type: webhook, path: quote, uses: wirework/core@^0.1, mode: sync}]
nodes:
  - id: keep
    uses: wirework/core@^0.1
    node: filter
    config: {condition: "{{ $json.qty > 0 && lower($json.country) in ['nl', 'be'] }}"}
  - id: price
    uses: wirework/core@^0.1
    node: set
    config:
      fields:
        total: "{{ round($json.qty * $json.unit_price * 1.21, 2) }}"
        label: "{{ $json.qty }} × {{ upper($json.sku) }} for {{ default($json.name, 'a customer') }}"
        region: "{{ $vars.region }}"
        ship_by: "{{ parseDate($json.ordered).addDays(2).formatDate('%Y-%m-%d', 'Europe/Amsterdam') }}"
        rush: "{{ $json.qty >= 10 ? 'yes' : 'no' }}"
  - {id: answer, uses: wirework/core@^0.1, node: respond, config: {body: "{{ $items }}"}}
connections: [{from: ask, to: keep}, {from: keep, to: price}, {from: price, to: answer}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_computes_with_expressions_and_reports_their_errors_by_node_and_field() {
    let dir = data_dir("127.0.0.1:9");
    let server = serve(dir.path(), |c| c.vars = json!({"region": "eu"})).await;
    server.deploy(QUOTE).await;

    let order = json!({"qty": 12, "unit_price": 2.5, "country": "NL", "sku": "ab-1", "ordered": "2026-12-07"});
    let response = server.raw(Method::POST, "/hooks/quote/quote").json(&order).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([{
            "qty": 12, "unit_price": 2.5, "country": "NL", "sku": "ab-1", "ordered": "2026-12-07",
            "total": 36.3, "label": "12 × AB-1 for a customer", "region": "eu", "ship_by": "2026-12-09",
            "rush": "yes",
        }])
    );
    // The filter's expression is false for this one: nothing reaches the answer.
    let elsewhere = json!({"qty": 1, "unit_price": 1, "country": "DE", "sku": "x", "ordered": "2026-12-07"});
    let response = server.raw(Method::POST, "/hooks/quote/quote").json(&elsewhere).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains("total"), "{body}");

    // Deploy: each bad expression is named by node and field; nothing is stored.
    let bad = QUOTE
        .replace("id: quote", "id: quote-bad")
        .replace("path: quote", "path: quote-bad")
        .replace("round($json.qty", "rund($json.qty")
        .replace("$vars.region", "$secrets.region");
    let response = server.api(Method::POST, "/workflows").body(bad).send().await.unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 400, "{body}");
    let text = body.to_string();
    assert!(text.contains("config/fields/total") && text.contains("unknown function `rund`"), "{body}");
    assert!(text.contains("config/fields/region") && text.contains("unknown variable `$secrets`"), "{body}");
    let (status, _) = json(server.api(Method::GET, "/workflows/quote-bad").send().await.unwrap()).await;
    assert_eq!(status, 404, "a refused workflow is not stored");

    // Run time: a division by zero fails the step, naming the field.
    server
        .deploy(
            r#"
id: ratio
triggers: [{id: ask, type: webhook, path: ratio, uses: wirework/core@^0.1}]
nodes:
  - {id: divide, uses: wirework/core@^0.1, node: set, config: {fields: {share: "{{ $json.part / $json.whole }}"}}}
connections: [{from: ask, to: divide}]
"#,
        )
        .await;
    let response =
        server.raw(Method::POST, "/hooks/ratio/ratio").json(&json!({"part": 1, "whole": 0})).send().await.unwrap();
    let (status, accepted) = json(response).await;
    assert_eq!(status, 202, "{accepted}");
    let execution = server.wait_for(accepted["execution_id"].as_str().unwrap(), &["failed"]).await;
    let text = execution.to_string();
    assert!(
        text.contains("divide") && text.contains("/fields/share") && text.contains("division by zero"),
        "{execution:#}"
    );
    server.stop().await;
}
