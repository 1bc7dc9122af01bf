//! `clambot memory export|list|forget`: what the agent remembers, readable by a person.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::exit::Exit;
use anyhow::{Result, bail};
use clap::Subcommand;

use clambot::home::Home;
use clambot::store::memory::Memory;
use clambot::terminal::{self, Newlines};

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Write every remembered fact as Markdown (to standard output, or a file).
    Export {
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Forget a fact by id (ids are in the export).
    Forget { id: String },
    /// The remembered facts, one per line: id, when, text (control characters escaped).
    List {
        /// A JSON array: id, text, created.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: MemoryCommand) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let memory = Memory::new(Arc::new(home.open_store()?));
    match command {
        // Facts are words the agent took from conversations and fetched pages.
        MemoryCommand::Export { output: None } => print!(
            "{}",
            terminal::escape(&memory.export_markdown()?, Newlines::Keep)
        ),
        MemoryCommand::Export { output: Some(path) } => {
            clambot::atomic::write(&path, memory.export_markdown()?.as_bytes())?;
            println!("wrote {}", path.display());
        }
        MemoryCommand::List { json: true } => {
            let facts: Vec<_> = memory
                .all_facts()?
                .into_iter()
                .map(|f| {
                    serde_json::json!({
                        "id": f.id, "text": f.text,
                        "created": super::output::rfc3339_ms(Some(f.created_ms)),
                    })
                })
                .collect();
            super::output::print_json(&facts)?;
        }
        MemoryCommand::List { json: false } => {
            for fact in memory.all_facts()? {
                println!(
                    "{}  {}  {}",
                    fact.id,
                    super::output::rfc3339_ms(Some(fact.created_ms)).unwrap_or_default(),
                    super::audit::escape(&fact.text)
                );
            }
        }
        MemoryCommand::Forget { id } => {
            if !memory.forget(&id)? {
                bail!(Exit::not_found(format!(
                    "no fact has the id `{id}` (see `clambot memory export`)"
                )));
            }
            println!("forgot {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
