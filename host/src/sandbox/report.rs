//! What an uncaught script error shows the person or model who reads it: where
//! the failing expression is (line and column in the script's own file), a short
//! stack of the script's own frames, and the offending source line with a caret.
//!
//! The guest reports positions as QuickJS records them: lines are the file's,
//! columns count UTF-8 bytes from 1. Here they become character columns, and the
//! sandbox's own frames are dropped: the prelude's wrappers, the host function
//! they call, and the wrapper that runs a script's `run(args)` (it sits past the
//! script's last line). A script shapes its own stack (it can throw anything, or
//! set `Error.prepareStackTrace`), so the stack is only text here: parsed
//! leniently, cut to [`MAX_FRAMES`], every piece escaped for a terminal.

use crate::terminal::{self, Newlines};

/// Frames shown; deeper ones are counted, not listed.
pub const MAX_FRAMES: usize = 5;

/// Characters of the source line shown around the column (a minified script
/// can be one line of a megabyte).
const EXCERPT_WIDTH: usize = 100;

/// The file name the guest gives a script in its stack traces.
const SCRIPT_FILE: &str = "script.js";

/// One frame of a QuickJS stack: `at NAME (FILE:LINE:COL)`, `at NAME (native)`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame<'a> {
    /// In the script's own text.
    Script {
        name: &'a str,
        line: u32,
        column: u32,
    },
    /// A built-in (`at map (native)`).
    Native { name: &'a str },
    /// The sandbox's own code (prelude, `run(args)` wrapper) or unparsable text.
    Sandbox,
}

fn parse_frame<'a>(text: &'a str, source_lines: u32) -> Frame<'a> {
    let Some(rest) = text.trim_start().strip_prefix("at ") else {
        return Frame::Sandbox;
    };
    let (name, location) = match rest.rfind(" (") {
        Some(open) if rest.ends_with(')') => (&rest[..open], &rest[open + 2..rest.len() - 1]),
        _ => ("", rest),
    };
    if location == "native" {
        return Frame::Native { name };
    }
    match parse_location(location) {
        Some((line, column)) if line <= source_lines => Frame::Script { name, line, column },
        _ => Frame::Sandbox,
    }
}

/// `script.js:LINE:COL` as numbers.
fn parse_location(location: &str) -> Option<(u32, u32)> {
    let rest = location.strip_prefix(SCRIPT_FILE)?.strip_prefix(':')?;
    let (line, column) = rest.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// The number of lines in `source` as QuickJS counts them (LF ends a line).
fn line_count(source: &str) -> u32 {
    let breaks = source.bytes().filter(|&b| b == b'\n').count();
    u32::try_from(breaks + 1).unwrap_or(u32::MAX)
}

/// The text of line `line` (1-based).
fn source_line(source: &str, line: u32) -> Option<&str> {
    let text = source
        .split('\n')
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    Some(text.strip_suffix('\r').unwrap_or(text))
}

/// The 1-based character column of the 1-based byte column `column` in `text`
/// (a column inside a character counts as that character's).
fn char_column(text: &str, column: u32) -> u32 {
    let byte = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let chars = text
        .char_indices()
        .take_while(|&(at, _)| at < byte)
        .filter(|&(at, c)| at + c.len_utf8() <= byte)
        .count();
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// A position the guest reported, as a line and character column of `source`;
/// `None` when it is not inside the script (the sandbox's own wrapper).
pub fn script_position(source: &str, line: u32, column: u32) -> Option<(u32, u32)> {
    let text = source_line(source, line)?;
    Some((line, char_column(text, column)))
}

/// The end of `source`: the line of its last non-blank character and the column
/// after it, where a syntax error the parser met only after the script's text
/// (an unclosed brace, found in the sandbox's wrapper) is reported.
pub fn end_of_script(source: &str) -> (u32, u32) {
    let text = source.trim_end();
    let line = line_count(text);
    let last = source_line(text, line).unwrap_or_default();
    let column = u32::try_from(last.chars().count() + 1).unwrap_or(u32::MAX);
    (line, column)
}

/// The script's own frames of `stack`, one `at NAME (LINE:COL)` per line, at
/// most [`MAX_FRAMES`] and a count of the rest.
pub fn short_stack(stack: &str, source: &str) -> Vec<String> {
    let lines = line_count(source);
    let frames: Vec<Frame<'_>> = stack.lines().map(|l| parse_frame(l, lines)).collect();
    let mut kept = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        match frame {
            Frame::Sandbox => {}
            // A native frame the prelude called is a host function.
            Frame::Native { .. } if matches!(frames.get(i + 1), Some(Frame::Sandbox)) => {}
            // Before the script's first frame, a native is what threw: the
            // message names it, and the first frame shown is the script's.
            Frame::Native { .. } if kept.is_empty() => {}
            frame => kept.push(frame.clone()),
        }
    }
    // Natives after the script's last frame ran no script code.
    while matches!(kept.last(), Some(Frame::Native { .. })) {
        kept.pop();
    }
    let mut shown: Vec<String> = kept
        .iter()
        .take(MAX_FRAMES)
        .map(|frame| match frame {
            Frame::Script { name, line, column } => {
                let column = source_line(source, *line)
                    .map(|text| char_column(text, *column))
                    .unwrap_or(*column);
                format!("at {} ({line}:{column})", shown_name(name))
            }
            Frame::Native { name } => format!("at {} (native)", shown_name(name)),
            Frame::Sandbox => unreachable!("sandbox frames are not kept"),
        })
        .collect();
    if kept.len() > MAX_FRAMES {
        shown.push(format!("… {} more", kept.len() - MAX_FRAMES));
    }
    shown
}

fn shown_name(name: &str) -> String {
    let name = if name.is_empty() { "<anonymous>" } else { name };
    let mut shown: String = name.chars().take(80).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    terminal::escape(&shown, Newlines::Escape)
}

/// Line `line` of `source` and a caret under character column `column`, e.g.
///
/// ```text
///   3 |   const y = null.x;
///     |                 ^
/// ```
///
/// The line is escaped for a terminal and cut to a window around the column.
pub fn excerpt(source: &str, line: u32, column: u32) -> Option<[String; 2]> {
    let text = source_line(source, line)?;
    let chars: Vec<char> = text.chars().collect();
    let at = usize::try_from(column.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .min(chars.len());
    let start = at.saturating_sub(EXCERPT_WIDTH / 2);
    let end = (start + EXCERPT_WIDTH).min(chars.len());
    let piece = |from: usize, to: usize| -> String {
        terminal::escape(
            &chars[from..to].iter().collect::<String>(),
            Newlines::Escape,
        )
    };
    let mut before = piece(start, at);
    let after = piece(at, end);
    if start > 0 {
        before.insert(0, '…');
    }
    // The caret lines up under the column: tabs stay tabs, all else is a space.
    let pad: String = before
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let ellipsis = if end < chars.len() { "…" } else { "" };
    Some([
        format!("{number} | {before}{after}{ellipsis}"),
        format!("{gutter} | {pad}^"),
    ])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The stack and the source are the script's: any text is handled, and
        /// nothing shown carries a raw control character.
        #[test]
        fn any_stack_or_source_is_handled_and_shown_escaped(
            stack in r"(    at [^\n]{0,20} \((script\.js:[0-9]{1,3}:[0-9]{1,3}|native|prelude\.js:1:1)\)\n|[^\n]{0,30}\n){0,12}",
            source in r"(?s).{0,200}",
            line in 0u32..12,
            column in 0u32..300,
        ) {
            let shown = short_stack(&stack, &source);
            prop_assert!(shown.len() <= MAX_FRAMES + 1);
            for text in shown.iter().chain(excerpt(&source, line, column).iter().flatten()) {
                prop_assert!(!text.chars().any(|c| terminal::is_unsafe(c) || c == '\n'), "{text:?}");
            }
            if let Some((line, column)) = script_position(&source, line, column) {
                prop_assert!(source_line(&source, line).is_some());
                prop_assert!(column >= 1);
            }
            let (line, _) = end_of_script(&source);
            prop_assert!(source_line(&source, line).is_some());
        }
    }

    #[test]
    fn prelude_host_and_wrapper_frames_are_dropped() {
        let source = "const a = 1;\nfunction f() {\n  return fs.readTextSync('x');\n}\nf();";
        let stack = "    at ToolError (prelude.js:40:7)\n    at read-text (native)\n    \
                     at readTextSync (prelude.js:95:18)\n    at f (script.js:3:17)\n    \
                     at <anonymous> (script.js:5:2)\n    at <anonymous> (script.js:6:46)\n";
        assert_eq!(
            short_stack(stack, source),
            ["at f (3:17)", "at <anonymous> (5:2)"]
        );
    }

    #[test]
    fn builtins_between_script_frames_stay() {
        let source = "[1].map((x) => x.y.z);";
        let stack = "    at <anonymous> (script.js:1:18)\n    at map (native)\n    \
                     at <anonymous> (script.js:1:5)\n";
        assert_eq!(
            short_stack(stack, source),
            [
                "at <anonymous> (1:18)",
                "at map (native)",
                "at <anonymous> (1:5)"
            ]
        );
    }

    #[test]
    fn deep_stacks_are_cut_with_a_count() {
        let source = "x\n".repeat(20);
        let stack: String = (1..=9)
            .map(|i| format!("    at f (script.js:{i}:1)\n"))
            .collect();
        let shown = short_stack(&stack, &source);
        assert_eq!(shown.len(), MAX_FRAMES + 1);
        assert_eq!(shown.last().map(String::as_str), Some("… 4 more"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let source = "const s = 'é€'; null.x;";
        // `null` starts at byte 20 (1-based) but character 17.
        assert_eq!(script_position(source, 1, 20), Some((1, 17)));
        assert_eq!(script_position(source, 2, 1), None);
    }

    #[test]
    fn the_end_of_a_script_is_after_its_last_character() {
        assert_eq!(end_of_script("let a = {\n  b: 1,"), (2, 8));
        assert_eq!(end_of_script("x\n\n  \n"), (1, 2));
        assert_eq!(end_of_script(""), (1, 1));
    }

    #[test]
    fn the_caret_sits_under_the_column_and_controls_are_escaped() {
        let [code, caret] =
            excerpt("\tlet y = null.x; // \u{1b}[2J", 1, 10).expect("line 1 exists");
        assert_eq!(code, "1 | \tlet y = null.x; // \\x1b[2J");
        assert_eq!(caret, "  | \t        ^");
    }

    #[test]
    fn a_long_line_is_cut_around_the_column() {
        let line = format!("{}null.x{}", "a".repeat(500), "b".repeat(500));
        let [code, caret] = excerpt(&line, 1, 501).expect("line 1 exists");
        assert!(code.chars().count() < EXCERPT_WIDTH + 10, "{code}");
        let column = caret.chars().count() - 1;
        assert_eq!(code.chars().nth(column), Some('n'));
    }
}
