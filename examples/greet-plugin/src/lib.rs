// `acme/greet`: the complete node shown in the SDK's documentation, which includes this file.

use serde::Deserialize;
use serde_json::json;
use wirework_sdk::{Input, Node, NodeError, NodeInfo, Outcome};

#[derive(Deserialize)]
struct Config {
    greeting: String,
}

/// Adds `greeting` to every item, and counts the items it has greeted.
struct Greet;

impl Node for Greet {
    const NAME: &'static str = "greet";
    type Config = Config;

    fn info() -> NodeInfo {
        NodeInfo::action("Greet", "Adds a greeting to every item")
            .schema(json!({"type": "object", "required": ["greeting"]}))
    }

    fn run(config: Config, input: Input) -> Result<Outcome, NodeError> {
        let seen = wirework_sdk::kv::get_json::<u64>("seen").unwrap_or(0);
        wirework_sdk::kv::set_json("seen", &(seen + input.items.len() as u64));
        let items = input.items.into_iter().map(|mut item| {
            item["greeting"] = json!(config.greeting);
            item
        });
        Ok(Outcome::emit(items.collect()))
    }
}

wirework_sdk::plugin!(Greet);
