//! Telegram text: MarkdownV2 escaping and splitting long replies.
//!
//! A reply is parsed once into its Markdown structure (paragraphs, fenced code
//! blocks, the blank lines between them), and split on that structure *before*
//! escaping: a piece ends at a block, else at a line break, else at a space,
//! else between two characters. A code block that spans pieces is closed at the
//! end of one and reopened (with its language) at the start of the next, so
//! every piece is well-formed MarkdownV2 on its own and the formatting survives.
//! Sizes are measured on the escaped text in UTF-16 code units (how Telegram
//! counts), fences included, so no piece passes 4,096 once escaped; escaping
//! adds a fixed cost per character, so the measure is exact, not estimated.
//!
//! Each piece carries its plain text too (the same piece as written), which is
//! what is sent if Telegram refuses the formatting.

/// Telegram's limit on one message's text, in characters (UTF-16 code units).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Characters MarkdownV2 requires escaped outside code.
const SPECIAL: &[char] = &[
    '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\',
];

/// Longest code-block language kept (a longer info string goes into the block).
const MAX_LANGUAGE: usize = 24;

/// One message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Escaped for `parse_mode = MarkdownV2`.
    pub markdown: String,
    /// The same piece as written, for a plain-text send.
    pub plain: String,
}

fn prose_cost(c: char) -> usize {
    usize::from(SPECIAL.contains(&c)) + c.len_utf16()
}

fn code_cost(c: char) -> usize {
    usize::from(c == '`' || c == '\\') + c.len_utf16()
}

fn cost(text: &str, per_char: fn(char) -> usize) -> usize {
    text.chars().map(per_char).sum()
}

fn escape_into(out: &mut String, text: &str, code: bool) {
    for c in text.chars() {
        let escape = if code {
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

#[derive(Debug)]
enum Block<'a> {
    /// Consecutive non-blank lines outside code.
    Paragraph(Vec<&'a str>),
    /// A fenced code block: its language (maybe empty) and its lines.
    Code {
        language: &'a str,
        lines: Vec<&'a str>,
    },
}

#[derive(Debug)]
struct Unit<'a> {
    block: Block<'a>,
    /// Blank lines before it in the reply.
    blank_before: usize,
}

/// An opening fence: "```" (after indentation), then an info string without backticks.
fn opening_fence(line: &str) -> Option<&str> {
    let info = line.trim_start().strip_prefix("```")?;
    let info = info.trim_start_matches('`').trim();
    (!info.contains('`')).then_some(info)
}

/// A closing fence: only backticks (three or more) on the line.
fn closing_fence(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 3 && trimmed.bytes().all(|b| b == b'`')
}

fn clean_language(info: &str) -> bool {
    !info.is_empty()
        && info.len() <= MAX_LANGUAGE
        && info
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
}

fn flush_paragraph<'a>(paragraph: &mut Vec<&'a str>, units: &mut Vec<Unit<'a>>, blank: &mut usize) {
    if !paragraph.is_empty() {
        units.push(Unit {
            block: Block::Paragraph(std::mem::take(paragraph)),
            blank_before: std::mem::take(blank),
        });
    }
}

fn parse(text: &str) -> Vec<Unit<'_>> {
    let mut units = Vec::new();
    let mut blank = 0;
    let mut paragraph: Vec<&str> = Vec::new();
    let mut code: Option<(&str, Vec<&str>)> = None;
    for line in text.trim_end().split('\n') {
        if let Some((_, lines)) = &mut code {
            if closing_fence(line) {
                let (language, lines) = code.take().expect("in code");
                units.push(Unit {
                    block: Block::Code { language, lines },
                    blank_before: std::mem::take(&mut blank),
                });
            } else {
                lines.push(line);
            }
            continue;
        }
        if let Some(info) = opening_fence(line) {
            flush_paragraph(&mut paragraph, &mut units, &mut blank);
            code = Some(if info.is_empty() || clean_language(info) {
                (info, Vec::new())
            } else {
                // An info string Telegram may not take as a language stays visible.
                ("", vec![info])
            });
            continue;
        }
        if line.trim().is_empty() {
            flush_paragraph(&mut paragraph, &mut units, &mut blank);
            if !units.is_empty() {
                blank += 1;
            }
            continue;
        }
        paragraph.push(line);
    }
    flush_paragraph(&mut paragraph, &mut units, &mut blank);
    // An unclosed fence is closed at the end of the reply.
    if let Some((language, lines)) = code {
        units.push(Unit {
            block: Block::Code { language, lines },
            blank_before: blank,
        });
    }
    units
}

/// A position in the piece being filled.
#[derive(Debug, Clone, Copy)]
struct Mark {
    markdown: usize,
    plain: usize,
    used: usize,
}

/// The piece being filled.
struct Builder {
    limit: usize,
    pieces: Vec<Piece>,
    markdown: String,
    plain: String,
    /// Escaped size so far, in UTF-16 code units.
    used: usize,
}

impl Builder {
    fn is_empty(&self) -> bool {
        self.markdown.is_empty()
    }

    fn room(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    fn flush(&mut self) {
        if !self.is_empty() {
            // Trailing whitespace (never escaped) would not survive a re-parse.
            let markdown = std::mem::take(&mut self.markdown);
            let plain = std::mem::take(&mut self.plain);
            self.used = 0;
            // A piece with nothing to show (fences around blank lines) would be
            // refused as empty: it is left out, losing only blank lines.
            let visible = plain.lines().any(|l| {
                !l.trim().is_empty()
                    && !closing_fence(l)
                    && opening_fence(l).is_none_or(|info| !info.is_empty() && !clean_language(info))
            });
            if visible {
                self.pieces.push(Piece {
                    markdown: markdown.trim_end().to_owned(),
                    plain: plain.trim_end().to_owned(),
                });
            }
        }
    }

    fn newlines(&mut self, n: usize) {
        for _ in 0..n {
            self.markdown.push('\n');
            self.plain.push('\n');
        }
        self.used += n;
    }

    fn text(&mut self, text: &str, code: bool) {
        escape_into(&mut self.markdown, text, code);
        self.plain.push_str(text);
        self.used += cost(text, if code { code_cost } else { prose_cost });
    }

    fn mark(&self) -> Mark {
        Mark {
            markdown: self.markdown.len(),
            plain: self.plain.len(),
            used: self.used,
        }
    }

    fn truncate(&mut self, mark: Mark) {
        self.markdown.truncate(mark.markdown);
        self.plain.truncate(mark.plain);
        self.used = mark.used;
    }

    /// Raw Markdown (fences): the same in both forms, and no escaping.
    fn raw(&mut self, text: &str) {
        self.markdown.push_str(text);
        self.plain.push_str(text);
        self.used += cost(text, |c| c.len_utf16());
    }
}

/// The longest prefix of `text` within `budget`, cut at the last space if
/// `at_space` and there is one; returns (head, rest). The head is empty only
/// when not even one character fits.
fn cut(text: &str, budget: usize, per_char: fn(char) -> usize, at_space: bool) -> (&str, &str) {
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        used += per_char(c);
        if used > budget {
            break;
        }
        end = i + c.len_utf8();
    }
    if end == text.len() {
        return (text, "");
    }
    if at_space
        && let Some(space) = text[..end]
            .rfind(' ')
            .filter(|&i| !text[..i].trim().is_empty())
    {
        return (text[..space].trim_end(), text[space..].trim_start());
    }
    (&text[..end], &text[end..])
}

fn paragraph_cost(lines: &[&str]) -> usize {
    lines.iter().map(|l| cost(l, prose_cost)).sum::<usize>() + lines.len().saturating_sub(1)
}

fn fence_costs(language: &str) -> (usize, usize) {
    ("```".len() + language.len() + 1, "\n```".len())
}

fn code_block_cost(language: &str, lines: &[&str]) -> usize {
    let (open, close) = fence_costs(language);
    open + close
        + lines.iter().map(|l| cost(l, code_cost)).sum::<usize>()
        + lines.len().saturating_sub(1)
}

fn add_paragraph(b: &mut Builder, lines: &[&str], separator: usize) {
    let whole = paragraph_cost(lines);
    if !b.is_empty() && separator + whole > b.room() {
        b.flush();
    }
    for (i, line) in lines.iter().enumerate() {
        let sep = if b.is_empty() {
            0
        } else if i == 0 {
            separator
        } else {
            1
        };
        let line_cost = cost(line, prose_cost);
        if sep + line_cost <= b.room() {
            b.newlines(sep);
            b.text(line, false);
            continue;
        }
        // The line does not fit here: it starts a piece, and is cut at spaces if longer.
        b.flush();
        let mut rest = line.trim_start();
        while !rest.is_empty() {
            let (head, tail) = cut(rest, b.room(), prose_cost, true);
            if head.is_empty() {
                b.flush();
                continue;
            }
            b.text(head, false);
            if !tail.is_empty() {
                b.flush();
            }
            rest = tail;
        }
    }
}

fn add_code(b: &mut Builder, language: &str, lines: &[&str], separator: usize) {
    // An empty block would be an empty entity, which Telegram refuses: it shows nothing anyway.
    if lines.iter().all(|l| l.trim().is_empty()) {
        return;
    }
    // Too long a language for a tiny limit is dropped rather than looping.
    let language = if fence_costs(language).0 + 4 + 3 > b.limit {
        ""
    } else {
        language
    };
    let (open, close) = fence_costs(language);
    let whole = code_block_cost(language, lines);
    let sep = if b.is_empty() { 0 } else { separator };
    let first = lines.first().map_or(0, |l| cost(l, code_cost));
    if !b.is_empty()
        && (sep + whole > b.room())
        && (whole <= b.limit || sep + open + first + close > b.room())
    {
        b.flush();
    }
    let sep = if b.is_empty() { 0 } else { separator };
    let fence = format!("```{language}\n");
    // Where the open fence went, and whether the block has shown anything since:
    // a block with nothing in it is taken back out, never sent empty.
    let mut opened = b.mark();
    b.newlines(sep);
    b.raw(&fence);
    let mut content = false;
    let reopen = |b: &mut Builder, opened: &mut Mark, content: &mut bool| {
        if *content {
            b.raw("\n```");
        } else {
            b.truncate(*opened);
        }
        b.flush();
        *opened = b.mark();
        b.raw(&fence);
        *content = false;
    };
    let mut line_start = true;
    for (i, line) in lines.iter().enumerate() {
        let sep = usize::from(i > 0 && !line_start);
        let line_cost = cost(line, code_cost);
        if sep + line_cost + close <= b.room() {
            b.newlines(sep);
            b.text(line, true);
            content |= !line.trim().is_empty();
            line_start = false;
            continue;
        }
        if !line_start {
            reopen(b, &mut opened, &mut content);
        }
        // A code line longer than a piece is cut between characters.
        let mut rest = *line;
        while !rest.is_empty() {
            let (head, tail) = cut(rest, b.room().saturating_sub(close), code_cost, false);
            if head.is_empty() {
                reopen(b, &mut opened, &mut content);
                continue;
            }
            b.text(head, true);
            content |= !head.trim().is_empty();
            if !tail.is_empty() {
                reopen(b, &mut opened, &mut content);
            }
            rest = tail;
        }
        line_start = false;
    }
    if content {
        b.raw("\n```");
    } else {
        b.truncate(opened);
    }
}

/// Splits `text` into pieces whose escaped form is at most `limit` UTF-16 code
/// units (`limit` of at least 64), each well-formed MarkdownV2 on its own.
pub fn split_pieces(text: &str, limit: usize) -> Vec<Piece> {
    let limit = limit.max(64);
    let mut b = Builder {
        limit,
        pieces: Vec::new(),
        markdown: String::new(),
        plain: String::new(),
        used: 0,
    };
    for unit in parse(text) {
        let separator = 1 + unit.blank_before;
        match &unit.block {
            Block::Paragraph(lines) => add_paragraph(&mut b, lines, separator),
            Block::Code { language, lines } => add_code(&mut b, language, lines, separator),
        }
    }
    b.flush();
    b.pieces
}

/// The pieces of a reply, each within Telegram's limit once escaped.
pub fn reply_chunks(text: &str) -> Vec<Piece> {
    split_pieces(text, MAX_MESSAGE_CHARS)
}

/// Escapes text so MarkdownV2 shows it as written. Fenced code blocks stay
/// code (where only `` ` `` and `\` need escaping); an unclosed fence is closed.
pub fn escape_markdown_v2(text: &str) -> String {
    split_pieces(text, usize::MAX)
        .into_iter()
        .map(|p| p.markdown)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The size Telegram counts, in UTF-16 code units.
pub fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
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
            escape_markdown_v2("see:\n```js\nx = a_b * `2` \\ 1;\n```\ndone."),
            "see:\n```js\nx = a_b * \\`2\\` \\\\ 1;\n```\ndone\\."
        );
        // A fence mid-line is not a fence: its backticks show as written.
        assert_eq!(escape_markdown_v2("a ```b``` c"), "a \\`\\`\\`b\\`\\`\\` c");
        // An unclosed fence is closed; an odd info string stays visible as code.
        assert_eq!(escape_markdown_v2("```open"), "");
        assert_eq!(escape_markdown_v2("a\n```\n\n```\nb"), "a\nb");
        assert_eq!(escape_markdown_v2("```a b.c\nx"), "```\na b.c\nx\n```");
        assert_eq!(escape_markdown_v2("p1\n\n\np2"), "p1\n\n\np2");
    }

    #[test]
    fn splits_at_blocks_then_lines_then_words() {
        let text = format!("{}\n\n{}", "a".repeat(50), "b".repeat(50));
        let pieces = split_pieces(&text, 64);
        assert_eq!(
            pieces.iter().map(|p| p.plain.clone()).collect::<Vec<_>>(),
            ["a".repeat(50), "b".repeat(50)]
        );
        let words = "word ".repeat(40);
        for piece in split_pieces(&words, 64) {
            assert!(telegram_len(&piece.markdown) <= 64);
            assert!(!piece.plain.starts_with(' ') && !piece.plain.ends_with(' '));
            assert!(piece.plain.split(' ').all(|w| w == "word"), "{piece:?}");
        }
        let long = "x".repeat(150);
        let pieces = split_pieces(&long, 64);
        assert_eq!(pieces.iter().map(|p| p.plain.len()).sum::<usize>(), 150);
    }

    #[test]
    fn a_code_block_across_pieces_is_closed_and_reopened() {
        let body: String = (0..400)
            .map(|i| format!("let x{i} = a_b[`{i}`];\n"))
            .collect();
        let text = format!("Here:\n\n```rust\n{body}```\n\nThat is all.");
        let pieces = reply_chunks(&text);
        assert!(pieces.len() >= 3, "{} pieces", pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            assert!(telegram_len(&piece.markdown) <= MAX_MESSAGE_CHARS);
            let fences = piece
                .markdown
                .lines()
                .filter(|l| l.starts_with("```"))
                .count();
            assert_eq!(
                fences % 2,
                0,
                "piece {i} balanced: {}",
                &piece.markdown[..40]
            );
            if i > 0 && i + 1 < pieces.len() {
                assert!(piece.markdown.starts_with("```rust\n"), "piece {i} reopens");
                assert!(piece.markdown.ends_with("\n```"), "piece {i} closes");
            }
        }
        assert!(pieces[0].markdown.starts_with("Here:\n\n```rust\nlet x0"));
        assert!(
            pieces
                .last()
                .expect("last")
                .markdown
                .ends_with("That is all\\.")
        );
        // Nothing of the code was lost: the pieces' code lines are the block's lines.
        let code: Vec<&str> = pieces
            .iter()
            .flat_map(|p| p.plain.lines())
            .filter(|l| l.starts_with("let "))
            .collect();
        assert_eq!(code, body.lines().collect::<Vec<_>>());
    }

    #[test]
    fn a_code_line_longer_than_a_piece_is_cut_inside_the_block() {
        let text = format!("```\n{}\n```", "`\\".repeat(3000));
        let pieces = reply_chunks(&text);
        assert!(pieces.len() >= 3);
        for piece in &pieces {
            assert!(telegram_len(&piece.markdown) <= MAX_MESSAGE_CHARS);
            assert!(piece.markdown.starts_with("```\n") && piece.markdown.ends_with("\n```"));
        }
    }

    /// Replies made of paragraphs, specials, wide characters and fenced code.
    fn markdownish() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "[a-z .!*_()\\[\\]`\\\\-]{0,80}",
            "[a-z ]{200,900}",
            "[é€😀𝄞 a-z]{0,300}",
            Just("```".to_owned()),
            Just("```python".to_owned()),
            Just("```weird info.".to_owned()),
            Just(String::new()),
            "`{3}[a-z]{0,5}",
        ];
        prop::collection::vec(line, 0..120).prop_map(|lines| lines.join("\n"))
    }

    /// The words of a text, fences aside (reopened fences add some; an odd info
    /// string moves into its block).
    fn words(s: &str) -> Vec<String> {
        let lines: Vec<&str> = s
            .lines()
            .filter_map(|l| match opening_fence(l) {
                _ if closing_fence(l) => None,
                Some(info) if info.is_empty() || clean_language(info) => None,
                Some(info) => Some(info),
                None => Some(l),
            })
            .collect();
        lines
            .join("\n")
            .split(|c: char| c.is_whitespace() || c == '`')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn pieces_fit_once_escaped_stay_balanced_and_lose_no_words(
            text in markdownish(),
            limit in prop_oneof![Just(MAX_MESSAGE_CHARS), 64usize..600],
        ) {
            let pieces = split_pieces(&text, limit);
            for piece in &pieces {
                prop_assert!(telegram_len(&piece.markdown) <= limit, "{} > {limit}", telegram_len(&piece.markdown));
                prop_assert!(!piece.markdown.is_empty());
                // Well-formed on its own: re-parsing the plain piece gives the same escape.
                prop_assert_eq!(&escape_markdown_v2(&piece.plain), &piece.markdown);
            }
            // Cutting inside words (overlong runs) may split a word, never drop or add text.
            let joined: String = pieces.iter().map(|p| p.plain.as_str()).collect::<Vec<_>>().join("\n");
            let strip = |s: &str| words(s).concat();
            prop_assert_eq!(strip(&joined), strip(&text));
        }
    }
}
