//! `clambot secrets set|list|remove`: secret values are set here, on the host,
//! and nowhere else — never from argv (it would sit in shell history and `ps`),
//! only from a hidden prompt or standard input.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use super::exit::Exit;
use anyhow::{Context, Result, bail};
use clap::Subcommand;

use clambot::home::Home;
use clambot::secrets::{SecretStore, check_name, check_value};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret. The value is read from a hidden prompt, or from standard
    /// input when it is not a terminal (one trailing newline is dropped).
    Set {
        /// The secret's name, as policy rules and scripts refer to it.
        name: String,
    },
    /// List the names of the secrets that are set (never their values).
    List {
        /// A JSON array of the names (never values).
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret.
    Remove { name: String },
}

pub fn run(command: SecretsCommand) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let store = SecretStore::open(&home.secrets_file());
    match command {
        SecretsCommand::Set { name } => {
            // A bad name or value is the user's to fix (exit 1), not a failure
            // of clambot (10); the message says what would be accepted.
            check_name(&name).map_err(|e| Exit::not_found(format!("{e:#}")))?;
            let value = read_value(&name)?;
            if let Err(error) = check_value(&value) {
                eprintln!("clambot: {error:#}");
                return Ok(ExitCode::from(1));
            }
            store.set(&name, &value)?;
            println!(
                "secret `{name}` stored in {}; a policy rule must list it under `secrets` before a script can use it",
                home.secrets_file().display()
            );
        }
        SecretsCommand::List { json: true } => super::output::print_json(&store.names()?)?,
        SecretsCommand::List { json: false } => {
            let names = store.names()?;
            if names.is_empty() {
                println!("no secrets ({})", home.secrets_file().display());
            }
            for name in names {
                println!("{name}");
            }
        }
        SecretsCommand::Remove { name } => {
            if !store.remove(&name)? {
                bail!(Exit::not_found(format!(
                    "no secret is named `{name}` (see `clambot secrets list`)"
                )));
            }
            println!("secret `{name}` removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_value(name: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(format!("value for `{name}` (not shown): "))
            .context("reading the secret from the terminal");
    }
    let mut value = String::new();
    stdin
        .lock()
        .take(clambot::secrets::MAX_VALUE_BYTES as u64 + 2)
        .read_to_string(&mut value)
        .context("reading the secret from standard input")?;
    let value = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value);
    Ok(value.to_owned())
}
