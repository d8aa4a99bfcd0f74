//! The conversation list at scale: 100,000 conversations stored, the list's server
//! function timed as the browser calls it (signed in, over HTTP on this machine): the
//! first page, every deeper page of a walk to the end, both with and without a search
//! term, and the per-status counts beside the tabs: asked for by one list at a time, and
//! by [`VIEWERS`] lists at once, as a busy feed makes every open list refresh them.
//!
//! The 100,000 conversations are copies of those the ingest benchmark projected, each
//! with its own id, application number, customer and activity time, so documents have
//! the shape and size ingest gives them.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongodb::bson::{self, Document, doc};

use billie_dashboard::api::{ConversationPage, search_words};
use billie_dashboard::server::projection::customer::customer_words;
use billie_dashboard::server::store::Store;

use crate::http::{Client, form_encode};
use crate::ingest::BATCHED_DB;
use crate::services::{App, EMAIL, PASSWORD};
use crate::stats::Samples;
use crate::{BenchError, Env};

const FIRST: &[&str] = &[
    "Olivia",
    "Noah",
    "Charlotte",
    "Oliver",
    "Amelia",
    "Jack",
    "Isla",
    "William",
    "Mia",
    "Leo",
    "Ava",
    "Henry",
    "Grace",
    "Thomas",
    "Chloe",
    "Lucas",
    "Zara",
    "Ethan",
    "Ruby",
    "Kai",
    "Saanvi",
    "Arjun",
    "Mei",
    "Hiroshi",
    "Aroha",
    "Tane",
    "Fatima",
    "Omar",
    "Sofia",
    "Mateo",
    "Priya",
    "Rohan",
    "Lena",
    "Jonas",
    "Aisha",
    "Kofi",
    "Nadia",
    "Ivan",
    "Elena",
    "Liam",
];
const LAST: &[&str] = &[
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin",
    "Anderson", "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson",
    "Kelly", "King", "Patel", "Chen", "Singh", "Rossi", "Kumar", "Murphy", "O'Brien", "Wang", "Li",
    "Clarke", "Hughes", "Edwards", "Scott", "Young", "Mitchell", "Campbell", "Citizen", "Morris",
    "Cooper", "Ward",
];

pub struct Scenario {
    pub name: &'static str,
    pub samples: Samples,
    /// A page of the list (the 50 ms target applies), not the counts beside it.
    pub page: bool,
}

pub struct Figures {
    pub conversations: usize,
    pub scenarios: Vec<Scenario>,
}

pub async fn run(env: &Env, conversations: usize) -> Result<Figures, BenchError> {
    let db = "bench_list";
    env.drop_database(db).await?;
    // The product's indexes first, as a running deployment has them.
    Store::connect(&env.database_uri(db)).await?;
    seed(env, db, conversations).await?;
    let app = App::start(env, db, &format!("{db}:chatLedger"), false)?;
    let mut client = Client::new(app.addr);
    client.sign_in(EMAIL, PASSWORD).await?;
    // Warm the connection and the server's caches as a supervisor's first look would.
    for _ in 0..20 {
        list(&mut client, "").await?;
    }

    let common = "smith";
    let rare = "APP-04217";
    let mut scenarios = Vec::new();
    let mut time = |name: &'static str, samples: Samples| {
        let mut shown = samples.clone();
        eprintln!(
            "  {name}: {} calls, p50 {:?}, p95 {:?}",
            samples.len(),
            shown.percentile(50.0),
            shown.percentile(95.0)
        );
        scenarios.push(Scenario {
            name,
            samples,
            page: !name.starts_with("Status counts") && !name.starts_with("Overview"),
        })
    };
    time("First page", repeat(&mut client, "", 200).await?);
    time(
        "Deeper pages (a walk to the end)",
        walk(&mut client, "", 200).await?,
    );
    time(
        "Search \"smith\" (2.5 % match), first page",
        repeat(&mut client, &format!("search={common}"), 200).await?,
    );
    time(
        "Search \"smith\", deeper pages",
        walk(&mut client, &format!("search={common}"), 200).await?,
    );
    time(
        "Search an application number (1 match)",
        repeat(&mut client, &format!("search={}", form_encode(rare)), 100).await?,
    );
    time(
        "Search an application number typed halfway (\"APP-0\")",
        repeat(&mut client, "search=APP-0", 100).await?,
    );
    // Search as you type: one, two and three letters of a name, and two terms.
    time(
        "Search as you type: \"s\", first page",
        repeat(&mut client, "search=s", 100).await?,
    );
    time(
        "Search as you type: \"sm\", first page",
        repeat(&mut client, "search=sm", 100).await?,
    );
    time(
        "Search as you type: \"smi\", first page",
        repeat(&mut client, "search=smi", 100).await?,
    );
    time(
        "Search as you type: \"smi\", deeper pages",
        walk(&mut client, "search=smi", 200).await?,
    );
    time(
        "Search as you type: \"APP-49\", first page",
        repeat(&mut client, "search=APP-49", 100).await?,
    );
    time(
        "Search as you type: \"j s\" (two one-letter terms), first page",
        repeat(&mut client, "search=j%20s", 100).await?,
    );
    // The customers list, searched as you type (one customer per conversation), and the
    // substring scan it replaced, asked of the store directly, for the ratio.
    let customers = "/api/customers/list";
    for (name, form) in [
        (
            "Customers: search as you type \"s\", first page",
            "search=s",
        ),
        (
            "Customers: search as you type \"sm\", first page",
            "search=sm",
        ),
        (
            "Customers: search as you type \"smi\", first page",
            "search=smi",
        ),
        (
            "Customers: search as you type \"j sm\", first page",
            "search=j%20sm",
        ),
    ] {
        time(name, posts(&mut client, customers, form, 100).await?);
    }
    time(
        "Customers: \"smi\" as a substring of the name (the scan replaced), first page",
        substring_scan(env, db, "smi", 20).await?,
    );
    // The same list through `/api/v1`, with an API token.
    let (_, token) = Store::connect(&env.database_uri(db))
        .await?
        .create_token("bench".into(), "bench")
        .await?;
    let mut api = Client::with_token(app.addr, &token);
    for _ in 0..20 {
        api_page(&mut api, "").await?;
    }
    time(
        "API: first page (`GET /api/v1/conversations`)",
        api_repeat(&mut api, "", 200).await?,
    );
    time(
        "API: deeper pages (a walk to the end)",
        api_walk(&mut api, "", 200).await?,
    );
    time(
        "API: search \"smith\", first page",
        api_repeat(&mut api, &format!("q={common}"), 200).await?,
    );
    time(
        "API: search \"smith\", deeper pages",
        api_walk(&mut api, &format!("q={common}"), 200).await?,
    );
    let counts = "/api/conversations/counts";
    time("Status counts", posts(&mut client, counts, "", 100).await?);
    time(
        "Status counts, searching \"smith\"",
        posts(&mut client, counts, &format!("search={common}"), 100).await?,
    );
    time(
        "Status counts, 100 lists asking at once",
        crowd(&client, counts, "", VIEWERS, 3).await?,
    );
    // The overview and the attention queue (kept by the tally, as the counts are).
    time(
        "Overview (`get_overview`)",
        posts(&mut client, "/api/overview", "offset_minutes=600", 100).await?,
    );
    time(
        "Overview, 100 overviews asking at once",
        crowd(&client, "/api/overview", "offset_minutes=600", VIEWERS, 3).await?,
    );
    time(
        "Attention queue (`?attention=1`)",
        posts(
            &mut client,
            "/api/conversations/list",
            "among=attention%3D1",
            100,
        )
        .await?,
    );
    let (first, steady, unindexed) = status_ticks(env, db).await?;
    time(
        "Status task, the first tick (moves every undecided conversation)",
        first,
    );
    time("Status task, a later tick (a few moves)", steady);
    time(
        "Status task, a later tick without its index (`by_status_age`)",
        unindexed,
    );
    Ok(Figures {
        conversations,
        scenarios,
    })
}

/// Copies the ingested conversations until `total` are stored.
async fn seed(env: &Env, db: &str, total: usize) -> Result<(), BenchError> {
    let templates: Vec<Document> = env
        .database(BATCHED_DB)
        .await?
        .collection::<Document>("conversations")
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    if templates.is_empty() {
        return Err("no ingested conversations to copy: run the ingest benchmark first".into());
    }
    let target = env
        .database(db)
        .await?
        .collection::<Document>("conversations");
    let now =
        chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()).timestamp_millis();
    let customers = env.database(db).await?.collection::<Document>("customers");
    let mut batch = Vec::with_capacity(1000);
    let mut people = Vec::with_capacity(1000);
    for i in 0..total {
        let mut conversation = templates[i % templates.len()].clone();
        let name = format!(
            "{} {}",
            FIRST[i % FIRST.len()],
            LAST[(i / FIRST.len()) % LAST.len()]
        );
        let app = format!("APP-{i:05}-B");
        let at = bson::DateTime::from_millis(now - i as i64 * 3_000);
        conversation.insert("_id", format!("bench-{i:06}"));
        conversation.insert("application_number", &app);
        conversation.insert("customer_id", format!("CB{i:06}"));
        let mut words = search_words(&app);
        words.extend(search_words(&name));
        conversation.insert("search_words", words);
        conversation.insert("customer_name", &name);
        conversation.insert("started_at", at);
        conversation.insert("last_activity_at", at);
        conversation.insert("last_message_at", at);
        // Half are still undecided, stored as ingest leaves them: active until the status
        // task moves them into the band of their silence.
        if i % 2 == 0 {
            conversation.remove("decision");
            conversation.insert("status", "active");
        }
        if let Ok(application) = conversation.get_document_mut("application") {
            application.insert("application_number", &app);
        }
        people.push(customer(i, &name));
        batch.push(conversation);
        if batch.len() == 1000 || i + 1 == total {
            target
                .insert_many(std::mem::take(&mut batch))
                .ordered(false)
                .await?;
            customers
                .insert_many(std::mem::take(&mut people))
                .ordered(false)
                .await?;
        }
    }
    eprintln!("list: {total} conversations and their customers stored");
    Ok(())
}

/// Customer `i`, named `name`, as ingest stores one (fields as `"<order>|<value>"`).
fn customer(i: usize, name: &str) -> Document {
    let id = format!("CB{i:06}");
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    let order = "0001764000000000000000000001|";
    let email = format!("{}.{i}@mail.example", first.to_lowercase());
    let fields = [
        ("profile.first_name", format!("{order}{first}")),
        ("profile.last_name", format!("{order}{last}")),
        ("profile.email_address", format!("{order}{email}")),
    ];
    let words: Vec<String> = customer_words(&id, fields.iter().map(|(p, v)| (*p, v.as_str())))
        .into_iter()
        .collect();
    doc! {
        "_id": &id,
        "name": name,
        "name_order": order.trim_end_matches('|'),
        "sort_name": name.to_lowercase(),
        "profile": { "first_name": &fields[0].1, "last_name": &fields[1].1, "email_address": &fields[2].1 },
        "conversations": [format!("bench-{i:06}")],
        "search_words": words,
    }
}

/// The customers search before search words: `text` anywhere in the name, any case (a
/// scan of the collection), by name, a page of 50; asked of the store directly.
async fn substring_scan(
    env: &Env,
    db: &str,
    text: &str,
    times: usize,
) -> Result<Samples, BenchError> {
    let customers = env.database(db).await?.collection::<Document>("customers");
    let mut samples = Samples::default();
    let started = Instant::now();
    for _ in 0..times {
        if started.elapsed() > TIME_BOX && samples.len() >= MIN_CALLS {
            break;
        }
        let asked = Instant::now();
        let page: Vec<Document> = customers
            .find(doc! { "name": { "$regex": text, "$options": "i" } })
            .sort(doc! { "sort_name": 1, "_id": 1 })
            .limit(51)
            .await?
            .try_collect()
            .await?;
        if page.is_empty() {
            return Err(format!("no customer's name contains {text:?}").into());
        }
        samples.push(asked.elapsed());
    }
    Ok(samples)
}

async fn list(client: &mut Client, form: &str) -> Result<(ConversationPage, Duration), BenchError> {
    let response = client.post("/api/conversations/list", form).await?;
    if response.status != 200 {
        return Err(format!("list answered {}", response.status).into());
    }
    Ok((serde_json::from_slice(&response.body)?, response.elapsed))
}

/// A page of `GET /api/v1/conversations?{query}` (limit 50, as the list's pages): its
/// next cursor and how long it took.
async fn api_page(
    client: &mut Client,
    query: &str,
) -> Result<(Option<String>, Duration), BenchError> {
    let response = client
        .get(&format!("/api/v1/conversations?limit=50&{query}"))
        .await?;
    if response.status != 200 {
        return Err(format!("the API answered {}", response.status).into());
    }
    let page: serde_json::Value = serde_json::from_slice(&response.body)?;
    let next = page["next_cursor"].as_str().map(str::to_owned);
    Ok((next, response.elapsed))
}

async fn api_repeat(client: &mut Client, query: &str, times: usize) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let started = Instant::now();
    for _ in 0..times {
        samples.push(api_page(client, query).await?.1);
        if started.elapsed() > TIME_BOX && samples.len() >= MIN_CALLS {
            break;
        }
    }
    Ok(samples)
}

/// As [`walk`], through the API's cursors.
async fn api_walk(
    client: &mut Client,
    query: &str,
    at_least: usize,
) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let started = Instant::now();
    let out_of_time =
        |samples: &Samples| started.elapsed() > TIME_BOX * 4 && samples.len() >= MIN_CALLS;
    while samples.len() < at_least && !out_of_time(&samples) {
        let walked = samples.len();
        let (mut next, _) = api_page(client, query).await?;
        while let Some(cursor) = next.take() {
            if out_of_time(&samples) {
                break;
            }
            let (after, took) =
                api_page(client, &format!("{query}&cursor={}", form_encode(&cursor))).await?;
            samples.push(took);
            next = after;
        }
        if samples.len() == walked {
            break;
        }
    }
    Ok(samples)
}

/// Calls the list `times` times, or for at most [`TIME_BOX`] when each call is slow.
async fn repeat(client: &mut Client, form: &str, times: usize) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let started = Instant::now();
    for _ in 0..times {
        samples.push(list(client, form).await?.1);
        if started.elapsed() > TIME_BOX && samples.len() >= MIN_CALLS {
            break;
        }
    }
    Ok(samples)
}

/// How long a scenario is timed for at most, once it has [`MIN_CALLS`] samples (a slow
/// search would otherwise hold the run for hours).
const TIME_BOX: Duration = Duration::from_secs(15);
const MIN_CALLS: usize = 3;

/// Every page after the first, following the cursors to the end of the list, and again
/// from the top until there are `at_least` samples (a rare word's walk is short, and the
/// p95 of 50 calls is their third slowest); for at most four time boxes.
async fn walk(client: &mut Client, form: &str, at_least: usize) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let started = Instant::now();
    let out_of_time =
        |samples: &Samples| started.elapsed() > TIME_BOX * 4 && samples.len() >= MIN_CALLS;
    while samples.len() < at_least && !out_of_time(&samples) {
        let walked = samples.len();
        let (mut page, _) = list(client, form).await?;
        while let Some(next) = page.next.take() {
            if out_of_time(&samples) {
                break;
            }
            let mut query = format!("after={}", form_encode(&next));
            if !form.is_empty() {
                query = format!("{form}&{query}");
            }
            let (next_page, took) = list(client, &query).await?;
            samples.push(took);
            page = next_page;
        }
        if samples.len() == walked {
            break; // one page: nothing deeper to time
        }
    }
    Ok(samples)
}

/// How many open lists ask for the counts at once in the crowd scenario.
const VIEWERS: usize = 100;

/// `viewers` pages, each on its own connection, post `form` to `path` `times` times each,
/// all at once.
async fn crowd(
    client: &Client,
    path: &'static str,
    form: &'static str,
    viewers: usize,
    times: usize,
) -> Result<Samples, BenchError> {
    let tasks: Vec<_> = (0..viewers)
        .map(|_| {
            let mut viewer = client.same_session();
            tokio::spawn(async move {
                posts(&mut viewer, path, form, times)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok(samples)
}

/// Posts `form` to the server function at `path` `times` times (fewer past the time box).
async fn posts(
    client: &mut Client,
    path: &str,
    form: &str,
    times: usize,
) -> Result<Samples, BenchError> {
    let mut samples = Samples::default();
    let started = Instant::now();
    for _ in 0..times {
        if started.elapsed() > TIME_BOX && samples.len() >= MIN_CALLS {
            break;
        }
        let response = client.post(path, form).await?;
        if response.status != 200 {
            return Err(format!("{path} answered {}", response.status).into());
        }
        samples.push(response.elapsed);
    }
    Ok(samples)
}

/// The status task's cost (`Store::refresh_statuses`, as each ingest process runs it every
/// `STATUS_TICK_SECS`): the first tick after the seed, which moves every undecided
/// conversation into its band (as after a long outage), then later ticks (a few cross a
/// band's edge each time), with the task's index and without it.
async fn status_ticks(env: &Env, db: &str) -> Result<(Samples, Samples, Samples), BenchError> {
    use billie_dashboard::server::status::StatusRules;
    let store = Store::connect(&env.database_uri(db)).await?;
    let rules = StatusRules::default();
    let now = || bson::DateTime::now().timestamp_millis();
    let mut first = Samples::default();
    let started = Instant::now();
    let moved = store.refresh_statuses(&rules, now()).await?.len();
    first.push(started.elapsed());
    eprintln!("  status task: the first tick moved {moved} conversations");
    let ticks = || async {
        let mut samples = Samples::default();
        for _ in 0..30 {
            let started = Instant::now();
            store.refresh_statuses(&rules, now()).await?;
            samples.push(started.elapsed());
        }
        Ok::<_, BenchError>(samples)
    };
    let steady = ticks().await?;
    env.database(db)
        .await?
        .collection::<Document>("conversations")
        .drop_index("by_status_age")
        .await?;
    let unindexed = ticks().await?;
    store.close().await;
    Ok((first, steady, unindexed))
}
