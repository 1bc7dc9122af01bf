//! Bounded capture of a run's console output (WASI stdout and stderr) and of its
//! `log.write` messages, in the order they happened.
//!
//! The buffer never grows past its limit: the write that would cross it keeps what
//! fits, marks the capture truncated and stops the run (an output flood is a budget
//! overrun, like time or memory), so a flooding script cannot blow up host memory.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::terminal::{self, Newlines};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Where a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `console.log` / `info` / `debug`.
    Stdout,
    /// `console.warn` / `error`.
    Stderr,
    /// `log.write`, through the gate.
    Log,
    /// clambot's own notes about the run (`[gate] …`), never script text.
    Host,
}

/// The captured output of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Console {
    /// Consecutive writes to one stream, merged.
    pub chunks: Vec<(Stream, String)>,
    /// Whether the limit was reached and later output dropped.
    pub truncated: bool,
    /// The limit, in bytes.
    pub limit: usize,
}

impl Console {
    /// All output as one text, with a marker where it was cut.
    pub fn text(&self) -> String {
        let mut text: String = self.chunks.iter().map(|(_, s)| s.as_str()).collect();
        if self.truncated {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&truncation_marker(self.limit));
            text.push('\n');
        }
        text
    }
}

impl Console {
    /// The output as a terminal shows it: every line the script (or a tool it
    /// called) wrote is escaped and marked with [`terminal::SCRIPT_PREFIX`], so it can
    /// neither act on the terminal nor pass for one of clambot's own lines; the
    /// host's notes and the truncation marker are unmarked.
    pub fn terminal_text(&self) -> String {
        let mut out = String::new();
        for (stream, text) in &self.chunks {
            match stream {
                Stream::Host => {
                    out.push_str(&terminal::escape(text, Newlines::Keep));
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Stream::Stdout | Stream::Stderr | Stream::Log => {
                    out.push_str(&terminal::script_lines(text));
                }
            }
        }
        if self.truncated {
            out.push_str(&truncation_marker(self.limit));
            out.push('\n');
        }
        out
    }
}

/// Cuts `text` to at most `limit` bytes (at a character boundary) and says so at
/// the cut: for a text the host prints on a script's behalf outside the console
/// capture, such as an uncaught error's message.
pub fn bound_text(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = text.len() - cut;
    text.truncate(cut);
    text.push_str(&format!(
        "…[{dropped} more bytes cut: the run's output limit is {limit} bytes]"
    ));
}

/// The line that replaces output past the limit.
pub fn truncation_marker(limit: usize) -> String {
    format!(
        "…[output truncated: the run's limit of {} was reached]",
        crate::size::show_size(limit as u64)
    )
}

#[derive(Debug)]
struct State {
    chunks: Vec<(Stream, Vec<u8>)>,
    used: usize,
    limit: usize,
    truncated: bool,
}

/// Shared by the run's stdout, stderr and log.
#[derive(Debug, Clone)]
pub struct OutputCapture {
    state: Arc<Mutex<State>>,
}

/// Returned (as a trap) to the guest when the limit is reached.
#[derive(Debug, thiserror::Error)]
#[error("the run's output limit of {} was reached", crate::size::show_size(*.0 as u64))]
pub struct OutputLimitReached(pub usize);

impl OutputCapture {
    pub fn new(limit: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                chunks: Vec::new(),
                used: 0,
                limit,
                truncated: false,
            })),
        }
    }

    /// A WASI output stream that appends to this capture as `stream`.
    pub fn stream(&self, stream: Stream) -> CaptureStream {
        CaptureStream {
            capture: self.clone(),
            stream,
        }
    }

    /// Appends `bytes`; errors once the limit is crossed.
    pub fn append(&self, stream: Stream, bytes: &[u8]) -> Result<(), OutputLimitReached> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.truncated {
            return Err(OutputLimitReached(state.limit));
        }
        let room = state.limit - state.used;
        let kept = &bytes[..bytes.len().min(room)];
        state.used += kept.len();
        match state.chunks.last_mut() {
            Some((last, chunk)) if *last == stream => chunk.extend_from_slice(kept),
            _ if kept.is_empty() => {}
            _ => state.chunks.push((stream, kept.to_vec())),
        }
        if bytes.len() > room {
            state.truncated = true;
            return Err(OutputLimitReached(state.limit));
        }
        Ok(())
    }

    /// Appends one of clambot's own notes (`[gate] …`) as a single line: any line
    /// break inside it (a script-chosen URL in a scope, say) is escaped, so a note
    /// can never start a line the script wrote.
    pub fn note(&self, text: &str) -> Result<(), OutputLimitReached> {
        let mut line = terminal::inline(text.trim_end_matches('\n'));
        line.push('\n');
        self.append(Stream::Host, line.as_bytes())
    }

    pub fn is_truncated(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .truncated
    }

    /// What was captured so far.
    pub fn console(&self) -> Console {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Console {
            chunks: state
                .chunks
                .iter()
                .map(|(s, b)| (*s, String::from_utf8_lossy(b).into_owned()))
                .collect(),
            truncated: state.truncated,
            limit: state.limit,
        }
    }
}

/// One of the run's WASI output streams.
#[derive(Debug, Clone)]
pub struct CaptureStream {
    capture: OutputCapture,
    stream: Stream,
}

/// How much the guest may write at once; the capture itself enforces the limit.
const WRITE_CHUNK: usize = 64 * 1024;

impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.capture
            .append(self.stream, &bytes)
            .map_err(|e| StreamError::Trap(e.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.capture.is_truncated() {
            let limit = self.capture.console().limit;
            return Err(StreamError::Trap(OutputLimitReached(limit).into()));
        }
        Ok(WRITE_CHUNK)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.capture
                .append(self.stream, buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
