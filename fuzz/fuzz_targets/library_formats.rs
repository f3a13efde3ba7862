//! Game-store files as the host's library scanner reads them from disk: arbitrary bytes as text VDF
//! (`appmanifest_*.acf`, `libraryfolders.vdf`), binary VDF (`shortcuts.vdf`) and a desktop entry
//! with its `Exec` line. Nothing may panic; a binary file that parses is written back and parses to
//! the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use punktfunk_core::library::{desktop_entry, vdf_binary, vdf_text};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = vdf_text::parse(&text);
    if let Ok(entry) = desktop_entry::parse(&text) {
        let _ = entry.argv("/fuzz.desktop");
    }
    if let Ok(tree) = vdf_binary::parse(data) {
        let again = vdf_binary::parse(&vdf_binary::write(&tree, &[])).expect("own output parses");
        assert_eq!(again, tree);
    }
});
