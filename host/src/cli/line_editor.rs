//! The REPL's one reader of the terminal.
//!
//! Every line typed in `clambot agent` — messages at `you>` and answers to
//! approval questions alike — is read by one line editor, owned by one thread.
//! A second reader (the approver used to start its own thread on `/dev/tty`)
//! would race the editor for every keystroke after the first approval, and
//! most typed input went to whichever reader happened to be waiting.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustyline::error::ReadlineError;
use tokio::sync::oneshot;

/// How a read ended, when it gave no line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoLine {
    /// Ctrl-C at the prompt.
    Interrupted,
    /// Ctrl-D at an empty prompt, or the terminal closed.
    Eof,
    /// The terminal could not be read.
    Failed(String),
    /// Nobody answered before the deadline.
    TimedOut,
}

struct Read {
    prompt: String,
    /// Messages go into the history; approval answers do not.
    remember: bool,
    reply: oneshot::Sender<Result<String, NoLine>>,
}

/// A handle to the editor thread. Reads are served one at a time, in order.
#[derive(Debug, Clone)]
pub struct LineEditor {
    reads: mpsc::Sender<Read>,
}

impl LineEditor {
    /// Starts the editor thread, with the history file at `history` (loaded now,
    /// saved after every remembered line so a crash loses nothing).
    pub fn start(history: PathBuf) -> Result<Self> {
        let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
        let _ = editor.load_history(&history);
        let (reads, requests) = mpsc::channel::<Read>();
        std::thread::Builder::new()
            .name("clambot-line-editor".into())
            .spawn(move || {
                for read in requests {
                    let line = editor.readline(&read.prompt).map_err(|error| match error {
                        ReadlineError::Interrupted => NoLine::Interrupted,
                        ReadlineError::Eof => NoLine::Eof,
                        other => NoLine::Failed(other.to_string()),
                    });
                    if read.remember
                        && let Ok(line) = &line
                        && !line.trim().is_empty()
                    {
                        let _ = editor.add_history_entry(line.trim());
                        if let Some(dir) = history.parent() {
                            let _ = clambot::atomic::create_private_dir(dir);
                        }
                        let _ = editor.save_history(&history);
                    }
                    if let Err(Ok(line)) = read.reply.send(line)
                        && !line.trim().is_empty()
                    {
                        // The question this line answered had already timed out.
                        eprintln!(
                            "(that answer came after the question had timed out and was not used)"
                        );
                    }
                }
            })
            .context("starting the line editor thread")?;
        Ok(Self { reads })
    }

    /// Reads one line at `prompt`; `deadline` bounds the wait (the line, if it
    /// comes later, is reported as unused rather than taken for the next read).
    pub async fn read(
        &self,
        prompt: &str,
        remember: bool,
        deadline: Option<Instant>,
    ) -> Result<String, NoLine> {
        let (reply, answer) = oneshot::channel();
        let read = Read {
            prompt: prompt.to_owned(),
            remember,
            reply,
        };
        if self.reads.send(read).is_err() {
            return Err(NoLine::Failed("the line editor has stopped".into()));
        }
        let answer = async {
            answer
                .await
                .unwrap_or_else(|_| Err(NoLine::Failed("the line editor has stopped".into())))
        };
        match deadline {
            None => answer.await,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::timeout(left.max(Duration::from_millis(1)), answer)
                    .await
                    .unwrap_or(Err(NoLine::TimedOut))
            }
        }
    }
}
