//! The heartbeat: every N minutes, the unchecked items in the workspace's
//! `HEARTBEAT.md` are handed to the agent, and the outcome is delivered to the
//! owner. A file with nothing actionable costs no model call.
//!
//! Actionable means an unchecked task with text: `- [ ] water the plants`.
//! Headings, quotes, prose, checked items (`- [x]`) and empty checkboxes are not.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::Deliver;
use crate::agent::turn::{Quiet, TurnRequest, Turns};
use crate::gate::approver::NonInteractive;

/// The file, in the workspace.
pub const HEARTBEAT_FILE: &str = "HEARTBEAT.md";
/// A larger `HEARTBEAT.md` is not read.
pub const MAX_HEARTBEAT_BYTES: u64 = 64 * 1024;

/// The unchecked items of a `HEARTBEAT.md`.
pub fn actionable_items(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix("- [ ]")
                .or_else(|| line.strip_prefix("* [ ]"))?;
            let item = rest.trim();
            (!item.is_empty()).then(|| item.to_owned())
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub workspace: PathBuf,
    pub turns: Arc<dyn Turns>,
    pub deliver: Arc<dyn Deliver>,
    pub cancel: CancellationToken,
}

impl Heartbeat {
    /// Beats every `every` until `stop` (the first beat after one interval).
    pub async fn run(&self, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(error) = self.beat().await {
                eprintln!("clambot gateway: the heartbeat: {error:#}");
            }
        }
    }

    /// One beat; returns whether the agent was asked.
    pub async fn beat(&self) -> Result<bool> {
        let path = self.workspace.join(HEARTBEAT_FILE);
        let text = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
            // Scripts with an fs grant can write the workspace, so what this file
            // may ask of unattended turns is kept small.
            Ok(meta) if meta.len() > MAX_HEARTBEAT_BYTES => anyhow::bail!(
                "{} is {} bytes, more than the heartbeat reads ({MAX_HEARTBEAT_BYTES}); skipped",
                path.display(),
                meta.len()
            ),
            Ok(_) => std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
        };
        let items = actionable_items(&text);
        if items.is_empty() {
            return Ok(false);
        }
        let message = format!(
            "Heartbeat: these open items are in {HEARTBEAT_FILE}. Do what can be done now and \
             report briefly what you did and what is still open:\n{}",
            items
                .iter()
                .map(|i| format!("- {i}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let reply = self
            .turns
            .turn(TurnRequest {
                session: "heartbeat".into(),
                message,
                approver: Arc::new(NonInteractive),
                progress: Arc::new(Quiet),
                cancel: self.cancel.child_token(),
            })
            .await?;
        self.deliver
            .deliver(None, &format!("Heartbeat:\n{}", reply.text))
            .await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::actionable_items;

    #[test]
    fn only_unchecked_items_with_text() {
        let text = "# Heartbeat\n\n> Add tasks below.\n\n- [ ]\n- [x] done already\n- [ ] water the plants\n  * [ ] call Bob  \nsome prose\n- plain bullet\n";
        assert_eq!(actionable_items(text), ["water the plants", "call Bob"]);
        assert!(actionable_items("# Heartbeat\n\n> nothing\n- [ ]\n").is_empty());
    }
}
