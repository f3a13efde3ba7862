//! Lutris: the installed games in its SQLite database (`~/.local/share/lutris/pga.db`, table
//! `games`), opened read-only so a running Lutris is never disturbed; cover art from `coverart/`
//! or `banners/` by the game's slug. Lutris starts them: `lutris lutris:rungameid/<id>`.

use super::files::{self, first_file};
use super::{Roots, Scan, Source, Title};
use rusqlite::{Connection, OpenFlags};

/// The directory Lutris keeps its game database in.
pub fn store_dir(roots: &Roots) -> std::path::PathBuf {
    roots.data_home.join("lutris")
}

pub fn scan(roots: &Roots, scan: &mut Scan) {
    let data = store_dir(roots);
    let db = data.join("pga.db");
    if !db.is_file() {
        return;
    }
    if files::read(&db, scan).is_none() {
        return; // unreadable or far too large: warned
    }
    match games(&db) {
        Ok(games) => {
            for (id, name, slug) in games {
                let art = slug.as_deref().and_then(|slug| {
                    let caches = [data.clone(), roots.home.join(".cache/lutris")];
                    first_file(caches.iter().flat_map(|dir| {
                        ["coverart", "banners"].into_iter().flat_map(move |kind| {
                            ["jpg", "png"].map(|ext| dir.join(kind).join(format!("{slug}.{ext}")))
                        })
                    }))
                });
                scan.titles.push(Title {
                    id: format!("lutris:{id}"),
                    name,
                    source: Source::Lutris,
                    launch: vec!["lutris".into(), format!("lutris:rungameid/{id}")],
                    art,
                    working_dir: None,
                });
            }
        }
        Err(e) => scan.warn(format!("{}: {e}", db.display())),
    }
}

/// `(id, name, slug)` of every installed game.
fn games(db: &std::path::Path) -> rusqlite::Result<Vec<(i64, String, Option<String>)>> {
    let connection = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Lutris may be writing: wait a moment for its lock rather than failing at once.
    connection.busy_timeout(std::time::Duration::from_millis(500))?;
    let mut query = connection
        .prepare("SELECT id, name, slug FROM games WHERE installed = 1 AND name IS NOT NULL")?;
    let rows = query.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    Ok(rows
        .filter_map(Result::ok)
        .filter(|(_, name, _)| !name.trim().is_empty())
        .collect())
}
