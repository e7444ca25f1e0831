//! Cutting a stream into documents the way kubectl does, before any YAML is parsed.
//!
//! kubectl does not let the YAML parser find documents. k8s.io/apimachinery's
//! `YAMLOrJSONDecoder` (what `kubectl apply -f` reads a file with) first looks at the start of
//! the stream: if it starts with `{`, it reads a stream of JSON values; otherwise its
//! `YAMLReader` cuts the text into lines and every line that starts with `---` ends a document.
//! Each piece is then parsed on its own, so a piece is a stream of its own (a BOM may start
//! it, an anchor never reaches into the next one), and of each piece only the first YAML
//! document counts. Reading the same pieces is what makes berth agree with kubectl on where
//! documents begin and end:
//! - a line starting with `---` followed by anything but spaces or a `#` comment (`--- |`,
//!   `--- {a: 1}`, `----`) is an error, and the lines read since the last separator are lost
//!   with it (kubectl reports the error and stops);
//! - a separator line is not part of the next piece, except at the start of the stream or
//!   right after another separator, where it is kept (the parser then sees `---`);
//! - `...` ends nothing for the splitter: text after it, up to the next `---` line, is in the
//!   same piece (kubectl's parser then ignores it; berth reports it, see the crate docs).

/// One piece of a stream, as a byte range of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Byte offset of the piece's first line.
    pub start: usize,
    /// Byte offset just past its last line (including that line's break).
    pub end: usize,
    /// 1-based line number of its first line.
    pub line: u32,
    /// Characters before `start` on that line (0 but for a JSON value that starts mid-line).
    pub column: u32,
    pub kind: PieceKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PieceKind {
    /// YAML text, parsed on its own; only its first document counts.
    Yaml,
    /// One JSON value of a JSON stream (it is YAML too, and parsed as such for positions).
    Json,
    /// A `---` line with content after it; the piece is that line, the message says why.
    BadSeparator(String),
    /// The rest of a JSON stream after a value that is not valid JSON, once two or more
    /// values were read (kubectl stops there); the message is the JSON error.
    BadJson(String),
}

/// How many bytes kubectl looks at to decide whether a stream is JSON (its `StreamVisitor`
/// reads with this buffer size, and `GuessJSONStream` peeks that far).
const JSON_SNIFF: usize = 4096;

/// The pieces of `text`, in order. Empty pieces are never returned; a piece of only
/// comments or `---` is (it reads as an empty document).
pub(crate) fn split(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    // kubectl drops a byte-order mark before it looks (its FileVisitor decodes UTF-8 with BOM
    // override); for YAML the parser skips it.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut at = 0;
    let skipped = text[bom..].len() - text[bom..].trim_start().len();
    if skipped < JSON_SNIFF && text[bom + skipped..].starts_with('{') {
        at = split_json(text, bom, &mut out);
    }
    split_yaml(text, at, &mut out);
    out
}

/// A JSON stream, value by value. Returns where YAML reading takes over: kubectl falls back
/// to YAML when the first or second value is not JSON (from the start of that value, after
/// the rest of its line's leading whitespace), and gives up after that.
fn split_json(text: &str, from: usize, out: &mut Vec<Piece>) -> usize {
    let mut values =
        serde_json::Deserializer::from_str(&text[from..]).into_iter::<serde_json::Value>();
    let mut consumed = from;
    let mut count = 0;
    let mut lines = Lines::new(text);
    loop {
        match values.next() {
            None => return text.len(),
            Some(Ok(_)) => {
                let end = from + values.byte_offset();
                let start =
                    consumed + (text[consumed..end].len() - text[consumed..end].trim_start().len());
                let (line, column) = lines.at(start);
                out.push(Piece {
                    start,
                    end,
                    line,
                    column,
                    kind: PieceKind::Json,
                });
                consumed = end;
                count += 1;
            }
            Some(Err(e)) => {
                if count > 1 {
                    let start =
                        consumed + (text[consumed..].len() - text[consumed..].trim_start().len());
                    let (line, column) = lines.at(start);
                    out.push(Piece {
                        start,
                        end: text.len(),
                        line,
                        column,
                        kind: PieceKind::BadJson(e.to_string()),
                    });
                    return text.len();
                }
                // kubectl's consumeWhitespace: blanks up to and including the first line break.
                let rest = &text[consumed..];
                let mut skip = 0;
                for c in rest.chars() {
                    if !c.is_whitespace() {
                        break;
                    }
                    skip += c.len_utf8();
                    if c == '\n' {
                        break;
                    }
                }
                return consumed + skip;
            }
        }
    }
}

/// kubectl's `YAMLReader`: lines (ending in `\n`), cut at lines starting with `---`.
fn split_yaml(text: &str, from: usize, out: &mut Vec<Piece>) {
    let mut line_no = line_of(text, from);
    let mut piece: Option<(usize, u32)> = None;
    let mut at = from;
    while at < text.len() {
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
        let line = &text[at..end];
        if let Some(rest) = line.strip_prefix("---") {
            let trimmed = rest.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                piece = None;
                out.push(Piece {
                    start: at,
                    end,
                    line: line_no,
                    column: if at == from { column_of(text, from) } else { 0 },
                    kind: PieceKind::BadSeparator(trimmed.to_string()),
                });
                at = end;
                line_no += line_breaks(line);
                continue;
            }
            if let Some((start, first)) = piece.take() {
                out.push(Piece {
                    start,
                    end: at,
                    line: first,
                    column: if start == from {
                        column_of(text, from)
                    } else {
                        0
                    },
                    kind: PieceKind::Yaml,
                });
                at = end;
                line_no += line_breaks(line);
                continue;
            }
        }
        if piece.is_none() {
            piece = Some((at, line_no));
        }

        at = end;
        line_no += line_breaks(line);
    }
    if let Some((start, line)) = piece {
        out.push(Piece {
            start,
            end: text.len(),
            line,
            column: if start == from {
                column_of(text, from)
            } else {
                0
            },
            kind: PieceKind::Yaml,
        });
    }
}

/// Line and column (0-based, in characters) of increasing offsets, in one pass over the text
/// (a JSON stream may hold thousands of values on one line).
struct Lines<'t> {
    text: &'t str,
    offset: usize,
    line: u32,
    column: u32,
    after_cr: bool,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Lines {
            text,
            offset: 0,
            line: 1,
            column: 0,
            after_cr: false,
        }
    }

    /// Where `offset` is; offsets must not decrease from one call to the next.
    fn at(&mut self, offset: usize) -> (u32, u32) {
        for c in self.text[self.offset..offset].chars() {
            match c {
                '\n' if self.after_cr => {}
                '\n' | '\r' => (self.line, self.column) = (self.line + 1, 0),
                // A byte-order mark starting a line takes no column.
                '\u{feff}' if self.column == 0 => {}
                _ => self.column += 1,
            }
            self.after_cr = c == '\r';
        }
        self.offset = offset;
        (self.line, self.column)
    }
}

/// Line breaks in a line cut at `\n`: that one, and any lone `\r` before it.
fn line_breaks(line: &str) -> u32 {
    let breaks = line.matches(['\n', '\r']).count() - line.matches("\r\n").count();
    u32::try_from(breaks).unwrap_or(u32::MAX)
}

/// Characters before a byte offset on its line (a BOM starting the text takes none).
fn column_of(text: &str, offset: usize) -> u32 {
    let before = &text[..offset];
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let chars = before[line_start..]
        .trim_start_matches('\u{feff}')
        .chars()
        .count();
    u32::try_from(chars).unwrap_or(u32::MAX)
}

/// 1-based line number at a byte offset, counting `\n`, `\r\n` and lone `\r` as breaks (as
/// the YAML parser does, so that positions from both agree).
pub(crate) fn line_of(text: &str, offset: usize) -> u32 {
    let before = &text.as_bytes()[..offset];
    let mut lines = 1u32;
    let mut prev_cr = false;
    for &b in before {
        match b {
            b'\n' if prev_cr => {}
            b'\n' | b'\r' => lines += 1,
            _ => {}
        }
        prev_cr = b == b'\r';
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<(&str, PieceKind)> {
        split(text)
            .into_iter()
            .map(|p| (&text[p.start..p.end], p.kind))
            .collect()
    }

    #[test]
    fn separators_cut_and_are_kept_only_at_the_start() {
        use PieceKind::Yaml;
        assert_eq!(
            pieces("---\na: 1\n---\nb: 2\n--- # c\n---\nc: 3"),
            vec![("---\na: 1\n", Yaml), ("b: 2\n", Yaml), ("---\nc: 3", Yaml)]
        );
        assert_eq!(pieces("a: 1\n---#x\nb: 2\n").len(), 2);
        assert_eq!(
            pieces("a: 1\n...\nb: 2\n"),
            vec![("a: 1\n...\nb: 2\n", Yaml)]
        );
    }

    #[test]
    fn content_after_a_separator_is_an_error_that_drops_the_piece_read_so_far() {
        let p = pieces("a: 1\n---\nb: 2\n--- |\n  x\n");
        assert_eq!(p[0], ("a: 1\n", PieceKind::Yaml));
        assert_eq!(p[1], ("--- |\n", PieceKind::BadSeparator("|".into())));
        assert_eq!(p[2], ("  x\n", PieceKind::Yaml));
        assert_eq!(p.len(), 3);
        assert_eq!(pieces("----\n")[0].1, PieceKind::BadSeparator("-".into()));
    }

    #[test]
    fn json_streams_are_cut_value_by_value() {
        let p = pieces(" {\"a\": 1}\n{\"b\": 2}\n");
        assert_eq!(
            p,
            vec![
                ("{\"a\": 1}", PieceKind::Json),
                ("{\"b\": 2}", PieceKind::Json)
            ]
        );
        // Not JSON at the second value: YAML from the next line on.
        let p = pieces("{\"a\": 1}\n---\nb: 2\n");
        assert_eq!(p[0], ("{\"a\": 1}", PieceKind::Json));
        assert_eq!(p[1], ("---\nb: 2\n", PieceKind::Yaml));
        // Not JSON after two values: kubectl gives up.
        let p = pieces("{}\n{}\nx: 1\n");
        assert!(matches!(p[2].1, PieceKind::BadJson(_)), "{p:?}");
    }

    #[test]
    fn lines_count_every_kind_of_break() {
        assert_eq!(line_of("a\r\nb\rc\nd", 8), 4);
    }
}
