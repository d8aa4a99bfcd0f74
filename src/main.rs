//! `billie-dashboard`: see `billie_dashboard::cli` for the commands.

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    billie_dashboard::cli::main()
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build is a library (see `lib.rs`); this binary needs `--features ssr`.
}
