//! The release WASM a browser downloads. The build is split (`cargo leptos build --release
//! --split`): a main module every page loads, with the framework and the conversations
//! list's island, and the modules of each other page's island (`#[island(lazy)]`), loaded
//! when the page is shown and named in `__wasm_split_manifest.json` beside the main
//! module. Each file is measured raw and gzipped (`gzip -9`) on its own, as a server sends
//! it, and the sizes of a page's files are added up.

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

/// What a page costs on its first load: the main module and the page's own modules.
pub struct Page {
    pub size: Size,
    pub modules: usize,
}

pub struct Figures {
    /// The module every page loads, and all the sign-in page loads.
    pub main: Size,
    /// The conversations list, where supervisors land after signing in.
    pub list: Page,
    /// One conversation, live: the page a supervisor opens from the list.
    pub conversation: Page,
    /// Every module of every page.
    pub all: Size,
}

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
    // The modules of a page's lazy island (`ConversationPage` is
    // `conversation_page_loader_<hash>`); none for an island in the main module, or when
    // the build is not split.
    let page = |island: Option<&str>| -> Result<Page, BenchError> {
        let Some(island) = island else {
            return Ok(Page {
                size: main_size,
                modules: 0,
            });
        };
        let prefix = format!("{island}_loader_");
        let modules = match manifest.iter().find(|(name, _)| name.starts_with(&prefix)) {
            Some((_, modules)) => modules.as_slice(),
            None if manifest.is_empty() => &[],
            None => return Err(format!("the split manifest has no {prefix}").into()),
        };
        let size = modules
            .iter()
            .filter_map(|m| sizes.get(m))
            .fold(main_size, |sum, s| sum + *s);
        Ok(Page {
            size,
            modules: modules.len(),
        })
    };
    Ok(Figures {
        main: main_size,
        list: page(None)?,
        conversation: page(Some("conversation_page"))?,
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
