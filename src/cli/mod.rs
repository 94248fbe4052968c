//! The `cairn` command line: one binary, one subcommand per role.
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | `cairn agent`: the node agent daemon |
//! | [`backup`] | `cairn backup [update\|list\|files\|delete]`: backup tasks and the backups in their locations |
//! | [`client`] | the manager's REST API client shared by the commands below: one-line errors, exit statuses, printing |
//! | [`cluster`] | `cairn cluster add\|list\|update\|delete\|status`: clusters through the manager's API |
//! | [`completions`] | `cairn completions SHELL`: shell completion scripts generated from the command line |
//! | [`demo`] | `cairn demo`: an emulated cluster, agents and a manager on this machine, two backups |
//! | [`emulator`] | `cairn emulator`: start an emulated Scylla cluster and serve until interrupted |
//! | [`info`] | `cairn info`: a task's settings, properties and run history |
//! | [`manager`] | `cairn manager`: the manager daemon (REST API, actors, scheduler, metrics) |
//! | [`offline`] | `cairn backup list\|files --offline`: reading a location straight from its store, without the manager |
//! | [`output`] | printing results as aligned tables or JSON (`-o json`) |
//! | [`progress`] | `cairn progress`: a backup run's progress, once or followed with `--watch` |
//! | [`run_header`] | the lines every run's progress starts with (run, status, times, duration) and their value helpers |
//! | [`restore`] | `cairn restore [update\|download]`: restore tasks (and their dry run) through the manager; one node's SSTables downloaded without a manager |
//! | [`validate`] | `cairn backup validate [update]`: validate tasks through the manager, their dry run, and the offline check of a location |
//! | [`suspend`] | `cairn suspend`, `cairn resume`: a whole cluster's tasks stopped and held, and resumed |
//! | [`tasks`] | `cairn tasks`, `cairn start\|stop`: a cluster's tasks through the manager's API |

pub mod agent;
pub mod backup;
pub mod client;
pub mod cluster;
pub mod completions;
pub mod demo;
pub mod emulator;
pub mod info;
pub mod manager;
pub mod offline;
pub mod output;
pub mod progress;
pub mod restore;
pub mod run_header;
pub mod suspend;
pub mod tasks;
pub mod validate;

use clap::{Parser, Subcommand};

/// Backup orchestrator for ScyllaDB clusters, compatible with ScyllaDB Manager backups.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, propagate_version = true)]
pub struct Cli {
    /// Output format for commands that print data.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = output::Format::Table)]
    pub output: output::Format,
    /// How to reach the manager, for the commands that call it.
    #[command(flatten)]
    pub manager: client::Connection,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node agent beside a Scylla node (HTTPS API, transfers to object storage).
    Agent(agent::AgentArgs),
    /// Emulate ScyllaDB nodes (REST API and data directories) for tests, demos and benchmarks.
    Emulator(emulator::EmulatorArgs),
    /// Run the manager daemon (REST API, scheduler, backups of whole clusters through the agents).
    Manager(manager::ManagerArgs),
    /// Print the shell completion script (e.g. `cairn completions bash > /etc/bash_completion.d/cairn`).
    Completions(completions::CompletionsArgs),
    /// Add, list, change, delete clusters, and show the status of their nodes (through the manager).
    Cluster(cluster::ClusterArgs),
    /// List a cluster's tasks with their schedule, next run and last status.
    Tasks(tasks::TasksArgs),
    /// Show a task's settings, properties and run history (newest first).
    Info(info::InfoArgs),
    /// Start a run of a task now (continuing its last run unless --no-continue).
    Start(tasks::StartArgs),
    /// Stop a task's run in progress (snapshots stay for a resume); --disable or --delete the task too.
    Stop(tasks::StopArgs),
    /// Stop every task of a cluster and start none (by schedule or by hand) until it is resumed.
    Suspend(suspend::SuspendArgs),
    /// Resume a suspended cluster: reschedule its tasks (--start-tasks: start those the suspend stopped).
    Resume(suspend::ResumeArgs),
    /// Create a backup task (or --dry-run it); update one; list, show the files of, or delete backups.
    Backup(backup::BackupArgs),
    /// Create a restore task (or --dry-run it); update one; download a node's SSTables offline.
    Restore(restore::RestoreArgs),
    /// Show a backup, restore or validate run's progress (the latest run unless --run), or follow it with --watch.
    Progress(progress::ProgressArgs),
    /// Run a whole demo on this machine: an emulated cluster, agents, a manager, two backups.
    Demo(demo::DemoArgs),
}

/// Parses the process's arguments. A mistake in them is one line on stderr and exit status 2,
/// like every other client error; `--help` and `--version` print as usual.
pub fn parse() -> Cli {
    use clap::error::ErrorKind;
    let e = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(e) => e,
    };
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    eprintln!("{}", usage_line(&e.render().to_string()));
    std::process::exit(2);
}

/// clap's usage error as one line: its first paragraph (the error and any indented details) and
/// its tips (`a similar subcommand exists: 'backup'`), without the usage that follows.
fn usage_line(rendered: &str) -> String {
    let first: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let tips: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tip: "))
        .collect();
    let mut line = first.join(" ");
    for tip in tips {
        line.push_str("; ");
        line.push_str(tip);
    }
    format!("{line} (--help shows the usage)")
}

/// Runs the parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        Command::Agent(args) => runtime()?.block_on(agent::run(args)),
        Command::Emulator(args) => runtime()?.block_on(emulator::run(args, cli.output)),
        // The manager runs an actix system over its own runtime.
        Command::Manager(args) => manager::run(args),
        Command::Completions(args) => completions::run(args),
        // Client commands print one line and exit with a status telling the kind of failure.
        Command::Cluster(args) => {
            client::finish(runtime()?.block_on(cluster::run(args, &cli.manager, cli.output)))
        }
        Command::Tasks(args) => {
            client::finish(runtime()?.block_on(tasks::run_list(args, &cli.manager, cli.output)))
        }
        Command::Info(args) => {
            client::finish(runtime()?.block_on(info::run(args, &cli.manager, cli.output)))
        }
        Command::Start(args) => client::finish(runtime()?.block_on(tasks::run_action(
            args.task,
            tasks::Action::Start(!args.no_continue),
            &cli.manager,
            cli.output,
        ))),
        Command::Stop(args) => {
            let action = args.action();
            client::finish(runtime()?.block_on(tasks::run_action(
                args.task,
                action,
                &cli.manager,
                cli.output,
            )))
        }
        Command::Backup(args) => {
            client::finish(runtime()?.block_on(backup::run(args, &cli.manager, cli.output)))
        }
        Command::Suspend(args) => client::finish(runtime()?.block_on(suspend::run_suspend(
            args,
            &cli.manager,
            cli.output,
        ))),
        Command::Resume(args) => {
            client::finish(runtime()?.block_on(suspend::run_resume(args, &cli.manager, cli.output)))
        }
        Command::Restore(args) => {
            client::finish(runtime()?.block_on(restore::run(args, &cli.manager, cli.output)))
        }
        Command::Progress(args) => {
            progress::finish(runtime()?.block_on(progress::run(args, &cli.manager, cli.output)))
        }
        // The demo builds its own runtime (its logs are at warn by default).
        Command::Demo(args) => demo::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_are_one_line() {
        for args in [
            &[
                "cairn",
                "backup",
                "-c",
                "x",
                "-L",
                "s3:b",
                "--retention",
                "abc",
            ][..],
            &["cairn", "tasks"],
            &["cairn", "backup", "list", "--nosuch"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            let line = usage_line(&e.render().to_string());
            assert!(!line.contains('\n'), "{args:?}: {line}");
            assert!(line.starts_with("error: "), "{args:?}: {line}");
        }
        let e = Cli::try_parse_from(["cairn", "tasks"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(line.contains("--cluster <CLUSTER>"), "{line}");
        let e = Cli::try_parse_from(["cairn", "bakup"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(
            line.contains("similar subcommand exists: 'backup'"),
            "{line}"
        );
    }
}
