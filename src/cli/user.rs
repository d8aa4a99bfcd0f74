//! `billie-dashboard user add`: creates an account, reading the password from stdin so it
//! never appears in the shell history or the process list. `user reset-mfa` turns an
//! account's two-step sign-in off (a lost phone), for when no admin can sign in.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};

use crate::server::auth::{password, policy};
use crate::server::config::Settings;
use crate::server::store::{NewUser, Store, UserError, normalise_email, parse_role};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from stdin (one line).
    Add(AddArgs),
    /// Turn an account's two-step sign-in off; it enrols again if its role requires it.
    ResetMfa(ResetMfaArgs),
}

#[derive(Debug, Args)]
pub struct ResetMfaArgs {
    #[arg(long)]
    email: String,
    #[command(flatten)]
    settings: Settings,
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
        UserCommand::ResetMfa(args) => reset_mfa(args).await.map_err(|e| e.to_string()),
    }
}

async fn reset_mfa(args: ResetMfaArgs) -> Result<(), UserError> {
    let email = normalise_email(&args.email)?;
    let store = Store::connect(&args.settings.database_uri).await?;
    let reset = async {
        let user = store
            .user_by_email(&email)
            .await?
            .ok_or(UserError::NotFound)?;
        let user = store.reset_mfa(&user.id.to_hex()).await?;
        store
            .audit(crate::server::auth::audit_entry(
                None,
                "user.mfa_reset",
                Some(&user.email),
                None,
            ))
            .await;
        // Its sessions end; open pages find out within a minute (they re-check).
        crate::server::store::MongoSessionStore::new(&store)
            .end_sessions_of(&user.id.to_hex())
            .await
            .map_err(crate::server::store::StoreError::from)?;
        Ok::<_, UserError>(user)
    }
    .await;
    store.close().await;
    let user = reset?;
    println!("two-step sign-in reset for {}", user.email);
    Ok(())
}

async fn add(args: AddArgs) -> Result<(), UserError> {
    let email = normalise_email(&args.email)?;
    let role = parse_role(&args.role)?;
    let password = read_password()?;
    policy::check_new_password(&password, &email, args.settings.production)?;
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
