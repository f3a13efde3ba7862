//! `punktfunk-host library`: the game library from the terminal, scanned the way the host scans it
//! (no running host needed), and `library refresh`, which asks the running host to rescan now.

use crate::app::cli_client::{ApiArgs, ApiClient};
use crate::services::library::{Roots, Scan, scan};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

#[derive(clap::Subcommand, Default, Clone)]
pub enum Action {
    /// A table: id, store, name, whether cover art was found, the launch command.
    #[default]
    List,
    /// Every title as JSON (with what the scan had to skip).
    Json,
    /// Write the cover art of the title with this id (e.g. `steam:570`) to stdout.
    Art { id: String },
    /// Ask the running host to rescan now (it also rescans by itself when a store changes) and
    /// print how many titles it has.
    Refresh {
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub fn run(runtime: &tokio::runtime::Runtime, dir: &Path, action: Action) -> Result<()> {
    if let Action::Refresh { api } = &action {
        let client = ApiClient::for_local_host(dir, api)?;
        let titles = runtime.block_on(client.call("POST", "/library/refresh", None))?;
        let count = titles.as_array().map_or(0, Vec::len);
        println!("{count} titles");
        return Ok(());
    }
    let roots = Roots::from_env().context("HOME is not set: no stores to look in")?;
    let Scan { titles, warnings } = scan(&roots);
    match action {
        Action::List => {
            for warning in &warnings {
                eprintln!("skipped: {warning}");
            }
            let id_width = titles.iter().map(|t| t.id.len()).max().unwrap_or(2).max(2);
            println!(
                "{:id_width$}  {:8}  {:3}  {:30}  LAUNCH",
                "ID", "STORE", "ART", "NAME"
            );
            for t in &titles {
                let store = serde_json::to_value(t.source)?;
                println!(
                    "{:id_width$}  {:8}  {:3}  {:30}  {}",
                    t.id,
                    store.as_str().unwrap_or_default(),
                    if t.art.is_some() { "yes" } else { "-" },
                    t.name,
                    t.shell_command()
                );
            }
            println!("{} titles", titles.len());
        }
        Action::Json => {
            let json = serde_json::json!({ "titles": titles, "skipped": warnings });
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        Action::Art { id } => {
            let title = titles
                .iter()
                .find(|t| t.id == id)
                .with_context(|| format!("no title {id:?} in the library"))?;
            let path = title
                .art
                .as_ref()
                .with_context(|| format!("{id} has no cover art"))?;
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            std::io::stdout().write_all(&bytes)?;
        }
        Action::Refresh { .. } => unreachable!("answered above"),
    }
    Ok(())
}
