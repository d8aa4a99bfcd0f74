//! The figures as a Markdown table, written into BENCHMARKS.md between its markers so the
//! committed report is always a run's own output.

use std::fmt::Write as _;
use std::path::Path;

use crate::stats::{ms, thousands};
use crate::{BenchError, Env, bundle, changes, ingest, latency, listing};

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1_000_000.0)
}

pub fn render(
    env: &Env,
    ingest: ingest::Figures,
    // The clients reading what the measure needs (the target applies), then decoding
    // every frame in full as a browser does.
    lives: [Result<latency::Figures, String>; 2],
    changes: Result<changes::Figures, String>,
    list: Result<listing::Figures, String>,
    bundle: bundle::Figures,
) -> String {
    let mut t = String::new();
    let date = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%Y-%m-%d %H:%M UTC");
    let _ = writeln!(t, "Run of {date} on {}.\n", env.machine);
    let _ = writeln!(t, "| Measure | Target | Result | |");
    let _ = writeln!(t, "|---|---|---|---|");
    let mut row = |measure: String, target: &str, result: String, met: Option<bool>| {
        let _ = writeln!(
            t,
            "| {measure} | {target} | {result} | {} |",
            met.map(verdict).unwrap_or("")
        );
    };

    let batched = ingest.batched.per_second();
    let naive = ingest.naive.per_second();
    let events = thousands(ingest.batched.events as u64);
    let conversations = thousands(ingest.batched.conversations as u64);
    let ingest::Settings { members, batch } = ingest.settings;
    row(
        format!(
            "Ingest, the dashboard's consumers (one process: {members} members of the group, \
             batches of up to {batch}; {events} events, {conversations} conversations)"
        ),
        "≥ 10,000 events/s",
        format!("{} events/s", thousands(batched as u64)),
        Some(batched >= 10_000.0),
    );
    row(
        "Ingest, naive consumer (reads of 10, one write and one notice per event)".into(),
        "",
        format!("{} events/s", thousands(naive as u64)),
        None,
    );
    row(
        "Ingest speed-up over the naive consumer".into(),
        "≥ 4×",
        format!("{:.1}×", batched / naive),
        Some(batched >= 4.0 * naive),
    );

    for live in lives {
        match live {
            Ok(mut live) => {
                let p99 = live.latency.percentile(99.0);
                let target = !live.full_decode;
                row(
                    format!(
                        "Event → WebSocket frame, {} clients ({}), {} events/s for {} s: p50 / p95 / p99",
                        live.clients,
                        if live.full_decode {
                            "each decoding every frame in full"
                        } else {
                            "each reading the ids and message counts of every frame"
                        },
                        thousands(live.rate as u64),
                        live.seconds
                    ),
                    if target { "p99 ≤ 100 ms" } else { "" },
                    format!(
                        "{} / {} / {}",
                        ms(live.latency.percentile(50.0)),
                        ms(live.latency.percentile(95.0)),
                        ms(p99)
                    ),
                    target.then_some(p99.as_millis() <= 100),
                );
                let cpu = live.cpu;
                row(
                    format!(
                        "CPU used in those {} s (of {} core-seconds): the benchmark's clients / the dashboard / secantusd-rs / Redis",
                        live.seconds,
                        live.seconds
                            * std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
                    ),
                    "",
                    format!(
                        "{:.1} s / {:.1} s / {:.1} s / {:.1} s",
                        cpu.bench, cpu.server, cpu.store, cpu.redis
                    ),
                    None,
                );
                let delivered = live.latency.len();
                row(
                    format!(
                        "Message deliveries seen by the clients ({} events appended; within 2 s of the end)",
                        thousands(live.events as u64)
                    ),
                    "all",
                    format!(
                        "{} of {} ({} frames, {} resyncs)",
                        thousands(delivered as u64),
                        thousands(live.expected as u64),
                        thousands(live.frames as u64),
                        live.resyncs
                    ),
                    Some(delivered >= live.expected),
                );
                row(
                    format!(
                        "Server memory (RSS), {} clients connected / peak under load",
                        live.clients
                    ),
                    "≤ 200 MB",
                    format!("{} / {}", mb(live.rss_connected), mb(live.rss_peak)),
                    Some(live.rss_peak <= 200_000_000),
                );
            }
            Err(e) => row(
                "Event → WebSocket frame latency and server memory".into(),
                "p99 ≤ 100 ms, ≤ 200 MB",
                format!("the run failed: {e}"),
                Some(false),
            ),
        }
    }

    match changes {
        Ok(mut c) => {
            let p99 = c.latency.percentile(99.0);
            row(
                format!(
                    "Change stream (`/api/v1/changes`): event → SSE `change`, {} streams open, \
                     {} events/s for {} s ({} of {} changes seen, {} resyncs): p50 / p99",
                    c.streams,
                    thousands(c.rate as u64),
                    c.seconds,
                    thousands(c.latency.len() as u64),
                    thousands(c.expected as u64),
                    c.resyncs
                ),
                "p99 ≤ 100 ms",
                format!("{} / {}", ms(c.latency.percentile(50.0)), ms(p99)),
                Some(p99.as_millis() <= 100 && c.latency.len() * 1000 >= c.expected * 999),
            );
        }
        Err(e) => row(
            "Change stream (`/api/v1/changes`) latency".into(),
            "p99 ≤ 100 ms",
            format!("the run failed: {e}"),
            Some(false),
        ),
    }

    match list {
        Ok(mut list) => {
            for scenario in &mut list.scenarios {
                let p95 = scenario.samples.percentile(95.0);
                row(
                    format!(
                        "{} at {} conversations ({} calls): p50 / p95",
                        scenario.name,
                        thousands(list.conversations as u64),
                        thousands(scenario.samples.len() as u64)
                    ),
                    if scenario.page { "p95 ≤ 50 ms" } else { "" },
                    format!("{} / {}", ms(scenario.samples.percentile(50.0)), ms(p95)),
                    scenario.page.then_some(p95.as_millis() <= 50),
                );
            }
        }
        Err(e) => row(
            "List at 100,000 conversations".into(),
            "p95 ≤ 50 ms",
            format!("the run failed: {e}"),
            Some(false),
        ),
    }

    let size = |s: bundle::Size| format!("{} / {}", kb(s.raw), kb(s.gzip));
    for page in &bundle.pages {
        row(
            format!(
                "Release WASM, first load of {} (the main module and its route's {} modules), \
                 raw / gzip -9, each file on its own",
                page.name, page.modules
            ),
            "≤ 330 KB gzip",
            size(page.first),
            Some(page.first.gzip <= 330_000),
        );
    }
    for page in bundle.pages.iter().skip(1) {
        row(
            format!(
                "Release WASM, moving from the list to {} in the browser: what it loads",
                page.name
            ),
            "only its code",
            size(page.extra),
            None,
        );
    }
    row(
        "Release WASM, the main module alone (every page loads it)".into(),
        "",
        size(bundle.main),
        None,
    );
    row(
        "Release WASM, every module of every page".into(),
        "",
        size(bundle.all),
        None,
    );
    t
}

/// Replaces what lies between the markers of `path` with `figures`.
pub fn write(path: &Path, figures: &str) -> Result<(), BenchError> {
    let text = std::fs::read_to_string(path)?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("{} lacks the {BEGIN} and {END} markers", path.display()).into());
    };
    let updated = format!("{}{BEGIN}\n{figures}{}", &text[..begin], &text[end..]);
    std::fs::write(path, updated)?;
    Ok(())
}
