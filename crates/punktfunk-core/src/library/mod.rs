//! The file formats game stores keep their libraries in, parsed as plain functions over bytes (the
//! host's `library` module finds the files and turns entries into launchable titles):
//! - [`vdf_text`]: Valve's text KeyValues (Steam's `libraryfolders.vdf`, `appmanifest_*.acf`);
//! - [`vdf_binary`]: binary KeyValues (Steam's `shortcuts.vdf`, the user's non-Steam games);
//! - [`desktop_entry`]: freedesktop.org `.desktop` files and their `Exec` lines.

pub mod desktop_entry;
pub mod vdf_binary;
pub mod vdf_text;

/// A KeyValues block: its pairs in file order (keys may repeat).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValues(pub Vec<(String, Value)>);

/// A KeyValues value: text (numbers of the binary format included) or a nested block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string value (numbers of the binary format are written out as decimal text).
    Text(String),
    /// A nested `{ … }` block.
    Block(KeyValues),
}

impl KeyValues {
    /// Every value under `key` (case-insensitive), in file order.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        let key: &'a str = key;
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The first text value under `key`.
    pub fn text<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.texts(key).next()
    }

    /// Every text value under `key`.
    pub fn texts<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let key: &'a str = key;
        self.values(key).filter_map(|v| match v {
            Value::Text(t) => Some(t.as_str()),
            Value::Block(_) => None,
        })
    }

    /// The first block under `key`.
    pub fn block<'a>(&'a self, key: &'a str) -> Option<&'a KeyValues> {
        self.values(key).find_map(|v| match v {
            Value::Block(b) => Some(b),
            Value::Text(_) => None,
        })
    }

    /// Every nested block with its key, in file order.
    pub fn blocks(&self) -> impl Iterator<Item = (&str, &KeyValues)> {
        self.0.iter().filter_map(|(k, v)| match v {
            Value::Block(b) => Some((k.as_str(), b)),
            Value::Text(_) => None,
        })
    }
}
