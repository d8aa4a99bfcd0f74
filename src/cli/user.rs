//! `billie-dashboard user add`: creates an account, reading the password from stdin so it
//! never appears in the shell history or the process list.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};

use crate::server::auth::password;
use crate::server::config::Settings;
use crate::server::store::{NewUser, Role, Store, UserError, check_password, normalise_email};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from stdin (one line).
    Add(AddArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(long)]
    email: String,
    /// admin or supervisor.
    #[arg(long, default_value = "supervisor")]
    role: String,
    /// If the account exists, give it this role and password instead of failing.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    settings: Settings,
}

pub async fn run(command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add(args) => add(args).await.map_err(|e| e.to_string()),
    }
}

async fn add(args: AddArgs) -> Result<(), UserError> {
    let email = normalise_email(&args.email)?;
    let role = Role::parse(&args.role)?;
    let password = read_password()?;
    check_password(&password)?;
    if args.settings.production && password == crate::server::config::DEMO_PASSWORD {
        return Err(UserError::DemoPassword);
    }
    let password_hash = password::hash(password)
        .await
        .map_err(|e| UserError::Hash(e.to_string()))?;
    let store = Store::connect(&args.settings.database_uri).await?;
    let added = store
        .add_user(
            NewUser {
                email,
                role,
                password_hash,
            },
            args.replace,
        )
        .await;
    store.close().await;
    let user = added?;
    println!("user {} ({})", user.email, user.role.as_str());
    Ok(())
}

fn read_password() -> Result<String, UserError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (it will be shown; pipe it in to hide it): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(UserError::Stdin)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
