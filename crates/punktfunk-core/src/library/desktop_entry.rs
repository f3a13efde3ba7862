//! freedesktop.org desktop entries (`*.desktop`): the keys a game launcher needs, and the `Exec`
//! line turned into an argument vector as the Desktop Entry Specification says — quoting rules,
//! escapes, and field codes (`%f %u …` dropped since nothing is opened, `%i` → `--icon ICON`,
//! `%c` → the name, `%k` → the entry's own path, `%%` → `%`). Localised keys (`Name[de]=`) are
//! ignored: the host lists the untranslated name, which is what the store shows by default.

use std::collections::HashMap;

/// The parts of a `[Desktop Entry]` group that decide whether and how to launch it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesktopEntry {
    /// `Type`: `Application` for launchable programs (also `Link`, `Directory`).
    pub kind: String,
    /// `Name`: the untranslated display name.
    pub name: String,
    /// `Exec`: the command line, with quoting and field codes (see [`DesktopEntry::argv`]).
    pub exec: Option<String>,
    /// `TryExec`: a program that must exist for the entry to be shown.
    pub try_exec: Option<String>,
    /// `Icon`: an icon name from the theme, or an absolute path.
    pub icon: Option<String>,
    /// `Path`: the working directory to start the program in.
    pub path: Option<String>,
    /// `Categories`: the `;`-separated menu categories (`Game` marks games).
    pub categories: Vec<String>,
    /// `Hidden`: the entry was deleted by the user or an admin.
    pub hidden: bool,
    /// `NoDisplay`: the entry exists but is kept out of menus.
    pub no_display: bool,
    /// `Terminal`: the program must run in a terminal.
    pub terminal: bool,
}

/// Why a desktop entry file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesktopEntryError {
    /// The file has no `[Desktop Entry]` group.
    #[error("no [Desktop Entry] group")]
    NoGroup,
    /// The group has no untranslated `Name`.
    #[error("the entry has no Name")]
    NoName,
    /// `Exec` has an opening `"` without a closing one.
    #[error("Exec: unterminated quote")]
    UnterminatedQuote,
    /// `Exec` has a `%` followed by a letter the spec does not define; carries it.
    #[error("Exec: invalid field code %{0}")]
    BadFieldCode(char),
    /// `Exec` has a shell character (`` ` `` `$` `|` `;` `&` `<` `>`) outside quotes; carries it.
    #[error("Exec: reserved character {0:?} outside quotes")]
    Reserved(char),
}

impl DesktopEntry {
    /// An application the user may see and launch: not hidden, not `NoDisplay`, of type
    /// `Application`, with an `Exec`.
    pub fn is_launchable(&self) -> bool {
        self.kind == "Application" && !self.hidden && !self.no_display && self.exec.is_some()
    }

    /// Whether `Categories` contains `Game`.
    pub fn is_game(&self) -> bool {
        self.categories.iter().any(|c| c == "Game")
    }

    /// The `Exec` line as argv (`entry_path` is the file's path, for `%k`).
    pub fn argv(&self, entry_path: &str) -> Result<Vec<String>, DesktopEntryError> {
        let exec = self.exec.as_deref().unwrap_or_default();
        expand_exec(exec, &self.name, self.icon.as_deref(), entry_path)
    }
}

/// Parses the `[Desktop Entry]` group of a file.
pub fn parse(text: &str) -> Result<DesktopEntry, DesktopEntryError> {
    let mut in_entry = false;
    let mut seen_group = false;
    let mut keys: HashMap<&str, &str> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_entry = group == "Desktop Entry";
            seen_group |= in_entry;
            continue;
        }
        if !in_entry {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            // The first occurrence wins; localised variants (`Key[xx]`) have other names.
            keys.entry(key.trim()).or_insert(value.trim());
        }
    }
    if !seen_group {
        return Err(DesktopEntryError::NoGroup);
    }
    let string = |key: &str| keys.get(key).map(|v| unescape(v));
    let boolean = |key: &str| keys.get(key).is_some_and(|v| *v == "true");
    let name = string("Name")
        .filter(|n| !n.is_empty())
        .ok_or(DesktopEntryError::NoName)?;
    Ok(DesktopEntry {
        kind: string("Type").unwrap_or_default(),
        name,
        exec: string("Exec").filter(|e| !e.is_empty()),
        try_exec: string("TryExec").filter(|e| !e.is_empty()),
        icon: string("Icon").filter(|e| !e.is_empty()),
        path: string("Path").filter(|e| !e.is_empty()),
        categories: keys
            .get("Categories")
            .map(|v| {
                v.split(';')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        hidden: boolean("Hidden"),
        no_display: boolean("NoDisplay"),
        terminal: boolean("Terminal"),
    })
}

/// The general value escapes: `\s \n \t \r \\`.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn expand_exec(
    exec: &str,
    name: &str,
    icon: Option<&str>,
    entry_path: &str,
) -> Result<Vec<String>, DesktopEntryError> {
    let mut argv = Vec::new();
    let mut current = String::new();
    // Whether `current` is an argument (a quoted empty string is one).
    let mut started = false;
    let mut chars = exec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if started {
                    argv.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        None => return Err(DesktopEntryError::UnterminatedQuote),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '`' | '$' | '\\')) => current.push(e),
                            Some(other) => {
                                current.push('\\');
                                current.push(other);
                            }
                            None => return Err(DesktopEntryError::UnterminatedQuote),
                        },
                        // Field codes are not expanded inside quotes, except the escaped percent.
                        Some('%') if chars.peek() == Some(&'%') => {
                            chars.next();
                            current.push('%');
                        }
                        Some(other) => current.push(other),
                    }
                }
            }
            '%' => match chars.next() {
                Some('%') => {
                    current.push('%');
                    started = true;
                }
                Some('f' | 'F' | 'u' | 'U' | 'd' | 'D' | 'n' | 'N' | 'v' | 'm') => {}
                Some('i') => {
                    if let Some(icon) = icon {
                        if started {
                            argv.push(std::mem::take(&mut current));
                            started = false;
                        }
                        argv.push("--icon".into());
                        argv.push(icon.to_string());
                    }
                }
                Some('c') => {
                    current.push_str(name);
                    started = true;
                }
                Some('k') => {
                    current.push_str(entry_path);
                    started = true;
                }
                Some(other) => return Err(DesktopEntryError::BadFieldCode(other)),
                None => return Err(DesktopEntryError::BadFieldCode(' ')),
            },
            '\\' => {
                // Outside quotes the spec allows the general escapes only; keep the next char.
                if let Some(next) = chars.next() {
                    current.push(next);
                    started = true;
                }
            }
            '`' | '$' | '|' | ';' | '&' | '<' | '>' => return Err(DesktopEntryError::Reserved(c)),
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        argv.push(current);
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GAME: &str = "\
# A comment
[Desktop Entry]
Type=Application
Name=Super Tux Kart
Name[de]=SuperTuxKart DE
Exec=\"/usr/games/super tux\" --fullscreen %U %i %c
Icon=supertuxkart
Categories=Game;ArcadeGame;
TryExec=supertuxkart

[Desktop Action Window]
Name=Windowed
Exec=supertuxkart --windowed
";

    #[test]
    fn reads_a_game_entry_and_expands_exec() {
        let entry = parse(GAME).unwrap();
        assert_eq!(entry.name, "Super Tux Kart");
        assert!(entry.is_game() && entry.is_launchable());
        assert_eq!(entry.try_exec.as_deref(), Some("supertuxkart"));
        assert_eq!(
            entry.argv("/x/stk.desktop").unwrap(),
            [
                "/usr/games/super tux",
                "--fullscreen",
                "--icon",
                "supertuxkart",
                "Super Tux Kart"
            ]
        );
    }

    #[test]
    fn hidden_no_display_and_broken_entries() {
        let hidden =
            parse("[Desktop Entry]\nType=Application\nName=X\nExec=x\nHidden=true").unwrap();
        assert!(!hidden.is_launchable());
        let nodisplay =
            parse("[Desktop Entry]\nType=Application\nName=X\nExec=x\nNoDisplay=true").unwrap();
        assert!(!nodisplay.is_launchable());
        assert_eq!(parse("Name=X"), Err(DesktopEntryError::NoGroup));
        assert_eq!(
            parse("[Desktop Entry]\nExec=x"),
            Err(DesktopEntryError::NoName)
        );
        let bad = parse("[Desktop Entry]\nName=X\nExec=\"unclosed").unwrap();
        assert_eq!(bad.argv("p"), Err(DesktopEntryError::UnterminatedQuote));
        let bad = parse("[Desktop Entry]\nName=X\nExec=run %z").unwrap();
        assert_eq!(bad.argv("p"), Err(DesktopEntryError::BadFieldCode('z')));
        let bad = parse("[Desktop Entry]\nName=X\nExec=a | b").unwrap();
        assert_eq!(bad.argv("p"), Err(DesktopEntryError::Reserved('|')));
    }

    #[test]
    fn quoting_escapes_and_percent() {
        let entry =
            parse("[Desktop Entry]\nName=N\nExec=run \"a \\\"b\\\" \\$c\" 100%% \"\" %k").unwrap();
        assert_eq!(
            entry.argv("/apps/n.desktop").unwrap(),
            ["run", "a \"b\" $c", "100%", "", "/apps/n.desktop"]
        );
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panicking(body in "[\\[\\]=%\"\\\\ a-zA-Z\n;`$]{0,200}") {
            if let Ok(entry) = parse(&format!("[Desktop Entry]\nName=n\n{body}")) {
                let _ = entry.argv("p");
            }
        }
    }
}
