//! `application/x-www-form-urlencoded` bodies: Stripe-style nested encoding
//! of JSON, and decoding into ordered pairs (e.g. Twilio's webhook params).
//!
//! Names and values are percent-encoded as the WHATWG URL standard's
//! `application/x-www-form-urlencoded` serializer does: ASCII letters, digits
//! and `*-._` stay, a space becomes `+`, every other byte of the UTF-8 text
//! becomes `%XX`.
//!
//! ```
//! use wirework_sdk::{form, serde_json::json};
//!
//! let body = form::encode(&json!({
//!     "customer": "cus_123",
//!     "items": [{"price": "price_1", "quantity": 2}],
//!     "metadata": {"plan": "pro plan"},
//! }))
//! .unwrap();
//! assert_eq!(body, "customer=cus_123&items[0][price]=price_1&items[0][quantity]=2&metadata[plan]=pro+plan");
//! assert_eq!(form::decode(&body)[3], ("metadata[plan]".to_string(), "pro plan".to_string()));
//! ```

use serde_json::Value;

/// Why a value cannot be form-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormError {
    /// Only a JSON object can be a form body (its keys are the field names).
    NotAnObject,
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormError::NotAnObject => write!(f, "only a JSON object can be encoded as a form body"),
        }
    }
}

impl std::error::Error for FormError {}

/// Encode a JSON object as a form body, nesting the way Stripe's API reads it:
/// an object's fields as `metadata[plan]=pro`, an array's elements by index as
/// `items[0][price]=...`, `true`/`false` as such, numbers as JSON writes them,
/// strings as they are. `null`, empty objects and empty arrays send nothing
/// (to clear a field in Stripe, send an empty string instead). The brackets
/// that mark nesting are written literally, as Stripe's own libraries do,
/// while a `[` or `]` inside a key is percent-encoded. Fields keep the
/// object's order (serde_json sorts keys unless its `preserve_order` feature is on).
pub fn encode(value: &Value) -> Result<String, FormError> {
    let object = value.as_object().ok_or(FormError::NotAnObject)?;
    let mut out = String::new();
    for (key, value) in object {
        flatten(&mut out, &escape(key), value);
    }
    Ok(out)
}

/// Encode `(name, value)` pairs as a form body, in order and without nesting;
/// a repeated name is sent as repeated pairs (as Twilio's API expects for lists).
pub fn encode_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        push_pair(&mut out, &escape(name.as_ref()), value.as_ref());
    }
    out
}

/// Decode a form body into its `(name, value)` pairs, in order and with
/// repeats kept: `+` is a space, `%XX` escapes are decoded, bytes that are not
/// UTF-8 become U+FFFD, empty `&&` pieces are skipped and a piece without `=`
/// has an empty value. Accepts `&Vec<u8>` (a request body), `&[u8]` or `&str`.
pub fn decode(body: impl AsRef<[u8]>) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_ref()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Append the pairs for `value` under the already-escaped `name`.
fn flatten(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => push_pair(out, name, if *b { "true" } else { "false" }),
        Value::Number(n) => push_pair(out, name, &n.to_string()),
        Value::String(s) => push_pair(out, name, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(out, &format!("{name}[{i}]"), item);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                flatten(out, &format!("{name}[{}]", escape(key)), field);
            }
        }
    }
}

fn push_pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str(name);
    out.push('=');
    out.push_str(&escape(value));
}

fn escape(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(body: &str) -> Vec<(String, String)> {
        decode(body)
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn encodes_stripe_style_nesting() {
        let body = encode(&json!({
            "amount": 2000,
            "automatic_payment_methods": {"enabled": true},
            "currency": "usd",
            "metadata": {"order_id": "6735", "plan": "pro"},
        }))
        .unwrap();
        assert_eq!(
            body,
            "amount=2000&automatic_payment_methods[enabled]=true&currency=usd\
             &metadata[order_id]=6735&metadata[plan]=pro"
        );
    }

    #[test]
    fn encodes_arrays_by_index_at_any_depth() {
        let body = encode(&json!({
            "customer": "cus_1",
            "expand": ["latest_invoice.payment_intent", "customer"],
            "items": [
                {"price": "price_a", "quantity": 1},
                {"metadata": {"k": "v"}, "price": "price_b", "tax_rates": ["txr_1", "txr_2"]},
            ],
            "matrix": [[1, 2], [3]],
        }))
        .unwrap();
        assert_eq!(
            pairs(&body),
            owned(&[
                ("customer", "cus_1"),
                ("expand[0]", "latest_invoice.payment_intent"),
                ("expand[1]", "customer"),
                ("items[0][price]", "price_a"),
                ("items[0][quantity]", "1"),
                ("items[1][metadata][k]", "v"),
                ("items[1][price]", "price_b"),
                ("items[1][tax_rates][0]", "txr_1"),
                ("items[1][tax_rates][1]", "txr_2"),
                ("matrix[0][0]", "1"),
                ("matrix[0][1]", "2"),
                ("matrix[1][0]", "3"),
            ])
        );
        assert!(body.starts_with("customer=cus_1&expand[0]=latest_invoice.payment_intent&"));
    }

    #[test]
    fn encodes_scalars_and_skips_nothing_values() {
        let body = encode(&json!({
            "a": false,
            "b": true,
            "c": -12,
            "d": 1.5,
            "e": 18446744073709551615u64,
            "f": null,
            "g": "",
            "h": [],
            "i": {},
            "j": [null, "x"],
            "k": {"z": null},
        }))
        .unwrap();
        assert_eq!(body, "a=false&b=true&c=-12&d=1.5&e=18446744073709551615&g=&j[1]=x");
        assert_eq!(encode(&json!({})).unwrap(), "");
    }

    #[test]
    fn only_objects_encode() {
        for value in [json!(null), json!([1]), json!("a=b"), json!(3)] {
            assert_eq!(encode(&value), Err(FormError::NotAnObject));
        }
        assert_eq!(FormError::NotAnObject.to_string(), "only a JSON object can be encoded as a form body");
    }

    #[test]
    fn percent_encodes_reserved_characters_and_spaces() {
        let body = encode(&json!({
            "description": "a&b=c+d e/f?g#h%i;j:k@l,m'n\"o<p>q~r*s-t_u.v",
            "metadata": {"my key[x]": "[1]"},
        }))
        .unwrap();
        assert_eq!(
            body,
            "description=a%26b%3Dc%2Bd+e%2Ff%3Fg%23h%25i%3Bj%3Ak%40l%2Cm%27n%22o%3Cp%3Eq%7Er*s-t_u.v\
             &metadata[my+key%5Bx%5D]=%5B1%5D"
        );
        assert_eq!(
            pairs(&body),
            owned(&[("description", "a&b=c+d e/f?g#h%i;j:k@l,m'n\"o<p>q~r*s-t_u.v"), ("metadata[my key[x]]", "[1]"),])
        );
    }

    #[test]
    fn encodes_unicode_as_utf8_escapes() {
        let body = encode(&json!({"emoji": "🚀", "name": "Zoë Ünïcödé", "中文": "值"})).unwrap();
        assert_eq!(body, "emoji=%F0%9F%9A%80&name=Zo%C3%AB+%C3%9Cn%C3%AFc%C3%B6d%C3%A9&%E4%B8%AD%E6%96%87=%E5%80%BC");
        assert_eq!(pairs(&body), owned(&[("emoji", "🚀"), ("name", "Zoë Ünïcödé"), ("中文", "值")]));
    }

    #[test]
    fn encode_pairs_keeps_order_and_repeats() {
        let body = encode_pairs(&[("To", "+15558675310"), ("MediaUrl", "https://x.test/a b.png"), ("MediaUrl", "é")]);
        assert_eq!(body, "To=%2B15558675310&MediaUrl=https%3A%2F%2Fx.test%2Fa+b.png&MediaUrl=%C3%A9");
        assert_eq!(encode_pairs::<&str, &str>(&[]), "");
    }

    #[test]
    fn decodes_a_twilio_webhook_body_in_order() {
        let body = b"ToCountry=US&Body=Hello+there%21+%F0%9F%91%8B&From=%2B14158675309&NumMedia=0&Empty=&Flag";
        assert_eq!(
            decode(body),
            owned(&[
                ("ToCountry", "US"),
                ("Body", "Hello there! 👋"),
                ("From", "+14158675309"),
                ("NumMedia", "0"),
                ("Empty", ""),
                ("Flag", ""),
            ])
        );
    }

    #[test]
    fn decodes_edge_cases_leniently() {
        assert_eq!(pairs(""), owned(&[]));
        assert_eq!(pairs("&&a=1&&"), owned(&[("a", "1")]));
        assert_eq!(pairs("a=1&a=2&b=x=y"), owned(&[("a", "1"), ("a", "2"), ("b", "x=y")]));
        // A lone or bad `%` stays as it is; `%2B` is a plus, `+` a space.
        assert_eq!(pairs("p=100%&q=%zz&r=%2B+"), owned(&[("p", "100%"), ("q", "%zz"), ("r", "+ ")]));
        // Bytes that are not UTF-8 do not fail the whole body.
        assert_eq!(pairs("k=%FF"), owned(&[("k", "\u{FFFD}")]));
        assert_eq!(decode(&b"k=v"[..]), owned(&[("k", "v")]));
        let request_body: Vec<u8> = b"k=v".to_vec();
        assert_eq!(decode(&request_body), owned(&[("k", "v")]));
    }

    #[test]
    fn round_trips_through_encode_pairs_and_decode() {
        let original = owned(&[("a b", "c&d"), ("é", "=+%"), ("", "empty name"), ("x", "")]);
        assert_eq!(decode(encode_pairs(&original)), original);
    }
}
