//! `clambot completions SHELL` and `clambot man`: shell completions and a roff
//! man page, generated from the same clap definitions as `--help`, so neither
//! can fall behind the commands.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(after_help = "\
Install, for example:
  bash: clambot completions bash > ~/.local/share/bash-completion/completions/clambot
  zsh:  clambot completions zsh > ~/.zfunc/_clambot   (with fpath+=~/.zfunc before compinit)
  fish: clambot completions fish > ~/.config/fish/completions/clambot.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Read it with `clambot man | man -l -`, or install it:
  clambot man > ~/.local/share/man/man1/clambot.1")]
pub struct ManArgs {}

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut command = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "clambot", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// One page: the top-level command, then a section per subcommand (and per
/// sub-subcommand), each with its usage, options and help text.
pub fn man(_args: ManArgs) -> Result<ExitCode> {
    let command = super::Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    render_subcommands(&command, "clambot", &mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn render_subcommands(command: &clap::Command, path: &str, out: &mut Vec<u8>) -> Result<()> {
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("{path} {}", sub.get_name());
        let mut sub = sub.clone().bin_name(name.clone());
        writeln!(out, ".SH \"{}\"", roff_escape(&name.to_uppercase()))?;
        writeln!(out, ".nf")?;
        for line in sub.render_long_help().to_string().lines() {
            writeln!(out, "{}", roff_line(line))?;
        }
        writeln!(out, ".fi")?;
        if sub.has_subcommands() {
            render_subcommands(&sub, &name, out)?;
        }
    }
    Ok(())
}

/// Backslashes and leading control characters made literal, so help text can
/// never be read as a roff request.
fn roff_line(line: &str) -> String {
    let escaped = roff_escape(line);
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}
