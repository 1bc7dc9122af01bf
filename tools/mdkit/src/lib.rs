//! mdkit: Markdown utilities in JavaScript (`tool.js`), exported as the
//! `clambot-tools:mdkit/mdkit` interface. Each export hands its arguments to the
//! JS function of the same name in camelCase (see `js.rs`).

mod js;

wit_bindgen::generate!({
    world: "mdkit-tool",
    path: "wit",
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use exports::clambot_tools::mdkit::mdkit::{Guest, Heading, Link};

struct Mdkit;

impl Guest for Mdkit {
    fn headings(markdown: String) -> Vec<Heading> {
        js::call_infallible("headings", (markdown,))
    }

    fn links(markdown: String) -> Vec<Link> {
        js::call_infallible("links", (markdown,))
    }

    fn table_of_contents(markdown: String, max_level: u8) -> Result<String, String> {
        js::call("tableOfContents", (markdown, max_level))
    }

    fn to_text(markdown: String) -> String {
        js::call_infallible("toText", (markdown,))
    }
}

export!(Mdkit);
