//! Answers as they are written: both protocols stream a completion as
//! server-sent events (`"stream": true`), and [`TextSink`] receives the text as
//! it arrives, so a front end can show a reply while the model still writes it.
//!
//! The events are framed by `eventsource-stream` over the response body, which
//! is counted against the same size cap as a whole answer. Each protocol reads
//! its own events with a [`StreamDecoder`]. A server that answers a streaming
//! request with an ordinary JSON body is read as an ordinary answer (nothing is
//! streamed, nothing lost); a stream that ends before its end event is a broken
//! connection, retried like one.

use serde_json::Value;

use super::Completion;

/// Receives a completion's text as the model writes it.
pub trait TextSink: Send + Sync {
    /// An attempt starts: whatever came before is void (a retry follows a
    /// stream that broke off).
    fn restart(&self);
    /// The next piece of the answer.
    fn push(&self, text: &str);
}

/// A sink that drops everything (for callers with no one to show text to).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl TextSink for Discard {
    fn restart(&self) {}
    fn push(&self, _text: &str) {}
}

/// What one server-sent event meant.
#[derive(Debug, PartialEq)]
pub(super) enum Event {
    /// A piece of the answer's text.
    Text(String),
    /// Nothing to show (metadata, keep-alive pings).
    Nothing,
    /// The answer is complete.
    End,
    /// The server reported a failure inside the stream, as the HTTP status it
    /// stands for and the event's body (for the error's detail).
    Failed { status: u16, body: String },
}

/// Reads one protocol's events into the answer.
pub(super) trait StreamDecoder: Send {
    /// One event: its `event:` name (empty when it has none) and its data.
    fn event(&mut self, name: &str, data: &str) -> Result<Event, String>;
    /// The whole answer, once [`Event::End`] was seen.
    fn finish(self, configured_model: &str) -> Completion;
}

/// The data of an event as JSON, or why not.
pub(super) fn json(data: &str) -> Result<Value, String> {
    serde_json::from_str(data).map_err(|error| format!("an event is not JSON ({error})"))
}
