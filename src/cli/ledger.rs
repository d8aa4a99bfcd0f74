//! Operator commands on the ledger: `replay` rebuilds the projections from the stream's
//! start; `dead-letter list|retry` shows and re-drives entries that were refused.

use clap::{Args, Subcommand};

use crate::server::config::Settings;
use crate::server::feed::Publisher;
use crate::server::ingest::{self, IngestError, dead_letter};
use crate::server::startup::redis_client;
use crate::server::store::Store;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Entries read per XRANGE.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// Show the oldest dead letters: id, reason, original entry.
    List {
        #[arg(long, default_value_t = 50)]
        count: usize,
        #[command(flatten)]
        settings: Settings,
    },
    /// Append dead letters to the ledger again (all of them unless ids are given) and
    /// remove them from the dead-letter stream.
    Retry {
        /// Dead-letter entry ids, as `list` shows them.
        ids: Vec<String>,
        /// Required to retry every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[command(flatten)]
        settings: Settings,
    },
}

async fn redis(settings: &Settings) -> Result<redis::aio::ConnectionManager, String> {
    let client = redis_client(settings).map_err(|e| e.to_string())?;
    redis::aio::ConnectionManager::new(client)
        .await
        .map_err(|e| format!("Redis: {e}"))
}

pub async fn replay(args: ReplayArgs) -> Result<(), String> {
    let settings = &args.settings;
    let mut redis = redis(settings).await?;
    let store = Store::connect(&settings.database_uri)
        .await
        .map_err(|e| format!("MongoDB: {e}"))?;
    let publisher = Publisher::new(redis.clone(), settings.changes_channel());
    let replayed = ingest::replay(
        &mut redis,
        &store,
        &publisher,
        &settings.ledger_stream,
        &settings.limits(),
        args.batch.max(1),
    )
    .await;
    store.close().await;
    let report = replayed.map_err(|e: IngestError| e.to_string())?;
    println!(
        "replayed {} entries: {} applied, {} already applied or superseded, {} unknown type, {} refused",
        report.entries(),
        report.applied,
        report.duplicates,
        report.unknown,
        report.dead_lettered
    );
    Ok(())
}

pub async fn dead_letters(command: DeadLetterCommand) -> Result<(), String> {
    match command {
        DeadLetterCommand::List { count, settings } => {
            let mut redis = redis(&settings).await?;
            let letters = dead_letter::list(&mut redis, &settings.dead_stream, count)
                .await
                .map_err(|e| e.to_string())?;
            if letters.is_empty() {
                println!("no dead letters in {}", settings.dead_stream);
            }
            for letter in letters {
                println!("{}  {}", letter.id, letter.reason);
                println!(
                    "    original {} in {}",
                    letter.original_id, letter.original_stream
                );
                for (name, value) in &letter.fields {
                    let value = String::from_utf8_lossy(value);
                    let shown: String = value.chars().take(120).collect();
                    let more = if value.chars().count() > 120 {
                        "…"
                    } else {
                        ""
                    };
                    println!("    {name} = {shown}{more}");
                }
            }
            Ok(())
        }
        DeadLetterCommand::Retry { ids, all, settings } => {
            if ids.is_empty() && !all {
                return Err("name the dead letters to retry, or pass --all".into());
            }
            let mut redis = redis(&settings).await?;
            let moved = dead_letter::retry(
                &mut redis,
                &settings.dead_stream,
                &settings.ledger_stream,
                &ids,
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("{moved} dead letter(s) appended to the ledger again");
            Ok(())
        }
    }
}
