//! `clambot policy check|explain|diff`: the reviewer's tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};

use super::exit;
use clambot::policy::{Policy, check, diff};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load a policy as a run would and report every problem with file:line:col
    /// (exit 1 if any), then warn about rules that can never take effect.
    Check {
        /// The policy file [default: the agent's: `[agent] policy` in config.toml,
        /// else $CLAMBOT_HOME/policy.toml].
        file: Option<PathBuf>,
        /// Also fail (exit 1) when there are warnings.
        #[arg(long)]
        strict: bool,
    },
    /// Say in plain words what a policy allows, asks about and denies, one line per rule.
    Explain {
        /// The policy file [default: the agent's: `[agent] policy` in config.toml,
        /// else $CLAMBOT_HOME/policy.toml].
        file: Option<PathBuf>,
    },
    /// Compare what two policies let a script do (not their text).
    #[command(after_help = DIFF_AFTER_HELP)]
    Diff {
        /// The policy before the change.
        old: PathBuf,
        /// The policy after the change.
        new: PathBuf,
        /// How to print the changes.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

const DIFF_AFTER_HELP: &str = "\
Exit codes:
  0   nothing widened: the output says `unchanged` or `only narrowed`
  3   something widened, or a tool component changed: it needs a reviewer
  7   a policy cannot be read or has errors (nothing was compared)";

/// Output formats of `policy diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per change, then the verdict.
    Text,
    /// One JSON object: verdict and changes with file and line.
    Json,
    /// GitHub Actions annotations on the changed lines of the new policy.
    Github,
}

/// Checks each `[tools.NAME]` pin against the component a run would load (the
/// `component` path, or the one found by name): a mismatch is an error, since a
/// run refuses to load that tool; a component that cannot be found is a warning
/// (it may be installed later).
fn pins(policy: &Policy) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    if policy.tools().is_empty() {
        return (errors, warnings);
    }
    let user = clambot::home::Home::from_env()
        .map(|h| h.tools_dir())
        .unwrap_or_default();
    let dirs = clambot::components::load::search_dirs(policy.base_dir(), &user);
    let found = clambot::components::load::discover(&dirs);
    for tool in policy.tools().values() {
        let at = format!("{}:{}:1", policy.name(), tool.line);
        let path = match &tool.component {
            Some(path) if path.is_relative() => policy
                .base_dir()
                .map_or_else(|| path.clone(), |base| base.join(path)),
            Some(path) => path.clone(),
            None => match found.iter().find(|f| f.name == tool.name) {
                Some(f) => f.path.clone(),
                None => {
                    let looked: Vec<String> =
                        dirs.iter().map(|d| d.display().to_string()).collect();
                    warnings.push(format!(
                        "{at}: warning: [tools.{}] has no component to check its pin against (looked for {name}/{name}.wasm in {}); a run will not load it",
                        tool.name,
                        looked.join(", "),
                        name = tool.name
                    ));
                    continue;
                }
            },
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let actual = clambot::sha256_hex(&bytes);
                if actual != tool.sha256 {
                    errors.push(format!(
                        "{at}: [tools.{}] pins sha256 {} but {} hashes to {actual}; a run refuses to load it (re-pin only after reviewing the new component)",
                        tool.name,
                        tool.sha256,
                        path.display()
                    ));
                }
            }
            Err(e) => errors.push(format!(
                "{at}: [tools.{}] component {} cannot be read: {e}",
                tool.name,
                path.display()
            )),
        }
    }
    (errors, warnings)
}

pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check { file, strict } => {
            let file = file.map_or_else(agents_policy, Ok)?;
            check_file(&file, strict)
        }
        PolicyCommand::Explain { file } => {
            let file = file.map_or_else(agents_policy, Ok)?;
            explain_file(&file)
        }
        PolicyCommand::Diff { old, new, format } => {
            let (old, new) = match (Policy::load(&old), Policy::load(&new)) {
                (Ok(old), Ok(new)) => (old, new),
                (old, new) => {
                    for error in [old.err(), new.err()].into_iter().flatten() {
                        eprintln!("{error}");
                    }
                    eprintln!("clambot: a policy cannot be read; nothing was compared");
                    return Ok(ExitCode::from(exit::POLICY));
                }
            };
            let changes = diff::diff(&old, &new);
            let verdict = diff::Verdict::of(&changes);
            match format {
                Format::Text => {
                    for change in &changes {
                        println!("{change}");
                    }
                    println!(
                        "{}",
                        match verdict {
                            diff::Verdict::Unchanged => "no capability changes",
                            diff::Verdict::OnlyNarrowed => "only narrowed: nothing widened",
                            diff::Verdict::Widened => "widened: needs a reviewer",
                        }
                    );
                }
                Format::Json => println!("{}", diff::to_json(&old, &new, &changes)),
                Format::Github => print!("{}", diff::to_github(&changes)),
            }
            Ok(if verdict == diff::Verdict::Widened {
                eprintln!(
                    "clambot: the new policy widens what scripts may do; it needs a reviewer"
                );
                ExitCode::from(exit::WIDENS)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The agent's policy: `[agent] policy` in config.toml, else
/// `$CLAMBOT_HOME/policy.toml` — the one `clambot agent`, `gateway` and `run` use.
fn agents_policy() -> Result<PathBuf> {
    let home = clambot::home::Home::from_env()?;
    let config =
        clambot::agent::config::ConfigFile::load(&clambot::agent::setup::config_file(&home))?;
    Ok(clambot::agent::setup::policy_path(
        &home,
        &config,
        &clambot::agent::setup::Choices::default(),
    ))
}

fn check_file(file: &std::path::Path, strict: bool) -> Result<ExitCode> {
    Ok(match Policy::load(file) {
        Ok(policy) => {
            let (pin_errors, pin_warnings) = pins(&policy);
            if !pin_errors.is_empty() {
                for error in &pin_errors {
                    eprintln!("{error}");
                }
                return Ok(ExitCode::from(exit::INVALID));
            }
            let mut warnings: Vec<String> = check::warnings(&policy)
                .iter()
                .map(|w| w.render(policy.source()))
                .collect();
            warnings.extend(pin_warnings);
            for warning in &warnings {
                eprintln!("{warning}");
            }
            println!(
                "{}: ok ({} rules{})",
                file.display(),
                policy.rules().len(),
                match warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_owned(),
                    n => format!(", {n} warnings"),
                }
            );
            if strict && !warnings.is_empty() {
                ExitCode::from(exit::INVALID)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("{}", check::render(&error, file));
            ExitCode::from(exit::INVALID)
        }
    })
}

fn explain_file(file: &std::path::Path) -> Result<ExitCode> {
    Ok(match Policy::load(file) {
        Ok(policy) => {
            print!("{}", policy.explain());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(exit::INVALID)
        }
    })
}
