//! Valve's binary KeyValues, as in `userdata/<user>/config/shortcuts.vdf` (the user's non-Steam
//! games). Each entry is a type byte, a NUL-terminated key and a value: `0x00` a nested block ended
//! by `0x08`, `0x01` a NUL-terminated string, `0x02` a little-endian i32, `0x03` an f32, `0x07` a
//! u64. Numbers become decimal text, so callers read both formats through one [`KeyValues`] API.
//! Strings are whatever bytes Steam wrote (non-UTF-8 names are kept, lossily).
//!
//! Truncated or corrupt files get an error with the byte offset; nothing panics; nesting is bounded.

use super::{KeyValues, Value};

/// Blocks nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;

const BLOCK: u8 = 0x00;
const STRING: u8 = 0x01;
const INT32: u8 = 0x02;
const FLOAT32: u8 = 0x03;
const UINT64: u8 = 0x07;
const END: u8 = 0x08;

/// Why a binary VDF file could not be parsed; every variant gives the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryVdfError {
    /// The file ends inside an entry (key, string or number cut off).
    #[error("offset {offset}: the file ends inside an entry")]
    Truncated {
        /// Byte offset where the entry starts.
        offset: usize,
    },
    /// A type byte that is not block, string, int32, float32, uint64 or end.
    #[error("offset {offset}: unknown entry type {kind:#04x}")]
    UnknownType {
        /// Byte offset of the type byte.
        offset: usize,
        /// The type byte.
        kind: u8,
    },
    /// Blocks are nested deeper than [`MAX_DEPTH`].
    #[error("offset {offset}: blocks nested deeper than {MAX_DEPTH}")]
    TooDeep {
        /// Byte offset of the block that is one too deep.
        offset: usize,
    },
    /// Bytes follow the end of the top-level block.
    #[error("offset {offset}: data after the end of the top-level block")]
    TrailingData {
        /// Byte offset of the first extra byte.
        offset: usize,
    },
}

/// Parses a whole file (its top level is ended by `0x08` or by the end of the data).
pub fn parse(data: &[u8]) -> Result<KeyValues, BinaryVdfError> {
    let mut reader = Reader { data, offset: 0 };
    let mut open: Vec<(String, Vec<(String, Value)>)> = Vec::new();
    let mut root = Vec::new();
    loop {
        let Some(kind) = reader.byte() else {
            if open.is_empty() {
                return Ok(KeyValues(root));
            }
            return Err(BinaryVdfError::Truncated {
                offset: reader.offset,
            });
        };
        if kind == END {
            match open.pop() {
                Some((key, pairs)) => {
                    let parent = open.last_mut().map_or(&mut root, |(_, p)| p);
                    parent.push((key, Value::Block(KeyValues(pairs))));
                    continue;
                }
                None if reader.offset == data.len() => return Ok(KeyValues(root)),
                // Steam ends the file with one extra 0x08 after the root block.
                None if data.get(reader.offset..).is_some_and(|rest| rest == [END]) => {
                    return Ok(KeyValues(root));
                }
                None => {
                    return Err(BinaryVdfError::TrailingData {
                        offset: reader.offset,
                    });
                }
            }
        }
        let at = reader.offset - 1;
        let key = reader.string()?;
        let value = match kind {
            BLOCK => {
                if open.len() >= MAX_DEPTH {
                    return Err(BinaryVdfError::TooDeep { offset: at });
                }
                open.push((key, Vec::new()));
                continue;
            }
            STRING => reader.string()?,
            INT32 => i32::from_le_bytes(reader.array()?).to_string(),
            FLOAT32 => f32::from_le_bytes(reader.array()?).to_string(),
            UINT64 => u64::from_le_bytes(reader.array()?).to_string(),
            kind => return Err(BinaryVdfError::UnknownType { offset: at, kind }),
        };
        let parent = open.last_mut().map_or(&mut root, |(_, p)| p);
        parent.push((key, Value::Text(value)));
    }
}

struct Reader<'a> {
    data: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.offset)?;
        self.offset += 1;
        Some(b)
    }

    fn string(&mut self) -> Result<String, BinaryVdfError> {
        let rest = self.data.get(self.offset..).unwrap_or_default();
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(BinaryVdfError::Truncated {
                offset: self.data.len(),
            });
        };
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.offset += len + 1;
        Ok(text)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BinaryVdfError> {
        let bytes = self
            .data
            .get(self.offset..self.offset + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or(BinaryVdfError::Truncated {
                offset: self.data.len(),
            })?;
        self.offset += N;
        Ok(bytes)
    }
}

/// Writes `kv` in the binary format (for test fixtures: a Steam install is not needed to make a
/// `shortcuts.vdf`). Text values are written as strings except those `ints` names, written as i32.
pub fn write(kv: &KeyValues, ints: &[&str]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kv: &KeyValues, ints: &[&str]) {
        for (key, value) in &kv.0 {
            match value {
                Value::Block(inner) => {
                    out.push(BLOCK);
                    out.extend_from_slice(key.as_bytes());
                    out.push(0);
                    block(out, inner, ints);
                    out.push(END);
                }
                Value::Text(text) => match text.parse::<i32>() {
                    Ok(n) if ints.iter().any(|i| i.eq_ignore_ascii_case(key)) => {
                        out.push(INT32);
                        out.extend_from_slice(key.as_bytes());
                        out.push(0);
                        out.extend_from_slice(&n.to_le_bytes());
                    }
                    _ => {
                        out.push(STRING);
                        out.extend_from_slice(key.as_bytes());
                        out.push(0);
                        out.extend_from_slice(text.as_bytes());
                        out.push(0);
                    }
                },
            }
        }
    }
    let mut out = Vec::new();
    block(&mut out, kv, ints);
    out.push(END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shortcuts() -> Vec<u8> {
        let mut d = vec![BLOCK];
        d.extend_from_slice(b"shortcuts\0");
        d.push(BLOCK);
        d.extend_from_slice(b"0\0");
        d.push(INT32);
        d.extend_from_slice(b"appid\0");
        d.extend_from_slice(&(-1_234_567_i32).to_le_bytes());
        d.push(STRING);
        d.extend_from_slice(b"AppName\0My \xffGame\0");
        d.push(STRING);
        d.extend_from_slice(b"Exe\0\"/opt/game/run.sh\"\0");
        d.push(UINT64);
        d.extend_from_slice(b"LastPlayTime\0");
        d.extend_from_slice(&7u64.to_le_bytes());
        d.push(BLOCK);
        d.extend_from_slice(b"tags\0");
        d.push(END);
        d.extend_from_slice(&[END, END, END]);
        d
    }

    #[test]
    fn reads_steam_shortcuts() {
        let kv = parse(&shortcuts()).unwrap();
        let entry = kv.block("shortcuts").and_then(|s| s.block("0")).unwrap();
        assert_eq!(entry.text("appid"), Some("-1234567"));
        assert_eq!(entry.text("appname"), Some("My \u{fffd}Game"));
        assert_eq!(entry.text("exe"), Some("\"/opt/game/run.sh\""));
        assert_eq!(entry.text("LastPlayTime"), Some("7"));
        assert!(entry.block("tags").is_some());
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let full = shortcuts();
        for cut in 1..full.len() - 1 {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            parse(&[0x05, b'k', 0]),
            Err(BinaryVdfError::UnknownType {
                offset: 0,
                kind: 0x05
            })
        );
    }

    #[test]
    fn written_fixtures_read_back() {
        let kv = parse(&shortcuts()).unwrap();
        let again = parse(&write(&kv, &["appid"])).unwrap();
        assert_eq!(again.block("shortcuts"), kv.block("shortcuts"));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_err_without_panicking(data in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2), Just(8), any::<u8>()], 0..300)) {
            let _ = parse(&data);
        }
    }
}
