//! Telegram text: MarkdownV2 escaping and splitting long replies.
//!
//! Replies are split *after* escaping is measured, so no chunk passes
//! Telegram's 4,096-character limit once escaped (splitting first and escaping
//! after can push a chunk over, and then the send fails).

/// Telegram's limit on one message's text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Characters MarkdownV2 requires escaped outside code.
const SPECIAL: &[char] = &[
    '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\',
];

/// Escapes text so MarkdownV2 shows it as written. Fenced code blocks
/// (```…```) are kept as code, where only `` ` `` and `\` need escaping.
pub fn escape_markdown_v2(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut in_code = false;
    for (i, part) in text.split("```").enumerate() {
        if i > 0 {
            out.push_str("```");
            in_code = !in_code;
        }
        for c in part.chars() {
            let escape = if in_code {
                c == '`' || c == '\\'
            } else {
                SPECIAL.contains(&c)
            };
            if escape {
                out.push('\\');
            }
            out.push(c);
        }
    }
    // An unclosed fence would make Telegram reject the whole message.
    if in_code {
        out.push_str("\n```");
    }
    out
}

/// Splits `text` into pieces of at most `limit` characters as `measure` counts
/// them, at line breaks where possible, else at spaces, else anywhere.
pub fn split_message(text: &str, limit: usize, measure: impl Fn(&str) -> usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest = text.trim_end();
    while !rest.is_empty() {
        if measure(rest) <= limit {
            chunks.push(rest.to_owned());
            break;
        }
        // The longest prefix that fits, by characters.
        let boundaries: Vec<usize> = rest
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(rest.len()))
            .collect();
        let (mut lo, mut hi) = (1, boundaries.len() - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if measure(&rest[..boundaries[mid]]) <= limit {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let fit = boundaries[lo.max(1)];
        let head = &rest[..fit];
        let cut = head
            .rfind('\n')
            .filter(|&i| i > 0)
            .or_else(|| head.rfind(' ').filter(|&i| i > 0))
            .unwrap_or(fit);
        chunks.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start_matches(['\n', ' ']);
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}

/// The chunks of a reply, each within the limit once escaped for MarkdownV2.
pub fn reply_chunks(text: &str) -> Vec<String> {
    split_message(text, MAX_MESSAGE_CHARS, |s| {
        escape_markdown_v2(s).chars().count()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn escapes_specials_and_keeps_code() {
        assert_eq!(
            escape_markdown_v2("1.5 * (a-b)!"),
            "1\\.5 \\* \\(a\\-b\\)\\!"
        );
        assert_eq!(
            escape_markdown_v2("see ```js\nx = a_b * 2;\n``` done."),
            "see ```js\nx = a_b * 2;\n``` done\\."
        );
        assert_eq!(escape_markdown_v2("```open"), "```open\n```");
    }

    #[test]
    fn splits_at_lines_then_words() {
        let text = format!("{}\n{}", "a".repeat(30), "b".repeat(30));
        assert_eq!(
            split_message(&text, 40, |s| s.chars().count()),
            ["a".repeat(30), "b".repeat(30)]
        );
        let words = "word ".repeat(20);
        for chunk in split_message(&words, 23, |s| s.chars().count()) {
            assert!(chunk.chars().count() <= 23);
            assert!(!chunk.starts_with(' ') && !chunk.ends_with(' '));
            assert!(chunk.split(' ').all(|w| w == "word"), "{chunk}");
        }
        assert_eq!(
            split_message(&"x".repeat(10), 4, |s| s.len()),
            ["xxxx", "xxxx", "xx"]
        );
    }

    proptest! {
        #[test]
        fn chunks_fit_once_escaped_and_lose_no_words(text in "[a-z.!*_ \\n]{0,12000}") {
            let chunks = reply_chunks(&text);
            for chunk in &chunks {
                prop_assert!(escape_markdown_v2(chunk).chars().count() <= MAX_MESSAGE_CHARS);
            }
            let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            prop_assert_eq!(words(&chunks.join(" ")), words(&text));
        }
    }
}
