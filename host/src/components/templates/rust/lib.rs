//! {{name}}: a clambot tool component in Rust. `wit/{{name}}.wit` declares what
//! it exports; wit-bindgen turns that into the `Guest` trait implemented here.

wit_bindgen::generate!({
    world: "{{name}}-tool",
    path: "wit",
});

use exports::clambot_tools::{{snake}}::{{snake}}::Guest;

struct Tool;

impl Guest for Tool {
    fn hello(name: String) -> Result<String, String> {
        if name.trim().is_empty() {
            return Err("the name is empty".to_owned());
        }
        Ok(format!("Hello, {name}!"))
    }
}

export!(Tool);
