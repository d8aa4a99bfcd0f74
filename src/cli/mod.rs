//! The command line: one binary serves the dashboard (the default), manages accounts and
//! simulates the chat platform for demos.

mod ledger;
pub mod simulate;
mod token;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::server::config::ServeSettings;
use crate::server::{memory, startup, telemetry};

#[derive(Debug, Parser)]
#[command(name = "billie-dashboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the dashboard and, unless ENABLE_EVENT_PROCESSING=false, consume the ledger
    /// (the default command).
    Serve(ServeSettings),
    /// Consume the ledger only, serving nothing (ingest processes of a scaled-out
    /// deployment; web processes then run with ENABLE_EVENT_PROCESSING=false).
    Ingest(ServeSettings),
    /// Manage dashboard accounts.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Manage API tokens (`/api/v1`).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Append realistic conversations to the ledger, as the chat platform would.
    Simulate(simulate::SimulateArgs),
    /// Rebuild the projections from the stream's first entry (idempotent; safe while
    /// ingest runs).
    Replay(ledger::ReplayArgs),
    /// Show or re-drive entries refused into the dead-letter stream.
    DeadLetter {
        #[command(subcommand)]
        command: ledger::DeadLetterCommand,
    },
}

/// Runs the command line and turns any error into a readable message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    memory::return_large_blocks();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => {
                let settings = ServeOnly::parse_from(["billie-dashboard"]).settings;
                startup::serve(settings).await.map_err(|e| e.to_string())
            }
            Some(Command::Serve(settings)) => {
                startup::serve(settings).await.map_err(|e| e.to_string())
            }
            Some(Command::Ingest(settings)) => startup::ingest_only(settings)
                .await
                .map_err(|e| e.to_string()),
            Some(Command::User { command }) => user::run(command).await,
            Some(Command::Token { command }) => token::run(command).await,
            Some(Command::Simulate(args)) => simulate::run(args).await,
            Some(Command::Replay(args)) => ledger::replay(args).await,
            Some(Command::DeadLetter { command }) => ledger::dead_letters(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `billie-dashboard` with no subcommand: serve, configured from the environment.
#[derive(Debug, Parser)]
struct ServeOnly {
    #[command(flatten)]
    settings: ServeSettings,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `--help` shows an environment variable's value unless told not to: none of these
    /// may ever be printed, since they carry credentials.
    #[test]
    fn help_never_shows_a_secret_from_the_environment() {
        fn check(command: &clap::Command) {
            for arg in command.get_arguments() {
                let secret = arg.get_env().and_then(|e| e.to_str()).is_some_and(|name| {
                    matches!(
                        name,
                        "REDIS_URL" | "DATABASE_URI" | "SESSION_SECRET" | "ADMIN_PASSWORD"
                    )
                });
                if secret {
                    assert!(arg.is_hide_env_values_set(), "{:?}", arg.get_id());
                }
            }
            command.get_subcommands().for_each(check);
        }
        let cli = Cli::command();
        check(&cli);
        check(&ServeOnly::command());
    }
}
