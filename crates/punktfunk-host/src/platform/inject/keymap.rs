//! XKB keymaps for virtual keyboards, and the US layout as a table from keysyms to key positions.
//!
//! Keys arrive as Linux evdev codes (positions on a US keyboard), so the virtual keyboard's normal
//! keymap is the standard `pc+us` one, resolved by the compositor from its own XKB data. Text can be
//! in any script: it is typed through a *text keymap* made for it, one keycode per distinct
//! character, whose symbol is that character's keysym — the compositor passes the keymap on to the
//! focused client, which then decodes exactly those characters. Afterwards the normal keymap is
//! restored.

/// The keymap for keys by position: evdev keycodes, US layout, the usual modifier behaviour.
pub const US_KEYMAP: &str = "xkb_keymap {
  xkb_keycodes \"punktfunk\" { include \"evdev+aliases(qwerty)\" };
  xkb_types \"punktfunk\" { include \"complete\" };
  xkb_compat \"punktfunk\" { include \"complete\" };
  xkb_symbols \"punktfunk\" { include \"pc+us+inet(evdev)\" };
  xkb_geometry \"punktfunk\" { include \"pc(pc105)\" };
};
";

/// XKB keycodes are evdev codes + 8.
pub const EVDEV_OFFSET: u32 = 8;
/// First keycode of a text keymap (XKB keycodes start at 8; 9 is the first one clients accept as
/// ordinary, so text keys start there).
pub const TEXT_FIRST_KEYCODE: u32 = 9;
/// Most distinct characters one text keymap holds (keycodes 9..=255, as X11 clients require).
pub const TEXT_KEYMAP_CAPACITY: usize = (255 - TEXT_FIRST_KEYCODE + 1) as usize;

/// The keysym that produces `c`: special keys for control characters, Latin-1 directly, anything
/// else through the Unicode keysym range (`0x0100_0000 + code point`).
pub fn char_keysym(c: char) -> u32 {
    let cp = u32::from(c);
    match c {
        '\n' | '\r' => 0xff0d, // Return
        '\t' => 0xff09,        // Tab
        '\u{8}' => 0xff08,     // BackSpace
        '\u{1b}' => 0xff1b,    // Escape
        '\u{7f}' => 0xffff,    // Delete
        _ if (0x20..=0x7e).contains(&cp) || (0xa0..=0xff).contains(&cp) => cp,
        _ => 0x0100_0000 + cp,
    }
}

/// A keymap whose keycode `TEXT_FIRST_KEYCODE + i` types `keysyms[i]` (at most
/// [`TEXT_KEYMAP_CAPACITY`]; callers split longer texts).
pub fn text_keymap(keysyms: &[u32]) -> String {
    let keysyms = &keysyms[..keysyms.len().min(TEXT_KEYMAP_CAPACITY)];
    let mut codes = String::new();
    let mut symbols = String::new();
    for (i, sym) in keysyms.iter().enumerate() {
        let code = TEXT_FIRST_KEYCODE + i as u32;
        codes.push_str(&format!("    <T{code}> = {code};\n"));
        symbols.push_str(&format!("    key <T{code}> {{ [ {sym:#x} ] }};\n"));
    }
    format!(
        "xkb_keymap {{
  xkb_keycodes \"punktfunk-text\" {{
    minimum = 8;
    maximum = 255;
{codes}  }};
  xkb_types \"punktfunk-text\" {{ include \"complete\" }};
  xkb_compat \"punktfunk-text\" {{ include \"complete\" }};
  xkb_symbols \"punktfunk-text\" {{
{symbols}  }};
}};
"
    )
}

/// Plans typing `text`: batches of at most [`TEXT_KEYMAP_CAPACITY`] distinct keysyms, each with
/// the keysym list (for [`text_keymap`]) and the keycode sequence to press.
pub fn plan_text(text: &str) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut batches = Vec::new();
    let mut syms: Vec<u32> = Vec::new();
    let mut presses = Vec::new();
    for c in text.chars() {
        let sym = char_keysym(c);
        let index = match syms.iter().position(|s| *s == sym) {
            Some(i) => i,
            None => {
                if syms.len() == TEXT_KEYMAP_CAPACITY {
                    batches.push((std::mem::take(&mut syms), std::mem::take(&mut presses)));
                }
                syms.push(sym);
                syms.len() - 1
            }
        };
        presses.push(TEXT_FIRST_KEYCODE + index as u32);
    }
    if !presses.is_empty() {
        batches.push((syms, presses));
    }
    batches
}

const KEY_LEFTSHIFT: u16 = 42;

/// Where a keysym sits on a US keyboard: the evdev code and whether Shift is needed. `None` for
/// keysyms that layout does not have (the caller types those as text).
pub fn us_position(keysym: u32) -> Option<(u16, bool)> {
    const ROWS: [(&str, &str, u16); 4] = [
        ("1234567890-=", "!@#$%^&*()_+", 2),
        ("qwertyuiop[]", "QWERTYUIOP{}", 16),
        ("asdfghjkl;'`", "ASDFGHJKL:\"~", 30),
        ("zxcvbnm,./", "ZXCVBNM<>?", 44),
    ];
    if let Some(c) = char::from_u32(keysym).filter(|c| c.is_ascii_graphic()) {
        if c == '\\' || c == '|' {
            return Some((43, c == '|'));
        }
        for (plain, shifted, first) in ROWS {
            if let Some(i) = plain.chars().position(|p| p == c) {
                return Some((first + i as u16, false));
            }
            if let Some(i) = shifted.chars().position(|p| p == c) {
                return Some((first + i as u16, true));
            }
        }
    }
    let code = match keysym {
        0x20 => 57,                                       // space
        0xff0d => 28,                                     // Return
        0xff09 => 15,                                     // Tab
        0xff08 => 14,                                     // BackSpace
        0xff1b => 1,                                      // Escape
        0xffff => 111,                                    // Delete
        0xff50 => 102,                                    // Home
        0xff51 => 105,                                    // Left
        0xff52 => 103,                                    // Up
        0xff53 => 106,                                    // Right
        0xff54 => 108,                                    // Down
        0xff55 => 104,                                    // Page_Up
        0xff56 => 109,                                    // Page_Down
        0xff57 => 107,                                    // End
        0xff63 => 110,                                    // Insert
        0xffbe..=0xffc7 => 59 + (keysym - 0xffbe) as u16, // F1..F10
        0xffc8 => 87,                                     // F11
        0xffc9 => 88,                                     // F12
        0xffe1 => KEY_LEFTSHIFT,
        0xffe2 => 54,  // Shift_R
        0xffe3 => 29,  // Control_L
        0xffe4 => 97,  // Control_R
        0xffe5 => 58,  // Caps_Lock
        0xffe9 => 56,  // Alt_L
        0xffea => 100, // Alt_R
        0xffeb => 125, // Super_L
        0xffec => 126, // Super_R
        _ => return None,
    };
    Some((code, false))
}

/// The evdev code of the left Shift key, held for shifted keysyms.
pub const SHIFT: u16 = KEY_LEFTSHIFT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms_of_characters() {
        assert_eq!(char_keysym('a'), 0x61);
        assert_eq!(char_keysym('é'), 0xe9);
        assert_eq!(char_keysym('€'), 0x0100_20ac);
        assert_eq!(char_keysym('\n'), 0xff0d);
    }

    #[test]
    fn text_plans_reuse_keycodes_and_split_when_full() {
        let plan = plan_text("abca");
        assert_eq!(plan, vec![(vec![0x61, 0x62, 0x63], vec![9, 10, 11, 9])]);
        let many: String = (0..300u32)
            .filter_map(|i| char::from_u32(0x4e00 + i))
            .collect();
        let plan = plan_text(&many);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].0.len(), TEXT_KEYMAP_CAPACITY);
        assert_eq!(plan[1].0.len(), 300 - TEXT_KEYMAP_CAPACITY);
        assert!(
            plan.iter()
                .flat_map(|b| &b.1)
                .all(|k| (9..=255).contains(k))
        );
        assert!(plan_text("").is_empty());
    }

    #[test]
    fn text_keymap_names_every_key() {
        let map = text_keymap(&[0x61, 0x0100_263a]);
        assert!(map.contains("<T9> = 9;"));
        assert!(map.contains("key <T10> { [ 0x100263a ] };"));
    }

    #[test]
    fn us_positions() {
        assert_eq!(us_position('a' as u32), Some((30, false)));
        assert_eq!(us_position('A' as u32), Some((30, true)));
        assert_eq!(us_position('!' as u32), Some((2, true)));
        assert_eq!(us_position('|' as u32), Some((43, true)));
        assert_eq!(us_position('/' as u32), Some((53, false)));
        assert_eq!(us_position(0xffc9), Some((88, false)));
        assert_eq!(us_position(0xffbf), Some((60, false)));
        assert_eq!(us_position(0x0100_263a), None);
    }
}
