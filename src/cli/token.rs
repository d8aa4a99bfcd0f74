//! `billie-dashboard token`: API tokens from the command line (for a first integration,
//! or when no admin can sign in). `create` prints the token once, on stdout alone, so a
//! script can capture it; it is stored only as its digest.

use clap::{Args, Subcommand};

use crate::server::auth::audit_entry;
use crate::server::config::Settings;
use crate::server::store::{Store, StoreError, parse_token_name};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for `/api/v1` and print it (it is shown only this once).
    Create(CreateArgs),
    /// List the tokens: name, creator, creation, last use, revocation.
    List(ListArgs),
    /// Revoke a token at once, on every web process.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Who or what uses the token (e.g. "risk engine").
    #[arg(long)]
    name: String,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id, as `token list` shows it.
    #[arg(long)]
    id: String,
    #[command(flatten)]
    settings: Settings,
}

/// Who the audit log says created or revoked a token from here.
const COMMAND_LINE: &str = "command line";

pub async fn run(command: TokenCommand) -> Result<(), String> {
    match command {
        TokenCommand::Create(args) => {
            let name = parse_token_name(&args.name).map_err(|e| e.to_string())?;
            with_store(&args.settings, |store| async move {
                let (token, text) = store.create_token(name, COMMAND_LINE).await?;
                let mut entry = audit_entry(None, "token.create", Some(&token.name), None);
                entry.detail = Some(COMMAND_LINE.to_owned());
                store.audit(entry).await;
                eprintln!(
                    "token \"{}\" created (id {}); it is shown only now:",
                    token.name,
                    token.id.to_hex()
                );
                println!("{text}");
                Ok(())
            })
            .await
        }
        TokenCommand::List(args) => {
            with_store(&args.settings, |store| async move {
                let at = |t: Option<mongodb::bson::DateTime>| {
                    t.and_then(|t| t.try_to_rfc3339_string().ok())
                        .unwrap_or_else(|| "-".to_owned())
                };
                println!("id\tname\tcreated by\tcreated\tlast used\trevoked");
                for t in store.list_tokens().await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        t.id.to_hex(),
                        t.name,
                        t.created_by,
                        at(Some(t.created_at)),
                        at(t.last_used_at),
                        at(t.revoked_at)
                    );
                }
                Ok(())
            })
            .await
        }
        TokenCommand::Revoke(args) => {
            let id = args.id.clone();
            with_store(&args.settings, |store| async move {
                match store.revoke_token(&id).await? {
                    Some(name) => {
                        let mut entry = audit_entry(None, "token.revoke", Some(&name), None);
                        entry.detail = Some(COMMAND_LINE.to_owned());
                        store.audit(entry).await;
                        println!("token \"{name}\" revoked");
                        Ok(())
                    }
                    None => Err(StoreError::Write(format!("there is no token with id {id}"))),
                }
            })
            .await
        }
    }
}

/// Runs `task` on a connected store, then closes it.
async fn with_store<F, Fut>(settings: &Settings, task: F) -> Result<(), String>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let store = Store::connect(&settings.database_uri)
        .await
        .map_err(|e| e.to_string())?;
    let result = task(store.clone()).await;
    store.close().await;
    result.map_err(|e| match e {
        StoreError::Write(message) => message,
        e => e.to_string(),
    })
}
