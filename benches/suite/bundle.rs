//! The release WASM a browser downloads. The build is split (`cargo leptos build --release
//! --split`): a main module every page loads, with the framework, the router and the
//! conversations list, and the modules of each other page (a lazy route, `app::lazy_page!`),
//! loaded when the page is first shown and named in `__wasm_split_manifest.json` beside
//! the main module. Each file is measured raw and gzipped (`gzip -9`) on its own, as a
//! server sends it. A page's first load is the main module and its route's modules; moving
//! to it from the list in the browser loads only its route's modules.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::BenchError;

const MANIFEST: &str = "__wasm_split_manifest.json";

/// Bytes of one or more files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Size {
    pub raw: u64,
    pub gzip: u64,
}

impl std::ops::Add for Size {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            raw: self.raw + other.raw,
            gzip: self.gzip + other.gzip,
        }
    }
}

/// What a page costs: on its first load, the main module and the page's own modules;
/// moved to in the browser from the list, those of its modules the list has not loaded
/// (`extra`).
pub struct Page {
    pub name: &'static str,
    pub first: Size,
    pub extra: Size,
    pub modules: usize,
}

pub struct Figures {
    /// The module every page loads.
    pub main: Size,
    /// Every page, the list first.
    pub pages: Vec<Page>,
    /// Every module of every page.
    pub all: Size,
}

/// The pages, the list first, as the page is named in the report and its route in `app`
/// (`None`: in the main module).
const PAGES: [(&str, Option<&str>); 8] = [
    ("the conversations list", Some("conversations")),
    ("a conversation", Some("conversation")),
    ("the customers list", Some("customers")),
    ("a customer", Some("customer")),
    ("sign-in", Some("login")),
    ("your account", Some("account")),
    ("users (admin)", Some("users")),
    ("audit log (admin)", Some("audit")),
];

pub fn measure(main: &Path) -> Result<Figures, BenchError> {
    let dir = main
        .parent()
        .ok_or_else(|| format!("{}: not a file in a directory", main.display()))?;
    let main_size = size_of(main)?;
    // A build without `--split` has no manifest: every page is in the main module.
    let manifest: BTreeMap<String, Vec<String>> = match std::fs::read_to_string(dir.join(MANIFEST))
    {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: {e}", dir.join(MANIFEST).display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(format!("{}: {e}", dir.join(MANIFEST).display()).into()),
    };
    let mut sizes = BTreeMap::new();
    for module in manifest.values().flatten() {
        if !sizes.contains_key(module) {
            sizes.insert(
                module.clone(),
                size_of(&dir.join(format!("{module}.wasm")))?,
            );
        }
    }
    // The modules of a page's lazy route (`app::lazy_page!(ConversationRoute, …)` is
    // `__conversation_route_view_<hash>`).
    let modules_of = |route: Option<&str>| -> Result<&[String], BenchError> {
        let Some(route) = route else {
            return Ok(&[]);
        };
        let prefix = format!("__{route}_route_view_");
        match manifest.iter().find(|(name, _)| name.starts_with(&prefix)) {
            Some((_, modules)) => Ok(modules.as_slice()),
            None if manifest.is_empty() => Ok(&[]),
            None => Err(format!("the split manifest has no {prefix}").into()),
        }
    };
    let sum = |modules: &mut dyn Iterator<Item = &String>| {
        modules
            .filter_map(|m| sizes.get(m))
            .fold(Size::default(), |sum, s| sum + *s)
    };
    // Moving from the list loads what the list has not loaded already.
    let list = modules_of(PAGES[0].1)?;
    let page = |(name, route): (&'static str, Option<&str>)| -> Result<Page, BenchError> {
        let modules = modules_of(route)?;
        let own = sum(&mut modules.iter());
        Ok(Page {
            name,
            first: main_size + own,
            extra: sum(&mut modules.iter().filter(|m| !list.contains(m))),
            modules: modules.len(),
        })
    };
    Ok(Figures {
        main: main_size,
        pages: PAGES.into_iter().map(page).collect::<Result<_, _>>()?,
        all: sizes.values().fold(main_size, |sum, s| sum + *s),
    })
}

fn size_of(wasm: &Path) -> Result<Size, BenchError> {
    let raw = std::fs::metadata(wasm)
        .map_err(|e| {
            format!(
                "{}: {e} (build with cargo leptos build --release --split)",
                wasm.display()
            )
        })?
        .len();
    let out = Command::new("gzip")
        .arg("-9")
        .arg("-c")
        .arg(wasm)
        .output()?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", wasm.display()).into());
    }
    Ok(Size {
        raw,
        gzip: out.stdout.len() as u64,
    })
}
