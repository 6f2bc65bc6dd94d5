//! Guest text as `plugbox run` shows it: escaped ([`plugbox::safe_text`]),
//! one line of ours per line of the plugin's, each with a prefix saying whose
//! it is, and long texts cut with the count of bytes left out.

use plugbox::safe_text::{escape, escape_bytes};

/// The most bytes of one captured stream shown (the default
/// `capture_bytes`).
pub const CAPTURED_SHOWN_BYTES: usize = 64 << 10;

/// What a plugin wrote to a captured stream: `plugin NAME: line` per line,
/// the plugin's newlines turned into our own lines, after the first
/// [`CAPTURED_SHOWN_BYTES`] bytes `… (N more bytes)`. Empty if it wrote
/// nothing.
pub fn captured(name: &str, captured: &plugbox::Captured) -> String {
    let bytes = captured
        .bytes
        .strip_suffix(b"\n")
        .unwrap_or(&captured.bytes);
    if bytes.is_empty() {
        return String::new();
    }
    let shown = &bytes[..cut(bytes, CAPTURED_SHOWN_BYTES)];
    let truncated = if captured.truncated {
        " (truncated)"
    } else {
        ""
    };
    let mut text = String::new();
    for line in shown.split(|&byte| byte == b'\n') {
        text.push_str(&format!(
            "plugin {name}{truncated}: {}\n",
            escape_bytes(line)
        ));
    }
    let left_out = bytes.len() - shown.len();
    if left_out > 0 {
        text.pop();
        text.push_str(&format!("… ({left_out} more bytes)\n"));
    }
    text
}

/// A wasm backtrace, line by line, every line indented under the error.
/// It names the guest's own functions, and a name may hold a newline, which
/// cannot be told from the backtrace's own: indented, the rest of such a name
/// cannot pass for a line of plugbox's.
pub fn backtrace(backtrace: &str) -> String {
    backtrace
        .lines()
        .map(|line| format!("  {}\n", escape(line)))
        .collect()
}

/// The response for a terminal: the plugin's lines kept, everything else
/// that could drive the terminal escaped. (Into a pipe or a file the response
/// goes raw: it is the plugin's output, and may well be binary.)
pub fn for_terminal(output: &[u8]) -> Vec<u8> {
    output
        .split(|&byte| byte == b'\n')
        .map(|line| escape_bytes(line).to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// The length of the longest prefix of `bytes` of at most `max` bytes that
/// does not end inside a UTF-8 character.
fn cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    // Back over at most 3 continuation bytes to the start of a character.
    let mut end = max;
    while end > 0 && max - end < 3 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    if bytes[end] & 0xC0 == 0x80 { max } else { end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_controls(text: &str) -> Vec<char> {
        text.chars()
            .filter(|&c| c != '\n' && plugbox::safe_text::is_escaped(c))
            .collect()
    }

    #[test]
    fn captured_lines_are_escaped_and_prefixed() {
        let shown = captured(
            "stdout",
            &plugbox::Captured {
                bytes: b"one\n\x1b[2Jtwo\rthree\n".to_vec(),
                truncated: false,
            },
        );
        assert_eq!(
            shown,
            "plugin stdout: one\nplugin stdout: \\x1b[2Jtwo\\rthree\n"
        );
        assert!(raw_controls(&shown).is_empty());
        let none = plugbox::Captured::default();
        assert_eq!(captured("stderr", &none), "");
    }

    #[test]
    fn a_captured_flood_is_cut_with_the_count() {
        let flood = plugbox::Captured {
            bytes: vec![0; 1 << 20],
            truncated: true,
        };
        let shown = captured("stdout", &flood);
        assert!(
            shown.starts_with("plugin stdout (truncated): \\0\\0"),
            "{}",
            &shown[..40]
        );
        let left_out = (1 << 20) - CAPTURED_SHOWN_BYTES;
        assert!(shown.ends_with(&format!("\\0… ({left_out} more bytes)\n")));
        assert_eq!(shown.lines().count(), 1);
        assert!(raw_controls(&shown).is_empty());
    }

    #[test]
    fn cuts_fall_between_characters() {
        let text = "aé".repeat(10);
        let bytes = text.as_bytes();
        for max in 0..bytes.len() {
            let end = cut(bytes, max);
            assert!(end <= max && max - end <= 1, "{max} -> {end}");
            assert!(std::str::from_utf8(&bytes[..end]).is_ok());
        }
        // Not UTF-8 at all: cut where asked.
        assert_eq!(cut(&[0x80; 10], 5), 5);
    }

    #[test]
    fn the_terminal_sees_the_lines_but_no_controls() {
        let shown = for_terminal(b"line one\n\x1b]0;title\x07\xff\nlast");
        assert_eq!(
            String::from_utf8(shown).unwrap(),
            "line one\n\\x1b]0;title\\x07\\xff\nlast"
        );
        assert_eq!(
            backtrace("header:\n  0: f\x1b[2J\nplugbox: forged\n  1: g\n"),
            "  header:\n    0: f\\x1b[2J\n  plugbox: forged\n    1: g\n"
        );
    }
}
