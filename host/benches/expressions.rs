//! Expression evaluation per item (docs/expressions.md): a typical field
//! comparison in CEL against the look-up it replaces, measured in the same
//! run, and a few heavier expressions. Prints its figures; asserts nothing.
//!
//! `cargo bench -p wirework --bench expressions`

use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;
use wirework::engine::expr::{ConfigTemplate, Scope};

fn main() {
    let item = json!({
        "email": "ann@example.com", "first_name": "Ann", "score": 72, "country": "NL",
        "tags": ["vip", "newsletter"], "created": "2026-12-07T10:00:00Z",
        "lines": [{"sku": "A-1", "qty": 1, "price": 20}, {"sku": "B-2", "qty": 3, "price": 5.5}],
        "address": {"street": "Main 1", "city": "Utrecht", "zip": "3511"},
    });
    let cases = [
        ("look-up (baseline): $json.score", "{{ $json.score }}"),
        ("field comparison: $json.score >= 50", "{{ $json.score >= 50 }}"),
        ("two conditions", "{{ $json.score >= 50 && $json.country == 'NL' }}"),
        ("text: lower(trim(email))", "{{ lower($json.email.trim()) }}"),
        ("template with two fields", "Hi {{ $json.first_name }}, score {{ $json.score * 2 }}"),
        ("list: sum of qty * price", "{{ $json.lines.map(l, l.qty * l.price).sum() }}"),
        ("date: format in a zone", "{{ timestamp($json.created).formatDate('%Y-%m-%d', 'Europe/Amsterdam') }}"),
    ];
    println!("expression evaluation per item (one item of {} bytes, release build)", item.to_string().len());
    let mut baseline = None;
    for (name, text) in cases {
        let template = ConfigTemplate::compile(&json!({ "v": text })).expect("compiles");
        let ns = per_item(&template, &item);
        let base = *baseline.get_or_insert(ns);
        println!("  {name:45} {:>7.2} µs   {:>5.1}x the look-up", ns / 1000.0, ns / base);
    }
    println!("goal: a typical field comparison under 2 µs per item");
}

/// Nanoseconds per evaluation, the best of five rounds.
fn per_item(template: &ConfigTemplate, item: &Value) -> f64 {
    let items = json!([item]);
    let node = || json!({});
    let (trigger, execution, vars) = (json!({}), json!({}), json!({}));
    let scope = Scope {
        json: Some(item),
        items: &items,
        node: &node,
        trigger: &trigger,
        execution: &execution,
        now_ms: 1_796_637_600_000,
        vars: &vars,
    };
    let rounds = 20_000;
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                black_box(template.render(black_box(&scope)).expect("evaluates"));
            }
            start.elapsed().as_nanos() as f64 / rounds as f64
        })
        .fold(f64::MAX, f64::min)
}
