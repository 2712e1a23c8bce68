//! Runs every example of docs/expressions.md (`- `expr` → `result``, or
//! `→ error: text`) against the page's sample data.

use super::{ConfigTemplate, Scope};
use serde_json::{json, Value};

const PAGE: &str = include_str!("../../../../docs/expressions.md");

struct Example {
    line: usize,
    text: String,
    expected: Result<Value, String>,
}

fn sample() -> Value {
    let start = PAGE.find("```json sample\n").expect("the page has a ```json sample block") + 15;
    let end = start + PAGE[start..].find("```").expect("the sample block ends");
    serde_json::from_str(&PAGE[start..end]).expect("the sample is JSON")
}

fn examples() -> Vec<Example> {
    let mut out = Vec::new();
    for (i, line) in PAGE.lines().enumerate() {
        let Some(rest) = line.strip_prefix("- `") else { continue };
        let Some((text, result)) = rest.split_once("` → ") else { continue };
        let expected = match result.strip_prefix("error: ") {
            Some(message) => Err(message.trim().to_string()),
            None => {
                let json = result.strip_prefix('`').and_then(|r| r.split_once('`')).map(|(j, _)| j);
                let json = json.unwrap_or_else(|| panic!("line {}: the result is neither `json` nor error:", i + 1));
                Ok(serde_json::from_str(json).unwrap_or_else(|e| panic!("line {}: `{json}` is not JSON: {e}", i + 1)))
            }
        };
        out.push(Example { line: i + 1, text: text.to_string(), expected });
    }
    out
}

fn evaluate(text: &str, data: &Value) -> Result<Value, String> {
    let template = ConfigTemplate::compile(&json!({ "v": text }))
        .map_err(|errors| errors.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; "))?;
    let node = || data["node"].clone();
    let scope = Scope {
        json: Some(&data["json"]),
        items: &data["items"],
        node: &node,
        trigger: &data["trigger"],
        execution: &data["execution"],
        now_ms: data["now_ms"].as_u64().expect("now_ms"),
        vars: &data["vars"],
    };
    template.render(&scope).map(|v| v["v"].clone())
}

#[test]
fn every_example_on_the_expressions_page_gives_what_it_says() {
    let data = sample();
    let examples = examples();
    assert!(examples.len() > 80, "found only {} examples: has the page's format changed?", examples.len());
    let mut wrong = Vec::new();
    for example in &examples {
        let got = evaluate(&example.text, &data);
        let ok = match (&example.expected, &got) {
            (Ok(want), Ok(got)) => want == got,
            (Err(want), Err(got)) => got.contains(want.as_str()),
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "line {}: {}\n  want {:?}\n  got  {:?}",
                example.line, example.text, example.expected, got
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} examples differ:\n{}", wrong.len(), examples.len(), wrong.join("\n"));
}

#[test]
fn every_library_function_has_an_example() {
    let examples = examples();
    let missing: Vec<&str> = super::library::OWN
        .iter()
        .copied()
        .filter(|name| !examples.iter().any(|e| e.text.contains(&format!("{name}("))))
        .collect();
    assert!(missing.is_empty(), "functions without an example on docs/expressions.md: {missing:?}");
}
