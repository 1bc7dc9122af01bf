//! Which characters a person cannot see, or that change how the text around
//! them is shown: one definition, from Unicode's own properties, for every
//! place that refuses or escapes them (URLs, policy patterns and notes,
//! workspace paths, what reaches a terminal). Four hand-written lists used to
//! disagree, and a character one of them missed passed that check.
//!
//! The sets are read from the tables of `regex-syntax` (the regex crate's own
//! parser), so they follow its Unicode version; a lookup is an ASCII test or a
//! binary search over a few dozen ranges.

use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// Hidden: controls (`Cc`), format characters (`Cf`: zero-width spaces and
/// joiners, bidi marks, embeddings, overrides and isolates, the BOM, soft
/// hyphen, tags), line and paragraph separators, and the other
/// default-ignorable code points (variation selectors, Hangul fillers, …).
static HIDDEN: LazyLock<Vec<(char, char)>> =
    LazyLock::new(|| ranges(r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]"));

/// Variation selectors: they pick a glyph's presentation (emoji or text) and
/// cannot hide or reorder anything, so a terminal shows them as they are.
static VARIATION_SELECTORS: LazyLock<Vec<(char, char)>> =
    LazyLock::new(|| ranges(r"\p{Variation_Selector}"));

/// Look-alikes in names: spaces other than U+0020, and noncharacters.
static NAME_LOOKALIKES: LazyLock<Vec<(char, char)>> =
    LazyLock::new(|| ranges(r"[[\p{Zs}\p{Noncharacter_Code_Point}]--\x20]"));

fn ranges(class: &str) -> Vec<(char, char)> {
    let hir = regex_syntax::parse(class).expect("a Unicode class that parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|range| (range.start(), range.end()))
            .collect(),
        other => unreachable!("{class} is not a Unicode class: {other:?}"),
    }
}

fn within(set: &[(char, char)], c: char) -> bool {
    set.binary_search_by(|&(start, end)| {
        if end < c {
            std::cmp::Ordering::Less
        } else if start > c {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    })
    .is_ok()
}

/// Whether `c` is hidden (see [`HIDDEN`]): TAB and LF included.
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    within(&HIDDEN, c)
}

/// Whether a terminal must be kept from acting on `c`: hidden characters but
/// the variation selectors (TAB and LF are decided by the caller).
pub fn acts_on_terminal(c: char) -> bool {
    is_hidden(c) && (c.is_ascii() || !within(&VARIATION_SELECTORS, c))
}

/// Whether `c` may not stand in a name a person reads and compares (a
/// workspace path, a glob): hidden, a space other than U+0020, or a
/// noncharacter.
pub fn is_refused_in_names(c: char) -> bool {
    is_hidden(c) || (!c.is_ascii() && within(&NAME_LOOKALIKES, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=0x10FFFFu32).filter_map(char::from_u32)
    }

    #[test]
    fn hidden_is_exactly_the_unicode_classes() {
        let regex =
            regex::Regex::new(r"^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]$")
                .expect("regex");
        let mut buffer = [0u8; 4];
        for c in all_chars() {
            assert_eq!(
                is_hidden(c),
                regex.is_match(c.encode_utf8(&mut buffer)),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn the_characters_that_fooled_a_list_are_hidden() {
        for c in [
            '\u{0}',
            '\t',
            '\n',
            '\u{7f}',
            '\u{85}',
            '\u{9f}',
            '\u{ad}',
            '\u{61c}',
            '\u{180e}',
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{2028}',
            '\u{2029}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{2064}',
            '\u{feff}',
            '\u{fff9}',
            '\u{1d173}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e01ef}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{115f}',
            '\u{34f}',
        ] {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', ' ', 'é', '€', '\u{a0}', '日', '😀'] {
            assert!(!is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn terminals_keep_emoji_presentation_and_names_refuse_look_alike_spaces() {
        assert!(!acts_on_terminal('\u{fe0f}'));
        assert!(acts_on_terminal('\u{202e}') && acts_on_terminal('\u{1b}'));
        for c in [
            '\u{a0}',
            '\u{3000}',
            '\u{2003}',
            '\u{fdd0}',
            '\u{fffe}',
            '\u{10ffff}',
        ] {
            assert!(is_refused_in_names(c), "U+{:04X}", u32::from(c));
        }
        assert!(!is_refused_in_names(' ') && !is_refused_in_names('é'));
    }

    /// The class, not examples: every hidden character, wherever it sits, is
    /// refused by each check that reads names and addresses, and never
    /// reaches a terminal as itself.
    #[test]
    fn every_check_refuses_or_escapes_every_hidden_character() {
        use crate::policy::fs::WorkspacePath;
        use crate::policy::http::{HttpTarget, UrlPattern};
        for c in all_chars().filter(|&c| is_hidden(c)) {
            let code = u32::from(c);
            let url = format!("https://example.com/a{c}b");
            assert!(
                crate::net::url_vet::vet_url(&url).is_err(),
                "URL, U+{code:04X}"
            );
            assert!(HttpTarget::parse(&url).is_err(), "target, U+{code:04X}");
            assert!(UrlPattern::parse(&url).is_err(), "pattern, U+{code:04X}");
            assert!(
                WorkspacePath::normalise(&format!("a{c}b")).is_err(),
                "path, U+{code:04X}"
            );
            let shown = crate::terminal::inline(&format!("a{c}b"));
            // TAB is the one hidden character a terminal line keeps.
            if acts_on_terminal(c) && c != '\t' {
                assert!(!shown.contains(c), "terminal, U+{code:04X}");
            }
        }
    }
}
