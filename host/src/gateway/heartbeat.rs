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
use crate::gate::ToolError;
use crate::gate::approver::NonInteractive;
use crate::policy::fs::WorkspacePath;
use crate::workspace::Workspace;

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
                crate::gateway_log!("the heartbeat: {error:#}");
            }
        }
    }

    /// One beat; returns whether the agent was asked.
    pub async fn beat(&self) -> Result<bool> {
        let Some(text) = self.read()? else {
            return Ok(false);
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

impl Heartbeat {
    /// `HEARTBEAT.md`'s text, or `None` when there is none. Read through the
    /// workspace type, so a FIFO or device of that name fails at once instead of
    /// blocking the gateway, and a link is never followed. Scripts with an fs
    /// grant can write this file, and it starts unattended turns, so what it
    /// may ask is kept small.
    fn read(&self) -> Result<Option<String>> {
        let workspace = match Workspace::open_existing(&self.workspace) {
            Ok(workspace) => workspace,
            Err(_) if !self.workspace.exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        let path = WorkspacePath::normalise(HEARTBEAT_FILE).map_err(anyhow::Error::msg)?;
        match workspace.read(&path, MAX_HEARTBEAT_BYTES) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{HEARTBEAT_FILE} is not UTF-8 text; skipped")),
            Err(ToolError::NotFound(_)) => Ok(None),
            Err(ToolError::Limit(_)) => anyhow::bail!(
                "{HEARTBEAT_FILE} is more than the heartbeat reads ({MAX_HEARTBEAT_BYTES} bytes); skipped"
            ),
            Err(e) => anyhow::bail!("reading {HEARTBEAT_FILE}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio_util::sync::CancellationToken;

    use super::{Heartbeat, actionable_items};
    use crate::agent::turn::{ClamRequest, TurnReply, TurnRequest, Turns};
    use crate::gate::BoxFuture;
    use crate::gateway::Deliver;

    /// Neither asks the model nor delivers: a beat that reaches them failed the test.
    #[derive(Debug)]
    struct Nobody;

    impl Turns for Nobody {
        fn turn(&self, _: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
            Box::pin(async { anyhow::bail!("no turn was expected") })
        }
        fn run_clam(&self, _: ClamRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
            Box::pin(async { anyhow::bail!("no clam was expected") })
        }
        fn new_session(&self, _: &str) -> anyhow::Result<()> {
            Ok(())
        }
    }

    impl Deliver for Nobody {
        fn deliver<'a>(&'a self, _: Option<&'a str>, _: &'a str) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
    }

    #[test]
    fn a_fifo_named_heartbeat_md_fails_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join(super::HEARTBEAT_FILE))
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let heartbeat = Heartbeat {
            workspace: dir.path().to_owned(),
            turns: Arc::new(Nobody),
            deliver: Arc::new(Nobody),
            cancel: CancellationToken::new(),
        };
        let started = Instant::now();
        let error = heartbeat.read().expect_err("a FIFO is not read");
        assert!(error.to_string().contains("not a regular file"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "nothing blocked"
        );
        // A link named HEARTBEAT.md is not followed either.
        std::fs::remove_file(dir.path().join(super::HEARTBEAT_FILE)).expect("rm");
        std::fs::write(dir.path().join("elsewhere.md"), "- [ ] leak\n").expect("file");
        std::os::unix::fs::symlink("elsewhere.md", dir.path().join(super::HEARTBEAT_FILE))
            .expect("link");
        assert!(heartbeat.read().is_err());
        assert!(
            heartbeat
                .read()
                .is_err_and(|e| e.to_string().contains("symbolic link"))
        );
    }

    #[test]
    fn only_unchecked_items_with_text() {
        let text = "# Heartbeat\n\n> Add tasks below.\n\n- [ ]\n- [x] done already\n- [ ] water the plants\n  * [ ] call Bob  \nsome prose\n- plain bullet\n";
        assert_eq!(actionable_items(text), ["water the plants", "call Bob"]);
        assert!(actionable_items("# Heartbeat\n\n> nothing\n- [ ]\n").is_empty());
    }
}
