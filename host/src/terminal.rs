//! What reaches a terminal is text.
//!
//! Everything a script (or a page it fetched, or a model) chose and clambot shows
//! on a terminal — console and log output, results, error messages, the values in
//! an approval prompt — passes through [`escape`] first. A terminal obeys control
//! characters: ESC starts sequences that move the cursor, repaint lines, retitle
//! the window or write the clipboard (OSC 52), CR and BS overwrite what is already
//! shown, C1 controls (U+0080–U+009F, e.g. U+009B, a one-character CSI) do the
//! same on terminals that honour them, bidi overrides and isolates reorder what
//! follows them, and zero-width or invisible characters hide text from the reader.
//! Each of these is shown as a visible escape (`\x1b`, `\u{202e}`), so a script
//! can never repaint a prompt, hide a line or make one look like another.
//!
//! A script can still print any *visible* text, including `[gate] …` or
//! `clambot: …`. [`script_lines`] therefore marks every line of script output with
//! [`SCRIPT_PREFIX`], which no line clambot writes on its own behalf starts with:
//! a forged gate line is visibly script output.
//!
//! Not escaped: printable characters (any script, any language, emoji), TAB, and
//! LF where the caller keeps line breaks. A backslash is shown as itself, so a
//! script that prints the six characters `\x1b` looks like one that printed ESC;
//! the reader is misled about the script's bytes, never about who wrote a line.

use std::fmt::Write as _;

/// The mark at the start of every line of script output on a terminal. clambot's
/// own lines start with `clambot:` or `[gate]`, never with this.
pub const SCRIPT_PREFIX: &str = "| ";

/// Whether line breaks in the text are kept (multi-line output) or escaped too
/// (a value inside one line, such as a URL in an approval prompt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newlines {
    Keep,
    Escape,
}

/// Whether `c` must not reach a terminal as itself.
pub fn is_unsafe(c: char) -> bool {
    c != '\t' && c != '\n' && crate::unicode::acts_on_terminal(c)
}

/// `text` with every character a terminal would act on (see the module docs)
/// replaced by a visible escape: `\r`, `\x1b`, `\u{202e}`.
pub fn escape(text: &str, newlines: Newlines) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if newlines == Newlines::Keep => out.push('\n'),
            '\t' => out.push('\t'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One value inside a line (a URL, a path, a note): escaped, line breaks included.
pub fn inline(text: &str) -> String {
    escape(text, Newlines::Escape)
}

/// Script output for a terminal: escaped, each line marked with [`SCRIPT_PREFIX`],
/// ending in a newline unless empty.
pub fn script_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_terminator('\n') {
        out.push_str(SCRIPT_PREFIX);
        out.push_str(&escape(line, Newlines::Escape));
        out.push('\n');
    }
    out
}

/// JSON text for a terminal: every character [`escape`] would escape becomes a
/// JSON `\uXXXX` escape, so a string still parses to the same value. JSON's own
/// rules escape C0 controls inside strings but let DEL, C1, bidi and zero-width
/// characters through raw. (A raw CR can only stand outside a string as
/// whitespace, which neither `JSON.stringify` nor serde writes; it is escaped too,
/// because a terminal sink never passes a CR.)
pub fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut units = [0u16; 2];
    for c in text.chars() {
        if is_unsafe(c) {
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_c0_c1_and_del_character_is_escaped() {
        for code in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(code).expect("a char");
            if c == '\t' {
                continue;
            }
            let shown = inline(&format!("a{c}b"));
            assert!(
                !shown.contains(c) && shown.starts_with('a') && shown.ends_with('b'),
                "U+{code:04X} -> {shown:?}"
            );
            assert!(shown.chars().all(|c| !c.is_control()), "{shown:?}");
        }
    }

    #[test]
    fn printable_text_of_any_script_is_shown_as_itself() {
        for text in [
            "hello",
            "Grüße, Ђорђе",
            "東京 🦀",
            "مرحبا",
            "a\tb",
            "back\\slash",
        ] {
            assert_eq!(inline(text), text);
        }
    }

    #[test]
    fn line_breaks_are_kept_only_when_asked() {
        assert_eq!(escape("a\nb", Newlines::Keep), "a\nb");
        assert_eq!(escape("a\nb", Newlines::Escape), "a\\nb");
        assert_eq!(escape("a\r\nb", Newlines::Keep), "a\\r\nb");
    }
}
