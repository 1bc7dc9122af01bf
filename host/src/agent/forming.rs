//! A reply as the model writes it. The selector and the analyst answer with one
//! JSON object (`{"decision": "chat", "reply": "…"}`, `{"decision": "accept",
//! "answer": "…"}`); while it streams in, [`FormingReply`] reads the reply's
//! text out of what is written so far and hands it to the front end
//! ([`Progress::answer_so_far`]). Nothing is shown before the decision says the
//! text is the reply — a "fix" or a "reject" never reaches the person as one —
//! and the final, parsed reply replaces what was shown.

use std::sync::{Arc, Mutex};

use super::provider::TextSink;
use super::turn::Progress;

/// Which decision makes which field the reply.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub decision: &'static str,
    /// The fields that may hold the reply, as the parser reads them.
    pub keys: &'static [&'static str],
}

/// The selector's answer in words.
pub const CHAT: Wanted = Wanted {
    decision: "chat",
    keys: &["reply", "answer", "response"],
};

/// The analyst's accepted answer.
pub const ACCEPT: Wanted = Wanted {
    decision: "accept",
    keys: &["answer"],
};

/// The most of an answer read for a preview (the final reply is not bound by it).
const MAX_PREVIEWED_BYTES: usize = 64 * 1024;

/// A [`TextSink`] that shows the reply forming.
#[derive(Debug)]
pub struct FormingReply {
    wanted: Wanted,
    progress: Arc<dyn Progress>,
    state: Mutex<Written>,
}

#[derive(Debug, Default)]
struct Written {
    text: String,
    /// The length of the reply last shown (0: none shown).
    shown: usize,
}

impl FormingReply {
    pub fn new(wanted: Wanted, progress: Arc<dyn Progress>) -> Self {
        Self {
            wanted,
            progress,
            state: Mutex::default(),
        }
    }
}

impl TextSink for FormingReply {
    fn restart(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.text.clear();
        if state.shown > 0 {
            state.shown = 0;
            self.progress.answer_so_far("");
        }
    }

    fn push(&self, piece: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Each reading scans from the start; past this a preview (a draft shows
        // one message's worth) is not worth a provider's megabytes of scanning.
        if state.text.len() + piece.len() > MAX_PREVIEWED_BYTES {
            return;
        }
        state.text.push_str(piece);
        if let Some(reply) = reply_so_far(&state.text, self.wanted)
            && reply.len() > state.shown
        {
            state.shown = reply.len();
            self.progress.answer_so_far(&reply);
        }
    }
}

/// The reply's text in the JSON object written so far (from its first `{`),
/// once its `decision` is the wanted one; `None` before that, or when what is
/// written is not such an object.
pub fn reply_so_far(written: &str, wanted: Wanted) -> Option<String> {
    let start = written.find('{')?;
    let mut scan = Scanner {
        bytes: &written.as_bytes()[start + 1..],
        at: 0,
    };
    let mut decision: Option<String> = None;
    let mut reply: Option<String> = None;
    loop {
        scan.whitespace();
        match scan.peek() {
            None | Some(b'}') => break,
            Some(b',') => {
                scan.at += 1;
                continue;
            }
            Some(b'"') => {}
            Some(_) => return None,
        }
        let (key, whole) = scan.string();
        if !whole {
            break;
        }
        scan.whitespace();
        if scan.peek() != Some(b':') {
            break;
        }
        scan.at += 1;
        scan.whitespace();
        match scan.peek() {
            None => break,
            Some(b'"') => {
                let (value, whole) = scan.string();
                if key == "decision" {
                    if !whole {
                        break;
                    }
                    decision = Some(value.trim().to_ascii_lowercase());
                } else if reply.is_none() && wanted.keys.contains(&key.as_str()) {
                    reply = Some(value);
                    if !whole {
                        break;
                    }
                } else if !whole {
                    break;
                }
            }
            Some(_) => {
                if !scan.skip_value() {
                    break;
                }
            }
        }
    }
    (decision.as_deref() == Some(wanted.decision))
        .then_some(reply)
        .flatten()
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A JSON string starting at its opening quote: its value as far as it is
    /// written, and whether it is closed. A cut escape is left out.
    fn string(&mut self) -> (String, bool) {
        self.at += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return (lossy(out), false);
            };
            self.at += 1;
            match byte {
                b'"' => return (lossy(out), true),
                b'\\' => {
                    let Some(escaped) = self.peek() else {
                        return (lossy(out), false);
                    };
                    self.at += 1;
                    let plain = match escaped {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'u' => match self.unicode_escape() {
                            Some(c) => {
                                let mut buf = [0; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                                continue;
                            }
                            None => return (lossy(out), false),
                        },
                        other => other,
                    };
                    out.push(plain);
                }
                other => out.push(other),
            }
        }
    }

    /// The character of a `\uXXXX` escape (its `\u` read), a surrogate pair
    /// joined; `None` if it is cut short or is not a character.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high);
        }
        if self.bytes.get(self.at..self.at + 2)? != b"\\u" {
            return None;
        }
        self.at += 2;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let value = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        self.at += 4;
        Some(value)
    }

    /// Steps over a value that is not a string; false if the text ends in it.
    fn skip_value(&mut self) -> bool {
        let mut depth = 0usize;
        loop {
            let Some(byte) = self.peek() else {
                return false;
            };
            match byte {
                b'"' => {
                    if !self.string().1 {
                        return false;
                    }
                    if depth == 0 {
                        return true;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => return true,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return true;
                    }
                }
                b',' if depth == 0 => return true,
                _ => {}
            }
            self.at += 1;
        }
    }
}

/// The bytes as text. They are whole characters: the scanned text is a
/// `str` (so never cut inside a character) and escapes decode to whole ones.
fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_prefix(text: &str, wanted: Wanted) -> Vec<Option<String>> {
        (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .map(|i| reply_so_far(&text[..i], wanted))
            .collect()
    }

    #[test]
    fn the_reply_grows_once_the_decision_is_known() {
        let written = r#"{"decision": "accept", "answer": "BTC is \"$97k\"\nup 2%"}"#;
        let seen = every_prefix(written, ACCEPT);
        let shown: Vec<&String> = seen.iter().flatten().collect();
        assert_eq!(
            shown.last().expect("a reply").as_str(),
            "BTC is \"$97k\"\nup 2%"
        );
        // Each reading is a prefix of the next: nothing shown is taken back.
        for pair in shown.windows(2) {
            assert!(pair[1].starts_with(pair[0].as_str()), "{pair:?}");
        }
        // Nothing before the decision's value is whole.
        let decided = written.find("accept\"").expect("decision") + "accept\"".len();
        assert!(
            every_prefix(&written[..decided - 1], ACCEPT)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn other_decisions_show_nothing() {
        for written in [
            r#"{"decision": "fix", "fix": "use the other field", "answer": "no"}"#,
            r#"{"decision": "reject", "reason": "cannot", "answer": "no"}"#,
            r#"{"decision": "generate"}"#,
        ] {
            assert!(every_prefix(written, ACCEPT).iter().all(Option::is_none));
            assert!(every_prefix(written, CHAT).iter().all(Option::is_none));
        }
    }

    #[test]
    fn a_decision_after_the_reply_shows_it_whole() {
        let written = r#"{"reply": "Hi there", "decision": "chat"}"#;
        let seen = every_prefix(written, CHAT);
        assert_eq!(seen.iter().flatten().count(), 2, "{seen:?}");
        assert_eq!(seen.last().expect("a reading").as_deref(), Some("Hi there"));
    }

    #[test]
    fn escapes_cut_mid_way_are_left_out() {
        let written =
            "```json\n{\"decision\":\"chat\",\"reply\":\"caf\\u00e9 \\ud83d\\ude00 ok — ✓\"}\n```";
        for reading in every_prefix(written, CHAT).into_iter().flatten() {
            assert!(!reading.contains('\\'), "{reading:?}");
            assert!(!reading.contains('\u{fffd}'), "{reading:?}");
        }
        assert_eq!(
            reply_so_far(written, CHAT).as_deref(),
            Some("café 😀 ok — ✓")
        );
    }

    #[test]
    fn other_values_are_stepped_over() {
        let written = r#"{"args": {"a": [1, "}", {"b": null}]}, "n": 3, "ok": true, "decision": "chat", "reply": "x"}"#;
        assert_eq!(reply_so_far(written, CHAT).as_deref(), Some("x"));
        assert_eq!(reply_so_far("no json here", CHAT), None);
        assert_eq!(reply_so_far("{ 42 }", CHAT), None);
    }

    #[derive(Debug, Default)]
    struct Shown(Mutex<Vec<String>>);

    impl Progress for Shown {
        fn phase(&self, _phase: super::super::turn::Phase) {}
        fn answer_so_far(&self, text: &str) {
            self.0.lock().expect("lock").push(text.to_owned());
        }
    }

    #[test]
    fn a_restart_takes_back_what_was_shown() {
        let shown = Arc::new(Shown::default());
        let sink = FormingReply::new(CHAT, Arc::clone(&shown) as Arc<dyn Progress>);
        sink.restart();
        for piece in [r#"{"decision":"chat","#, r#""reply":"Hel"#, "lo"] {
            sink.push(piece);
        }
        sink.restart();
        sink.push(r#"{"decision":"chat","reply":"Hi"}"#);
        assert_eq!(*shown.0.lock().expect("lock"), ["Hel", "Hello", "", "Hi"]);
    }
}
