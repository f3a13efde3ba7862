//! Valve's text KeyValues ("VDF"): `libraryfolders.vdf`, `appmanifest_<id>.acf`, `loginusers.vdf`.
//!
//! ```text
//! "AppState"
//! {
//!     "appid"     "570"
//!     "name"      "Dota 2"
//!     "UserConfig" { "language" "english" }
//! }
//! ```
//! Keys and values are quoted strings (with `\"`, `\\`, `\n`, `\t` escapes) or bare tokens; a value
//! is a string or a `{ … }` block; `//` starts a comment; a `[$WIN32]`-style condition after a value
//! is skipped. Keys compare case-insensitively (Steam writes both `"AppState"` and `"appstate"`), and
//! a repeated key keeps every occurrence in file order.
//!
//! Files come from disk and may be truncated or corrupt: every error says where (line) and what,
//! nothing panics, and nesting is bounded so a hostile file cannot exhaust the stack.

use super::{KeyValues, Value};

/// Blocks nested deeper than this are refused (Steam's own files use at most five levels).
pub const MAX_DEPTH: usize = 64;

/// Why a text VDF file could not be parsed; every variant gives the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextVdfError {
    /// A quoted string runs to the end of the file.
    #[error("line {line}: unterminated quoted string")]
    UnterminatedString {
        /// Line (1-based) where the string starts.
        line: usize,
    },
    /// A key is followed by the end of its block or file instead of a value.
    #[error("line {line}: expected a value after key {key:?}")]
    MissingValue {
        /// Line (1-based) of the key.
        line: usize,
        /// The key without a value.
        key: String,
    },
    /// A character that cannot appear here, such as a `}` without a block or a `{` where a key belongs.
    #[error("line {line}: unexpected '{found}'")]
    Unexpected {
        /// Line (1-based) where it appears.
        line: usize,
        /// The character.
        found: char,
    },
    /// The file ends inside a `{ … }` block.
    #[error("line {line}: block not closed at the end of the file")]
    UnclosedBlock {
        /// Line (1-based) where the file ends.
        line: usize,
    },
    /// Blocks are nested deeper than [`MAX_DEPTH`].
    #[error("line {line}: blocks nested deeper than {MAX_DEPTH}")]
    TooDeep {
        /// Line (1-based) of the block that is one too deep.
        line: usize,
    },
}

/// Parses a whole file: a sequence of `key value` pairs at the top level (normally one block).
pub fn parse(text: &str) -> Result<KeyValues, TextVdfError> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut root = Vec::new();
    // Each open block: its key and its pairs so far (an explicit stack, not recursion).
    let mut open: Vec<(String, Vec<(String, Value)>)> = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let line = lexer.line;
        match token {
            None if open.is_empty() => return Ok(KeyValues(root)),
            None => return Err(TextVdfError::UnclosedBlock { line }),
            Some(Token::Close) => {
                let Some((key, pairs)) = open.pop() else {
                    return Err(TextVdfError::Unexpected { line, found: '}' });
                };
                let parent = open.last_mut().map_or(&mut root, |(_, p)| p);
                parent.push((key, Value::Block(KeyValues(pairs))));
            }
            Some(Token::Open) => return Err(TextVdfError::Unexpected { line, found: '{' }),
            Some(Token::Condition) => {}
            Some(Token::Text(key)) => match lexer.next_token()? {
                Some(Token::Text(value)) => {
                    let parent = open.last_mut().map_or(&mut root, |(_, p)| p);
                    parent.push((key, Value::Text(value)));
                }
                Some(Token::Open) => {
                    if open.len() >= MAX_DEPTH {
                        return Err(TextVdfError::TooDeep { line: lexer.line });
                    }
                    open.push((key, Vec::new()));
                }
                // `"key" [$COND] { … }` also occurs.
                Some(Token::Condition) => match lexer.next_token()? {
                    Some(Token::Open) if open.len() < MAX_DEPTH => open.push((key, Vec::new())),
                    Some(Token::Open) => return Err(TextVdfError::TooDeep { line: lexer.line }),
                    _ => {
                        return Err(TextVdfError::MissingValue {
                            line: lexer.line,
                            key,
                        });
                    }
                },
                None | Some(Token::Close) => {
                    return Err(TextVdfError::MissingValue {
                        line: lexer.line,
                        key,
                    });
                }
            },
        }
    }
}

enum Token {
    Text(String),
    Open,
    Close,
    /// `[$WIN32]`, `[!$X360]`: platform conditions, ignored.
    Condition,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Lexer<'_> {
    fn next_token(&mut self) -> Result<Option<Token>, TextVdfError> {
        loop {
            let Some(&c) = self.chars.peek() else {
                return Ok(None);
            };
            match c {
                '\n' => {
                    self.line += 1;
                    self.chars.next();
                }
                c if c.is_whitespace() || c == '\u{feff}' => {
                    self.chars.next();
                }
                '/' => {
                    self.chars.next();
                    if self.chars.peek() == Some(&'/') {
                        while self.chars.peek().is_some_and(|&c| c != '\n') {
                            self.chars.next();
                        }
                    } else {
                        return Err(TextVdfError::Unexpected {
                            line: self.line,
                            found: '/',
                        });
                    }
                }
                '{' => {
                    self.chars.next();
                    return Ok(Some(Token::Open));
                }
                '}' => {
                    self.chars.next();
                    return Ok(Some(Token::Close));
                }
                '[' => {
                    for c in self.chars.by_ref() {
                        match c {
                            ']' => return Ok(Some(Token::Condition)),
                            '\n' => break,
                            _ => {}
                        }
                    }
                    return Err(TextVdfError::Unexpected {
                        line: self.line,
                        found: '[',
                    });
                }
                '"' => {
                    self.chars.next();
                    return self.quoted().map(|s| Some(Token::Text(s)));
                }
                _ => return Ok(Some(Token::Text(self.bare()))),
            }
        }
    }

    fn quoted(&mut self) -> Result<String, TextVdfError> {
        let start = self.line;
        let mut out = String::new();
        while let Some(c) = self.chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match self.chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    // Steam writes Windows paths with single backslashes in some files.
                    Some(other) => {
                        out.push('\\');
                        if other == '\n' {
                            self.line += 1;
                        }
                        out.push(other);
                    }
                    None => break,
                },
                '\n' => {
                    self.line += 1;
                    out.push('\n');
                }
                c => out.push(c),
            }
        }
        Err(TextVdfError::UnterminatedString { line: start })
    }

    fn bare(&mut self) -> String {
        let mut out = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_whitespace() || matches!(c, '"' | '{' | '}' | '[') {
                break;
            }
            out.push(c);
            self.chars.next();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MANIFEST: &str = r#"
"AppState"
{
	"appid"		"570"
	"Universe"		"1"
	"name"		"Dota 2"
	"StateFlags"		"4"
	"installdir"		"dota 2 beta"
	"UserConfig"
	{
		"language"		"english"
	}
	// a comment
	"path"	"C:\\Games\\dota \"2\""
}
"#;

    #[test]
    fn reads_an_app_manifest() {
        let kv = parse(MANIFEST).unwrap();
        let app = kv.block("appstate").expect("case-insensitive key");
        assert_eq!(app.text("appid"), Some("570"));
        assert_eq!(app.text("NAME"), Some("Dota 2"));
        assert_eq!(app.text("installdir"), Some("dota 2 beta"));
        assert_eq!(
            app.block("UserConfig").and_then(|u| u.text("language")),
            Some("english")
        );
        assert_eq!(app.text("path"), Some(r#"C:\Games\dota "2""#));
    }

    #[test]
    fn repeated_keys_bare_tokens_and_conditions() {
        let kv = parse("root { a 1 a 2 \"b\" \"x\" [$WIN32] c [$LINUX] { d e } }").unwrap();
        let root = kv.block("root").unwrap();
        let all: Vec<&str> = root.texts("a").collect();
        assert_eq!(all, ["1", "2"]);
        assert_eq!(root.text("b"), Some("x"));
        assert_eq!(root.block("c").and_then(|c| c.text("d")), Some("e"));
    }

    #[test]
    fn broken_files_say_where() {
        assert_eq!(
            parse("\"a\" {\n \"b\" \"c\n"),
            Err(TextVdfError::UnterminatedString { line: 2 })
        );
        assert_eq!(
            parse("\"a\" {\n\"b\" \"c\"\n"),
            Err(TextVdfError::UnclosedBlock { line: 3 })
        );
        assert!(matches!(
            parse("\"a\"\n}"),
            Err(TextVdfError::MissingValue { line: 2, .. })
        ));
        assert_eq!(
            parse("}"),
            Err(TextVdfError::Unexpected {
                line: 1,
                found: '}'
            })
        );
        let deep = "a {".repeat(MAX_DEPTH + 1) + &"}".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(&deep), Err(TextVdfError::TooDeep { .. })));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panicking(text in "[\"{}\\[\\]/\\\\ a-z0-9\n$]{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn quoted_strings_round_trip(key in "[ -~]{0,20}", value in "[ -~\n\t]{0,40}") {
            let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\t', "\\t");
            let text = format!("\"{}\" \"{}\"", escape(&key), escape(&value));
            let kv = parse(&text).unwrap();
            prop_assert_eq!(kv.0.len(), 1);
            prop_assert_eq!(&kv.0[0].0, &key);
            prop_assert_eq!(&kv.0[0].1, &Value::Text(value));
        }
    }
}
