//! `clambot grants list|revoke`: the "always" answers people gave to `ask` rules.

use std::process::ExitCode;

use super::exit::Exit;
use anyhow::{Result, bail};
use clap::Subcommand;

use clambot::gate::grants::Grants;
use clambot::home::Home;
use clambot::terminal;

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List stored grants: id, function, scope, the rule that asked, when.
    List {
        /// A JSON array: id, function, scope, rule, created.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant by id (a prefix of at least 4 characters), or all of them.
    Revoke {
        /// The grant id from `clambot grants list`.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Revoke every stored grant.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub fn run(command: GrantsCommand) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let grants = Grants::open(std::sync::Arc::new(home.open_store()?));
    match command {
        GrantsCommand::List { json: true } => {
            let list: Vec<_> = grants
                .list()?
                .into_iter()
                .map(|g| {
                    serde_json::json!({
                        "id": g.id, "function": g.function, "scope": g.scope,
                        "rule": g.rule, "created": g.created,
                    })
                })
                .collect();
            super::output::print_json(&list)?;
        }
        GrantsCommand::List { json: false } => {
            let list = grants.list()?;
            if list.is_empty() {
                println!("no grants ({})", home.database_file().display());
            }
            for g in list {
                // A scope names the URL or path a script asked for.
                let line = format!(
                    "{}  {}  {}  (asked by {}, granted {})",
                    g.id, g.function, g.scope, g.rule, g.created
                );
                println!("{}", terminal::inline(&line));
            }
        }
        GrantsCommand::Revoke { all: true, .. } => {
            println!("revoked {} grant(s)", grants.revoke_all()?);
        }
        GrantsCommand::Revoke { id: Some(id), .. } => {
            if id.len() < 4 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(Exit::usage("give at least 4 hex digits of the grant id"));
            }
            let gone = grants.revoke(&id)?;
            if gone.is_empty() {
                bail!(Exit::not_found(format!(
                    "no grant has an id starting with `{id}` (see `clambot grants list`)"
                )));
            }
            for g in gone {
                let line = format!("revoked {}  {}  {}", g.id, g.function, g.scope);
                println!("{}", terminal::inline(&line));
            }
        }
        GrantsCommand::Revoke {
            id: None,
            all: false,
        } => bail!(Exit::usage("give a grant id or --all")),
    }
    Ok(ExitCode::SUCCESS)
}
