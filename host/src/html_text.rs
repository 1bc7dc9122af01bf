//! HTML to readable text, in one pass with bounded work, for `http.fetchText`.
//!
//! The markup comes from any server a script may reach, so it is hostile input
//! converted on the host. A browser-grade parser builds a tree and repairs it
//! (the adoption agency algorithm, foster parenting, reconstructing active
//! formatting elements): on crafted misnesting that work is superlinear and the
//! tree is many times the page (a 33 KB page of unclosed formatting tags kept
//! the old converter busy for minutes; a 5 MB misnested page took 2 GiB). This
//! module builds no tree and repairs nothing. A WHATWG *tokenizer* (`html5gum`:
//! no tree builder, no unsafe code, no dependencies) reads the bytes once; the
//! emitter here turns its events straight into text, keeping only O(1) state:
//! a capped stack of open lists, one open link with a capped `href`, a skip
//! counter for `script`, `style` and the like, and a pending-whitespace mark.
//!
//! Bounds, all checked while converting, each ending it with a [`Stop`]:
//! - time: the reader counts every byte it reads or compares and looks at the
//!   clock every [`STEPS_PER_CLOCK_CHECK`] steps, so the deadline holds inside
//!   one huge token too;
//! - output: never more than [`Bounds::max_output`] bytes (links are resolved
//!   against the page, which can lengthen them, so the cap is checked on every
//!   write, not estimated);
//! - memory: the input, the tokenizer's buffer for its current token (never
//!   larger than the input), the output, and the emitter's fixed-size state.
//!
//! Work is linear in the input: the tokenizer never reads a byte twice except
//! to compare a bounded prefix (a named character reference, `</script`,
//! `DOCTYPE`), and each event costs the emitter its payload plus O(1). The
//! tests in `host/tests/containment_http.rs` measure this in steps, not wall
//! time.
//!
//! What it does not do: charset detection (input is read as UTF-8, invalid
//! bytes become U+FFFD), tree-correct nesting (a `<p>` inside an unclosed `<a>`
//! stays in the link), CSS visibility, or running scripts. Text inside
//! `script`, `style`, `template`, `noscript`, `iframe`, `svg`, `math`, `title`,
//! `textarea`, `select`, `object` and the like is left out.

use std::cell::Cell;
use std::fmt;
use std::time::Instant;

use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{Reader, Span, Tokenizer};
use url::Url;

/// Reader steps between two looks at the clock: a few microseconds of work.
pub const STEPS_PER_CLOCK_CHECK: u64 = 1 << 14;
/// Open lists tracked for indentation and numbering; deeper lists are counted
/// but share the deepest indentation.
pub const MAX_LIST_DEPTH: usize = 16;
/// Longest `href` kept (before and after resolving); longer links keep their
/// text and lose the address.
pub const MAX_HREF_BYTES: usize = 2048;
/// Longest chunk the reader hands over in one call, so the clock is consulted
/// inside long runs of text too.
const MAX_CHUNK: usize = 16 * 1024;

/// The limits of one conversion.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most bytes of text produced.
    pub max_output: usize,
    /// When to give up (the run's deadline); `None` for no clock.
    pub deadline: Option<Instant>,
}

/// Why a conversion stopped before the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The text would have been longer than this many bytes.
    Output(usize),
    /// The deadline passed.
    Deadline,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output(limit) => write!(f, "the text is longer than {limit} bytes"),
            Self::Deadline => {
                f.write_str("converting it to text did not finish before the run's deadline")
            }
        }
    }
}

impl std::error::Error for Stop {}

/// What a conversion cost, for the tests that prove the bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes read or compared by the tokenizer (each call counts one more).
    pub reader_steps: u64,
    /// Tokenizer events the emitter handled.
    pub events: u64,
    /// Payload bytes of those events (text, names, attribute values).
    pub event_bytes: u64,
    /// Deepest list stack held.
    pub max_list_depth: usize,
    /// Longest `href` buffer held.
    pub max_href_bytes: usize,
    /// Bytes of text produced.
    pub output_bytes: usize,
}

impl Stats {
    /// All work done, in steps: what the tokenizer read plus what the emitter handled.
    pub fn work(&self) -> u64 {
        self.reader_steps + self.events + self.event_bytes + self.output_bytes as u64
    }
}

/// Converts `html` to text; links are resolved against `base` when given.
pub fn to_text(html: &[u8], base: Option<&Url>, bounds: Bounds) -> Result<String, Stop> {
    to_text_with_stats(html, base, bounds).0
}

/// [`to_text`], also returning what the conversion cost.
pub fn to_text_with_stats(
    html: &[u8],
    base: Option<&Url>,
    bounds: Bounds,
) -> (Result<String, Stop>, Stats) {
    let steps = Cell::new(0);
    let mut text = Text::new(base, bounds.max_output);
    let result = {
        let reader = CountingReader {
            input: html,
            steps: &steps,
            deadline: bounds.deadline,
            next_check: STEPS_PER_CLOCK_CHECK,
        };
        let mut emitter =
            CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| text.on(&event));
        // `<script>`, `<style>`, `<title>`, `<textarea>`, `<plaintext>` … switch
        // the tokenizer's state as a browser's tree builder would.
        emitter.naively_switch_states(true);
        // The tokenizer yields only what the emitter returns (a `Stop`) or the
        // reader's error (the deadline): its first item, if any, ends the run.
        match Tokenizer::new_with_emitter(reader, emitter).next() {
            Some(Ok(stop) | Err(Stopped(stop))) => Err(stop),
            None => Ok(()),
        }
    };
    text.stats.reader_steps = steps.get();
    text.stats.output_bytes = text.out.len();
    let stats = text.stats;
    (result.and_then(|()| text.finish()), stats)
}

/// The reader's error: the deadline passed.
#[derive(Debug)]
struct Stopped(Stop);

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Stopped {}

/// The input as the tokenizer reads it, counting every byte it touches.
struct CountingReader<'a> {
    input: &'a [u8],
    steps: &'a Cell<u64>,
    deadline: Option<Instant>,
    next_check: u64,
}

impl CountingReader<'_> {
    fn tick(&mut self, steps: usize) -> Result<(), Stopped> {
        let total = self.steps.get() + steps as u64 + 1;
        self.steps.set(total);
        if total >= self.next_check {
            self.next_check = total + STEPS_PER_CLOCK_CHECK;
            if self.deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(Stopped(Stop::Deadline));
            }
        }
        Ok(())
    }
}

impl Reader for CountingReader<'_> {
    type Error = Stopped;

    fn read_byte(&mut self) -> Result<Option<u8>, Stopped> {
        self.tick(1)?;
        let Some((&first, rest)) = self.input.split_first() else {
            return Ok(None);
        };
        self.input = rest;
        Ok(Some(first))
    }

    fn try_read_string(&mut self, s: &[u8], case_sensitive: bool) -> Result<bool, Stopped> {
        self.tick(s.len())?;
        let Some(head) = self.input.get(..s.len()) else {
            return Ok(false);
        };
        if head == s || (!case_sensitive && head.eq_ignore_ascii_case(s)) {
            self.input = &self.input[s.len()..];
            return Ok(true);
        }
        Ok(false)
    }

    fn read_until<'b>(
        &'b mut self,
        needle: &[u8],
        _: &'b mut [u8; 4],
    ) -> Result<Option<&'b [u8]>, Stopped> {
        if self.input.is_empty() {
            self.tick(0)?;
            return Ok(None);
        }
        let window = &self.input[..self.input.len().min(MAX_CHUNK)];
        let end = window
            .iter()
            .position(|b| needle.contains(b))
            .map_or(window.len(), |at| at.max(1));
        self.tick(end)?;
        let (chunk, rest) = self.input.split_at(end);
        self.input = rest;
        Ok(Some(chunk))
    }
}

/// The tags the emitter acts on; every other tag is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    A,
    Br,
    Hr,
    Li,
    /// `ul`, `menu`, `dir`.
    List,
    Ol,
    /// `pre`, `xmp`, `listing`, `plaintext`: whitespace kept.
    Pre,
    Heading(u8),
    /// A block that starts and ends with a blank line.
    Paragraph,
    /// A block that starts and ends on its own line.
    Block,
    /// `td`, `th`.
    Cell,
    /// Content left out; the index names the tag, for matching its end.
    Skip(u8),
    Other,
}

/// Elements whose content is not text a reader sees.
const SKIPPED: &[&[u8]] = &[
    b"script",
    b"style",
    b"template",
    b"noscript",
    b"iframe",
    b"noembed",
    b"noframes",
    b"object",
    b"svg",
    b"math",
    b"title",
    b"textarea",
    b"select",
];

impl Tag {
    fn of(name: &[u8]) -> Self {
        match name {
            b"a" => Self::A,
            b"br" => Self::Br,
            b"hr" => Self::Hr,
            b"li" | b"dt" => Self::Li,
            b"ul" | b"menu" | b"dir" => Self::List,
            b"ol" => Self::Ol,
            b"pre" | b"xmp" | b"listing" | b"plaintext" => Self::Pre,
            [b'h', level @ b'1'..=b'6'] => Self::Heading(level - b'0'),
            b"p" | b"blockquote" | b"table" | b"figure" | b"dl" | b"address" | b"fieldset"
            | b"details" | b"form" => Self::Paragraph,
            b"div" | b"section" | b"article" | b"header" | b"footer" | b"nav" | b"main"
            | b"aside" | b"tr" | b"dd" | b"summary" | b"figcaption" | b"caption" | b"body"
            | b"html" | b"option" | b"legend" | b"center" | b"hgroup" | b"search" => Self::Block,
            b"td" | b"th" => Self::Cell,
            _ => SKIPPED
                .iter()
                .position(|s| *s == name)
                .map_or(Self::Other, |i| Self::Skip(i as u8)),
        }
    }
}

/// Whether a link's raw `href` can lead anywhere a reader could follow: not
/// empty, not a fragment, and relative or http(s) or mailto.
fn worth_linking(raw: &str) -> bool {
    if raw.is_empty() || raw.starts_with('#') {
        return false;
    }
    let scheme_end = raw.find([':', '/', '?', '#']);
    match scheme_end {
        Some(at) if raw[at..].starts_with(':') => {
            let scheme = &raw[..at];
            ["http", "https", "mailto"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(scheme))
        }
        _ => true,
    }
}

/// Whitespace owed before the next visible character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    None,
    Space,
    /// This many line breaks (1 or 2).
    Lines(u8),
}

/// A list being written.
#[derive(Debug, Clone, Copy)]
struct ListFrame {
    ordered: bool,
    next: u32,
}

/// The open link.
#[derive(Debug)]
struct Link {
    href: Option<String>,
    /// Whether `[` has been written (at the link's first visible character).
    opened: bool,
}

/// The start tag being read.
#[derive(Debug, Default)]
struct OpenTag {
    tag: Option<Tag>,
    /// The attribute being read is the tag's first `href`.
    at_href: bool,
    href_seen: bool,
}

/// The emitter's whole state; every part of it has a fixed bound.
#[derive(Debug)]
struct Text<'u> {
    base: Option<&'u Url>,
    max_output: usize,
    out: String,
    pending: Pending,
    lists: Vec<ListFrame>,
    /// Lists open beyond [`MAX_LIST_DEPTH`].
    lists_beyond: u32,
    pre_depth: u32,
    /// The skipped element being left out and how deeply it nests in itself.
    skip: Option<(u8, u32)>,
    link: Option<Link>,
    open: OpenTag,
    href: String,
    stopped: Option<Stop>,
    stats: Stats,
}

impl<'u> Text<'u> {
    fn new(base: Option<&'u Url>, max_output: usize) -> Self {
        Self {
            base,
            max_output,
            out: String::new(),
            pending: Pending::None,
            lists: Vec::with_capacity(MAX_LIST_DEPTH),
            lists_beyond: 0,
            pre_depth: 0,
            skip: None,
            link: None,
            open: OpenTag::default(),
            href: String::new(),
            stopped: None,
            stats: Stats::default(),
        }
    }

    /// Handles one event; `Some` stops the tokenizer.
    fn on(&mut self, event: &CallbackEvent<'_>) -> Option<Stop> {
        if self.stopped.is_some() {
            return None;
        }
        self.stats.events += 1;
        let result = match *event {
            CallbackEvent::OpenStartTag { name } => {
                self.stats.event_bytes += name.len() as u64;
                self.open = OpenTag {
                    tag: Some(Tag::of(name)),
                    ..OpenTag::default()
                };
                Ok(())
            }
            CallbackEvent::AttributeName { name } => {
                self.stats.event_bytes += name.len() as u64;
                self.open.at_href =
                    self.open.tag == Some(Tag::A) && !self.open.href_seen && name == b"href";
                Ok(())
            }
            CallbackEvent::AttributeValue { value } => {
                self.stats.event_bytes += value.len() as u64;
                if self.open.at_href {
                    self.open.at_href = false;
                    self.open.href_seen = true;
                    self.href.clear();
                    if value.len() <= MAX_HREF_BYTES {
                        self.href.push_str(&String::from_utf8_lossy(value));
                        self.stats.max_href_bytes = self.stats.max_href_bytes.max(self.href.len());
                    }
                }
                Ok(())
            }
            CallbackEvent::CloseStartTag { self_closing } => {
                let tag = self.open.tag.take();
                let had_href = self.open.href_seen;
                match tag {
                    Some(tag) => self.start(tag, had_href, self_closing),
                    None => Ok(()),
                }
            }
            CallbackEvent::EndTag { name } => {
                self.stats.event_bytes += name.len() as u64;
                self.end(Tag::of(name))
            }
            CallbackEvent::String { value } => {
                self.stats.event_bytes += value.len() as u64;
                if self.skip.is_some() {
                    Ok(())
                } else {
                    self.text(value)
                }
            }
            CallbackEvent::Comment { value } => {
                self.stats.event_bytes += value.len() as u64;
                Ok(())
            }
            CallbackEvent::Doctype { .. } | CallbackEvent::Error(_) => Ok(()),
        };
        self.stats.max_list_depth = self.stats.max_list_depth.max(self.lists.len());
        result.err().inspect(|stop| self.stopped = Some(*stop))
    }

    fn start(&mut self, tag: Tag, had_href: bool, self_closing: bool) -> Result<(), Stop> {
        // Only foreign elements (`<svg/>`, `<math/>`) may close themselves; on
        // HTML elements the `/` means nothing.
        let opens =
            |which: u8| !(self_closing && matches!(SKIPPED[usize::from(which)], b"svg" | b"math"));
        if let Some((skipped, depth)) = &mut self.skip {
            if tag == Tag::Skip(*skipped) && opens(*skipped) {
                *depth = depth.saturating_add(1);
            }
            return Ok(());
        }
        match tag {
            Tag::Skip(which) => {
                if opens(which) {
                    self.skip = Some((which, 1));
                }
            }
            Tag::A => {
                self.close_link()?;
                // Kept raw; resolved only if the link shows text, so the cost of
                // resolving is paid for by output that counts against the cap.
                let href = (had_href && worth_linking(self.href.trim()))
                    .then(|| self.href.trim().to_owned());
                self.link = Some(Link {
                    href,
                    opened: false,
                });
            }
            Tag::Br => self.line_break()?,
            Tag::Hr => {
                self.lines(2);
                self.write("---")?;
                self.lines(2);
            }
            Tag::Li => {
                self.lines(1);
                self.flush(self.lists.len().saturating_sub(1))?;
                let marker = match self.lists.last_mut() {
                    Some(frame) if frame.ordered => {
                        let n = frame.next;
                        frame.next = n.saturating_add(1);
                        format!("{n}. ")
                    }
                    _ => "* ".to_owned(),
                };
                self.write(&marker)?;
            }
            Tag::List | Tag::Ol => {
                self.lines(1);
                if self.lists.len() < MAX_LIST_DEPTH {
                    self.lists.push(ListFrame {
                        ordered: tag == Tag::Ol,
                        next: 1,
                    });
                } else {
                    self.lists_beyond = self.lists_beyond.saturating_add(1);
                }
            }
            Tag::Pre => {
                self.lines(2);
                self.pre_depth = self.pre_depth.saturating_add(1);
            }
            Tag::Heading(level) => {
                self.lines(2);
                self.flush(0)?;
                let hashes = "######";
                self.write(&hashes[..usize::from(level)])?;
                self.write(" ")?;
            }
            Tag::Paragraph => self.lines(2),
            Tag::Block => self.lines(1),
            Tag::Cell => {
                if self.pending < Pending::Lines(1) && !self.at_line_start() {
                    self.pending = Pending::None;
                    self.write(" | ")?;
                }
            }
            Tag::Other => {}
        }
        Ok(())
    }

    fn end(&mut self, tag: Tag) -> Result<(), Stop> {
        if let Some((skipped, depth)) = &mut self.skip {
            if tag == Tag::Skip(*skipped) {
                *depth -= 1;
                if *depth == 0 {
                    self.skip = None;
                }
            }
            return Ok(());
        }
        match tag {
            Tag::A => self.close_link()?,
            // `</br>` is read as `<br>` by browsers.
            Tag::Br => self.line_break()?,
            Tag::List | Tag::Ol => {
                if self.lists_beyond > 0 {
                    self.lists_beyond -= 1;
                } else {
                    self.lists.pop();
                }
                self.lines(1);
            }
            Tag::Pre => {
                self.pre_depth = self.pre_depth.saturating_sub(1);
                self.lines(2);
            }
            Tag::Heading(_) | Tag::Paragraph => self.lines(2),
            Tag::Block | Tag::Li => self.lines(1),
            Tag::Hr | Tag::Cell | Tag::Skip(_) | Tag::Other => {}
        }
        Ok(())
    }

    /// A link's `href` resolved against the page; `None` for fragments,
    /// scripts, data and anything too long to be worth showing. Relative links
    /// on a page whose own URL is longer than [`MAX_HREF_BYTES`] are not
    /// resolved (their result would be too long anyway).
    fn resolve(&self, raw: &str) -> Option<String> {
        if raw.starts_with('#') {
            return None;
        }
        let url = match self.base {
            Some(base) if base.as_str().len() <= MAX_HREF_BYTES => base.join(raw).ok()?,
            _ => Url::parse(raw).ok()?,
        };
        if !matches!(url.scheme(), "http" | "https" | "mailto") {
            return None;
        }
        let text = url.as_str().replace(')', "%29");
        (text.len() <= MAX_HREF_BYTES).then_some(text)
    }

    /// Ends the open link: `[text](address)` if it showed text and its address
    /// is worth showing, else just its text.
    fn close_link(&mut self) -> Result<(), Stop> {
        let Some(Link {
            href: Some(raw),
            opened: true,
        }) = self.link.take()
        else {
            return Ok(());
        };
        match self.resolve(&raw) {
            Some(href) => {
                self.write("](")?;
                self.write(&href)?;
                self.write(")")
            }
            None => self.write("]"),
        }
    }

    /// `<br>`: a new line, but never more than one blank line in a row.
    fn line_break(&mut self) -> Result<(), Stop> {
        self.pending = Pending::None;
        if self.out.is_empty() || self.out.ends_with("\n\n") {
            return Ok(());
        }
        self.write("\n")
    }

    fn text(&mut self, value: &[u8]) -> Result<(), Stop> {
        let text = String::from_utf8_lossy(value);
        let mut buffer = [0u8; 4];
        for c in text.chars() {
            if self.pre_depth > 0 {
                match c {
                    '\n' => {
                        self.pending = Pending::None;
                        self.write("\n")?;
                    }
                    '\t' => self.visible("\t")?,
                    c if c.is_control() => {}
                    c => self.visible(c.encode_utf8(&mut buffer))?,
                }
            } else if c.is_whitespace() {
                if self.pending == Pending::None
                    && !self.out.is_empty()
                    && !self.out.ends_with([' ', '\n'])
                {
                    self.pending = Pending::Space;
                }
            } else if !c.is_control() {
                self.visible(c.encode_utf8(&mut buffer))?;
            }
        }
        Ok(())
    }

    /// Writes visible text: owed whitespace first, then the link's `[`.
    fn visible(&mut self, s: &str) -> Result<(), Stop> {
        self.flush(self.lists.len())?;
        if let Some(link) = &mut self.link
            && link.href.is_some()
            && !link.opened
        {
            link.opened = true;
            self.write("[")?;
        }
        self.write(s)
    }

    /// Owes at least `n` line breaks.
    fn lines(&mut self, n: u8) {
        self.pending = self.pending.max(Pending::Lines(n));
    }

    /// Writes owed whitespace, indenting new lines by `indent` levels.
    fn flush(&mut self, indent: usize) -> Result<(), Stop> {
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        if self.out.is_empty() {
            return Ok(());
        }
        match pending {
            Pending::None => Ok(()),
            Pending::Space => self.write(" "),
            Pending::Lines(n) => {
                let have = self
                    .out
                    .bytes()
                    .rev()
                    .take(2)
                    .take_while(|b| *b == b'\n')
                    .count();
                for _ in have..usize::from(n) {
                    self.write("\n")?;
                }
                for _ in 0..indent.min(MAX_LIST_DEPTH) {
                    self.write("  ")?;
                }
                Ok(())
            }
        }
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn write(&mut self, s: &str) -> Result<(), Stop> {
        if self.out.len() + s.len() > self.max_output {
            return Err(Stop::Output(self.max_output));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn finish(mut self) -> Result<String, Stop> {
        // A link still open at the end of the page is closed like any other.
        self.close_link()?;
        let end = self.out.trim_end().len();
        self.out.truncate(end);
        let start = self.out.len() - self.out.trim_start().len();
        self.out.drain(..start);
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        let base = Url::parse("https://example.org/dir/page.html").expect("base");
        to_text(
            html.as_bytes(),
            Some(&base),
            Bounds {
                max_output: 1 << 20,
                deadline: None,
            },
        )
        .expect("converts")
    }

    #[test]
    fn readable_structure_is_kept() {
        let cases = [
            ("<p>one</p><p>two</p>", "one\n\ntwo"),
            ("a<br>b", "a\nb"),
            ("<h1>Title</h1>body", "# Title\n\nbody"),
            ("<h3>x</h3>", "### x"),
            ("<ul><li>a<li>b</ul>", "* a\n* b"),
            ("<ol><li>a</li><li>b</li></ol>", "1. a\n2. b"),
            ("<ul><li>a<ul><li>b</li></ul></li></ul>", "* a\n  * b"),
            ("<a href='/x'>go</a>", "[go](https://example.org/x)"),
            (
                "<a href='y.html'>go</a>",
                "[go](https://example.org/dir/y.html)",
            ),
            ("<a href='#top'>top</a>", "top"),
            ("<a href='javascript:alert(1)'>js</a>", "js"),
            ("<a href=' JavaScript:x'>js</a>", "js"),
            (
                "<a href='mailto:a@b.org'>mail</a>",
                "[mail](mailto:a@b.org)",
            ),
            ("<a>plain</a>", "plain"),
            ("<a href=/x></a>after", "after"),
            (
                "x <a href=/a>1</a> <a href=/b>2</a>",
                "x [1](https://example.org/a) [2](https://example.org/b)",
            ),
            ("<p>  lots   of\n\n  space </p>", "lots of space"),
            (
                "&amp; &lt;b&gt; &eacute; &#x41; &notin; &notin",
                "& <b> é A ∉ ¬in",
            ),
            ("<script>var x = '<p>';</script>shown", "shown"),
            ("<style>p{}</style><title>T</title>shown", "shown"),
            ("<head><title>T</title><meta x=y></head><body>b</body>", "b"),
            ("<svg><text>icon</text><svg></svg></svg>after", "after"),
            ("<svg><svg/><text>i</text></svg>after", "after"),
            ("a<svg/>b<math/>c", "abc"),
            ("<script/>x</script>y", "y"),
            ("<pre>a\n  b</pre>", "a\n  b"),
            ("<table><tr><td>a<td>b</tr><tr><td>c</table>", "a | b\nc"),
            ("<!-- hidden -->shown", "shown"),
            ("<plaintext><p>raw", "<p>raw"),
            ("a\u{1b}[31mb", "a[31mb"),
            ("<hr>", "---"),
        ];
        for (html, want) in cases {
            assert_eq!(text(html), want, "{html}");
        }
    }

    #[test]
    fn the_output_cap_is_a_stop_not_a_cut() {
        let page = "word ".repeat(1000);
        let bounds = Bounds {
            max_output: 100,
            deadline: None,
        };
        assert_eq!(
            to_text(page.as_bytes(), None, bounds),
            Err(Stop::Output(100))
        );
        let short = Bounds {
            max_output: 9,
            deadline: None,
        };
        assert_eq!(
            to_text(b"word word", None, short).as_deref(),
            Ok("word word")
        );
    }

    #[test]
    fn a_passed_deadline_stops_the_conversion() {
        let page = "<b>".repeat(100_000);
        let bounds = Bounds {
            max_output: usize::MAX,
            deadline: Some(Instant::now()),
        };
        assert_eq!(to_text(page.as_bytes(), None, bounds), Err(Stop::Deadline));
    }

    #[test]
    fn links_are_resolved_and_bounded() {
        let long = format!("<a href='/{}'>t</a>", "x".repeat(MAX_HREF_BYTES));
        assert_eq!(text(&long), "t");
        assert_eq!(
            text("<a href='/a)b'>t</a>"),
            "[t](https://example.org/a%29b)"
        );
        assert_eq!(
            text("<a href=/first href=/second>t</a>"),
            "[t](https://example.org/first)"
        );
        assert_eq!(text("<a href=/x>open"), "[open](https://example.org/x)");
    }
}
