//! Untrusted text made safe to print and log.
//!
//! Whatever a plugin says — its error messages, its `log` messages, what it
//! writes to stdout and stderr, and the names inside its component — may hold
//! terminal escape sequences (that clear the screen, recolour it or set the
//! window title), carriage returns and newlines (that forge a second log
//! line looking like the host's own), NUL floods or bidirectional-text
//! overrides (that make text read differently from what it is). [`escape`]
//! and [`escape_bytes`] render such text with every one of those characters
//! shown as an escape, so that it can go into a terminal or a log file as
//! one inert line; [`Escaped::truncate`] also bounds it, saying how many
//! bytes were left out.
//!
//! What is escaped, and how:
//!
//! | characters | shown as |
//! |---|---|
//! | NUL, LF, CR | `\0`, `\n`, `\r` |
//! | the other C0 controls (U+0001–U+001F but tab), DEL (U+007F) | `\x1b`, `\x7f`, ... |
//! | C1 controls (U+0080–U+009F) | `\u{9b}`, ... |
//! | bidi marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) | `\u{202e}`, ... |
//! | line and paragraph separators (U+2028, U+2029) | `\u{2028}`, `\u{2029}` |
//! | bytes that are not UTF-8 ([`escape_bytes`]) | `\xff`, ... |
//!
//! Tab is kept: it moves the cursor to the next tab stop and cannot start a
//! line or change the terminal's state. A backslash is kept as it is, so
//! ordinary text (paths, regular expressions) reads unchanged; the escaped
//! form is for people, not meant to be parsed back (the raw bytes stay with
//! the embedder: [`Error::guest_message`](crate::Error::guest_message),
//! [`Captured::bytes`](crate::Captured)).
//!
//! ```
//! use plugbox::safe_text::escape;
//!
//! let hostile = "\x1b[2Jok\nINFO forged entry \u{202e}txt.exe";
//! assert_eq!(
//!     escape(hostile).to_string(),
//!     r"\x1b[2Jok\nINFO forged entry \u{202e}txt.exe"
//! );
//! assert_eq!(
//!     escape(&"\0".repeat(1000)).truncate(4).to_string(),
//!     r"\0\0\0\0… (996 more bytes)"
//! );
//! ```

use std::fmt;

/// `text`, ready to print or log with `{}`: see the [module](self) docs.
pub fn escape(text: &str) -> Escaped<'_> {
    escape_bytes(text.as_bytes())
}

/// `bytes` shown as text, ready to print or log with `{}`: UTF-8 as in
/// [`escape`], every byte that is not part of valid UTF-8 as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> Escaped<'_> {
    Escaped { bytes, limit: None }
}

/// Untrusted text whose `Display` is safe: what [`escape`] and
/// [`escape_bytes`] return. Formatting does the work, so building one costs
/// nothing, e.g. for a log event that no subscriber records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    limit: Option<usize>,
}

impl Escaped<'_> {
    /// Shows at most the first `max_bytes` bytes of the text (cut before a
    /// character that does not fit whole), then `… (N more bytes)` with the
    /// number of bytes left out. The limit counts the text's own bytes, not
    /// the (longer) escaped rendering, which is at most 8 times as long.
    #[must_use]
    pub fn truncate(self, max_bytes: usize) -> Self {
        Self {
            limit: Some(max_bytes),
            ..self
        }
    }

    /// Whether [`truncate`](Self::truncate) leaves part of the text out.
    pub fn is_truncated(&self) -> bool {
        self.limit.is_some_and(|limit| self.bytes.len() > limit)
    }
}

/// The escape for `c`, if it needs one.
fn escape_for(c: char) -> Option<Escape> {
    Some(match c {
        '\0' => Escape::Short('0'),
        '\n' => Escape::Short('n'),
        '\r' => Escape::Short('r'),
        '\t' => return None,
        '\u{1}'..='\u{1f}' | '\u{7f}' => Escape::Byte(c as u8),
        '\u{80}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{2028}'
        | '\u{2029}' => Escape::Unicode(c),
        _ => return None,
    })
}

/// Whether `c` is shown escaped (see the [module](self) docs): a control
/// character, a bidi control, or a line or paragraph separator.
pub fn is_escaped(c: char) -> bool {
    escape_for(c).is_some()
}

enum Escape {
    Short(char),
    Byte(u8),
    Unicode(char),
}

impl fmt::Display for Escape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short(c) => write!(f, "\\{c}"),
            Self::Byte(byte) => write!(f, "\\x{byte:02x}"),
            Self::Unicode(c) => write!(f, "\\u{{{:x}}}", u32::from(*c)),
        }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = self.limit.unwrap_or(usize::MAX);
        // Bytes of the text written (or escaped) so far.
        let mut shown = 0;
        'chunks: for chunk in self.bytes.utf8_chunks() {
            let valid = chunk.valid();
            // Start of the run of characters that need no escape.
            let mut run = 0;
            for (at, c) in valid.char_indices() {
                let end = at + c.len_utf8();
                if shown + end > limit {
                    f.write_str(&valid[run..at])?;
                    shown += at;
                    break 'chunks;
                }
                if let Some(escape) = escape_for(c) {
                    f.write_str(&valid[run..at])?;
                    write!(f, "{escape}")?;
                    run = end;
                }
            }
            f.write_str(&valid[run..])?;
            shown += valid.len();
            for &byte in chunk.invalid() {
                if shown + 1 > limit {
                    break 'chunks;
                }
                write!(f, "{}", Escape::Byte(byte))?;
                shown += 1;
            }
        }
        write!(f, "{}", LeftOut(self.bytes.len() - shown))
    }
}

/// `… (N more bytes)` after a text of which N bytes were left out; nothing
/// for 0.
pub(crate) struct LeftOut(pub(crate) usize);

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str("… (1 more byte)"),
            n => write!(f, "… ({n} more bytes)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        escape(text).to_string()
    }

    /// No character the module promises to escape is left raw.
    fn assert_inert(rendered: &str) {
        assert!(
            !rendered.chars().any(is_escaped),
            "raw control character in {rendered:?}"
        );
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in [
            "",
            "hello, plugbox",
            "tab\tseparated",
            r"C:\path\with\backslashes",
            "grüße, 日本語, emoji 👍🏽",
        ] {
            assert_eq!(shown(text), text);
        }
    }

    #[test]
    fn terminal_escape_sequences_are_shown_escaped() {
        let hostile = "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2";
        let rendered = shown(hostile);
        assert_eq!(rendered, r"\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2");
        assert_inert(&rendered);
    }

    #[test]
    fn newlines_and_carriage_returns_cannot_forge_lines() {
        let rendered = shown("ok\nplugbox: INFO forged\r\n");
        assert_eq!(rendered, r"ok\nplugbox: INFO forged\r\n");
        assert_eq!(rendered.lines().count(), 1);
    }

    #[test]
    fn every_c0_and_c1_control_and_del_is_escaped() {
        for c in ('\0'..='\u{1f}').chain('\u{7f}'..='\u{9f}') {
            let rendered = shown(&c.to_string());
            if c == '\t' {
                assert_eq!(rendered, "\t");
                continue;
            }
            assert_inert(&rendered);
            assert!(rendered.starts_with('\\'), "{c:?} shown as {rendered:?}");
        }
        assert_eq!(shown("\0\u{1}\u{1b}\u{7f}"), r"\0\x01\x1b\x7f");
        assert_eq!(shown("\u{85}\u{9b}"), r"\u{85}\u{9b}");
    }

    #[test]
    fn bidi_controls_and_separators_are_escaped() {
        let all = [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}',
        ];
        for c in all {
            let rendered = shown(&format!("a{c}b"));
            assert_eq!(rendered, format!("a\\u{{{:x}}}b", u32::from(c)));
            assert_inert(&rendered);
        }
        // Neighbours of the ranges are left alone.
        assert_eq!(
            shown("\u{2029}\u{202f}\u{2065}\u{206a}"),
            "\\u{2029}\u{202f}\u{2065}\u{206a}"
        );
    }

    #[test]
    fn invalid_utf8_bytes_are_escaped() {
        let rendered = escape_bytes(b"ok \xff\xfe \xe2\x80 done \x9b[2J").to_string();
        assert_eq!(rendered, r"ok \xff\xfe \xe2\x80 done \x9b[2J");
    }

    #[test]
    fn truncation_counts_the_bytes_left_out() {
        let flood = "\0".repeat(1 << 20);
        let rendered = escape(&flood).truncate(24).to_string();
        assert_eq!(
            rendered,
            format!("{}… (1048552 more bytes)", r"\0".repeat(24))
        );
        assert!(escape(&flood).truncate(24).is_truncated());
        assert_inert(&rendered);
        // Exactly at the limit nothing is left out; one byte over says so.
        assert_eq!(escape("abcd").truncate(4).to_string(), "abcd");
        assert!(!escape("abcd").truncate(4).is_truncated());
        assert_eq!(
            escape("abcde").truncate(4).to_string(),
            "abcd… (1 more byte)"
        );
        assert_eq!(escape("abc").truncate(0).to_string(), "… (3 more bytes)");
    }

    #[test]
    fn truncation_never_splits_a_character() {
        // "é" is 2 bytes: a limit of 2 keeps "a" and leaves 3 bytes out.
        assert_eq!(escape("aéb").truncate(2).to_string(), "a… (3 more bytes)");
        assert_eq!(escape("aéb").truncate(3).to_string(), "aé… (1 more byte)");
        // Invalid bytes count one each.
        assert_eq!(
            escape_bytes(b"a\xff\xffb").truncate(2).to_string(),
            r"a\xff… (2 more bytes)"
        );
    }
}
