//! textkit: an example clambot tool component in Rust.
//!
//! Everything it touches outside its own memory goes through the host's gated
//! `clambot:host/http` import; the host judges those calls under this tool's own
//! rules (`caller = "tools.textkit"` in policy.toml).

wit_bindgen::generate!({
    world: "textkit-tool",
    path: "wit",
    generate_all,
});

use std::collections::HashMap;

use clambot::host::http;
use exports::clambot_tools::textkit::textkit::{Guest, WordStats};

struct Textkit;

impl Guest for Textkit {
    fn count_words(text: String, top: u8) -> WordStats {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut words = 0u32;
        for word in text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
        {
            words = words.saturating_add(1);
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
        let mut ranked: Vec<(String, u32)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(usize::from(top));
        WordStats {
            words,
            lines: u32::try_from(text.lines().count()).unwrap_or(u32::MAX),
            chars: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
            top: ranked,
        }
    }

    fn slugify(text: String, max_length: Option<u32>) -> Result<String, String> {
        if max_length == Some(0) {
            return Err("max-length must be at least 1".into());
        }
        let mut slug = String::new();
        for c in text.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let mut slug = slug.trim_end_matches('-').to_owned();
        if let Some(max) = max_length {
            slug.truncate(max as usize);
            slug = slug.trim_end_matches('-').to_owned();
        }
        if slug.is_empty() {
            return Err(format!("{text:?} has no letters or digits to make a slug of"));
        }
        Ok(slug)
    }

    fn page_title(url: String) -> Result<String, String> {
        let request = http::Request {
            method: "GET".into(),
            url: url.clone(),
            headers: Vec::new(),
            body: None,
            bearer_secret: None,
        };
        let response = http::fetch(&request).map_err(|error| match error {
            http::Error::Denied(denial) => {
                format!("denied by {}: {}", denial.rule, denial.reason)
            }
            http::Error::Invalid(m)
            | http::Error::NotFound(m)
            | http::Error::Failed(m)
            | http::Error::Limit(m) => m,
        })?;
        if !(200..300).contains(&response.status) {
            return Err(format!("{url} answered {}", response.status));
        }
        title_of(&response.body).ok_or_else(|| format!("{url} has no <title>"))
    }
}

/// The text of the first `<title>` element, whitespace collapsed.
fn title_of(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title = html[start..end].split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

export!(Textkit);
