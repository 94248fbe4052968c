//! `cairn completions SHELL`: prints the shell completion script for `cairn`, generated from
//! the command line's own definition so it never drifts from it.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Arguments of `cairn completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Writes the completion script for `args.shell` to standard output.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "cairn", &mut std::io::stdout());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_is_completed() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut super::super::Cli::command(),
            "cairn",
            &mut out,
        );
        let script = String::from_utf8(out).unwrap();
        for sub in super::super::Cli::command().get_subcommands() {
            assert!(
                script.contains(sub.get_name()),
                "{} is completed",
                sub.get_name()
            );
        }
        assert!(script.contains("--config"), "flags of subcommands too");
    }
}
