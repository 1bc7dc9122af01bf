//! {{name}}: a clambot tool component in JavaScript (`tool.js`). Each export of
//! `wit/{{name}}.wit` is declared here and handed to the JS function of the same
//! name in camelCase (see `js.rs`). Add a function: declare it in the WIT, add
//! its line here, write it in `tool.js`.

mod js;

wit_bindgen::generate!({
    world: "{{name}}-tool",
    path: "wit",
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use exports::clambot_tools::{{snake}}::{{snake}}::Guest;

struct Tool;

impl Guest for Tool {
    fn hello(name: String) -> Result<String, String> {
        js::call("hello", (name,))
    }
}

export!(Tool);
