//! Multi-document YAML → one JSON value per document, plus where every node came from.
//!
//! berth reads manifests the way kubectl does, so that what `berth check` sees is what the API
//! server will get. kubectl's reading is k8s.io/apimachinery's `YAMLOrJSONDecoder` and
//! sigs.k8s.io/yaml (go-yaml v2, YAML 1.1), and berth follows it step by step:
//! - the stream is cut into documents at lines that start with `---`, as kubectl's
//!   `YAMLReader` cuts it, and a stream that starts with `{` is read as JSON values (see the
//!   `split` module); of each piece only the first document counts;
//! - scalars are resolved like go-yaml v2 (see the `scalar` module): `yes`/`on` are booleans,
//!   `0755` octal, integral floats are sent as integers exactly when Go's text for them is one;
//! - anchors and aliases are expanded (under a budget, and with go-yaml's own check against
//!   excessive aliasing), merge keys `<<` are applied in go-yaml's order (a merge replaces the
//!   keys written before it), keys are written as sigs.k8s.io/yaml writes them (`1.5e+06`);
//!   tags on lists and mappings are ignored, `!!binary` is decoded.
//!
//! The differential test `tests/kubectl_differential.rs` holds berth to this: it reads a corpus
//! of tricky YAML with berth-yaml and with kubectl's own code (`testbed/go/yamljson`) and
//! requires the same verdict and the same JSON for every document.
//!
//! # Deliberate differences from kubectl
//!
//! Where kubectl loses data without a word or the difference would cost more than it is
//! worth, berth reads differently on purpose. These are the only differences the differential
//! test allows, each by name:
//! - **Duplicate keys** are an error ([`ErrorKind::DuplicateKey`]). kubectl keeps the last value
//!   and drops the first without a word; a key written twice is an editing mistake whose first
//!   value the user still believes in.
//! - **Files that are not UTF-8** are refused by berth's loader (berth-yaml only takes text).
//!   kubectl replaces each byte that is not UTF-8 with U+FFFD (and decodes UTF-16 with a BOM),
//!   so a Latin-1 `é` in a ConfigMap reaches the cluster as `�`.
//! - **A second document without a `---` line** in one piece (after `...`, or after a `---`
//!   that only a lone CR line break separates) is an error. kubectl's parser reads the first
//!   document and ignores the rest without a word: objects would go missing.
//! - **Tabs that YAML 1.2 allows as separation** — after `-` or `?`, on a blank line, before
//!   a line's content in block context — are read. kubectl's YAML 1.1 scanner stops there
//!   ("found character that cannot start any token", "found a tab character that violates
//!   indentation"). Its rule depends on scanner state that granit does not expose, and a
//!   look-alike check would risk refusing files that kubectl reads; the value berth reads is
//!   the one the text shows.
//! - **Nesting deeper than 255 levels** is an error (granit's limit, which also keeps every
//!   later step, all recursive over values, far from the stack's end); kubectl allows 10,000.
//!
//! Alongside each value comes a position index from JSON pointer to [`Pos`]: a mapping member
//! maps to the position of its *key* (a finding on `/spec/replicas` points at `replicas:`), a
//! sequence item to the item's start, and `""` to where the document's content starts; what an
//! alias or a merge key brings in points at the alias or the `<<`.
//!
//! Parsing never panics and keeps going after an error: a broken document is reported with its
//! line and column and the next document (after the next `---`) is still read.
//!
//! The event parser is `granit-parser`, the pure-Rust parser that `serde-saphyr` (and so
//! kube-rs) is built on: one YAML parser in the binary, no `unsafe`, fuzzed upstream, with
//! byte-accurate spans and document-level error recovery that a compiler-like loader needs.

mod emit;
mod scalar;
mod split;

pub use emit::to_yaml;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use berth_model::{PointerHash, Pos, Positions};
use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Value};

use scalar::ScalarTag;
use split::{Piece, PieceKind};

/// Limits that keep hostile input cheap.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many nodes alias expansion may create in one document in total. A "billion laughs"
    /// document stops here with an error instead of exhausting memory.
    pub max_alias_nodes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_alias_nodes: 1_000_000,
        }
    }
}

/// One non-empty YAML document of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Index of the document in the stream (0-based), counting empty documents too: the
    /// index of its piece as kubectl cuts the stream at `---` lines (see the crate docs).
    pub index: usize,
    /// The document as JSON, keys in source order.
    pub value: Value,
    /// JSON pointer → position of the node (of the key, for mapping members), compactly
    /// (pointer hashes, see [`Positions`]).
    pub positions: Positions,
    /// Pointer → how and where each string value that contains a `$` was written.
    /// Placeholder substitution needs this: `"${port}"` stays text while a plain `${port}`
    /// takes the value's type, and a finding about a placeholder inside a block scalar points
    /// at the placeholder, not at the scalar's first line.
    pub dollar_scalars: BTreeMap<String, ScalarSource>,
}

impl Document {
    /// Whether the string at `pointer` was written quoted or as a block scalar (and holds a
    /// `$`): such a scalar is text whatever it contains.
    pub fn is_quoted(&self, pointer: &str) -> bool {
        self.dollar_scalars
            .get(pointer)
            .is_some_and(|s| s.style != Style::Plain)
    }
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|`
    Literal,
    /// `>`
    Folded,
}

/// Where a scalar's source text is: from `start` (its first character: the opening quote; for
/// a block scalar the first character of its content, after the header line and indentation)
/// to `end` (just after its last character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalarSource {
    pub style: Style,
    pub start: Pos,
    pub end: Pos,
}

/// What went wrong while reading YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not well-formed YAML (includes unknown aliases such as `password: ******`).
    Syntax,
    /// The same key twice in one mapping (kubectl keeps the last one without a word; see the
    /// crate docs).
    DuplicateKey,
    /// Alias expansion exceeded [`Options::max_alias_nodes`], or go-yaml's limit on the share
    /// of a document that comes from aliases (kubectl refuses such a document too).
    Budget,
    /// Well-formed YAML that has no JSON form: infinity, a tag that does not fit its value,
    /// a complex or null mapping key, a bad merge key, a recursive alias.
    Value,
}

/// A YAML error, pointing at the source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {message}", pos.line, pos.column)]
pub struct Error {
    /// What kind of problem it is.
    pub kind: ErrorKind,
    /// One or two sentences for the user: what is wrong and, where we can tell, how to fix it.
    pub message: String,
    /// Where it is (1-based line and column, byte offset).
    pub pos: Pos,
    /// Index of the document the error is in.
    pub doc: usize,
}

/// Every document that could be read, and every error met on the way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// The non-empty documents that could be read, in order.
    pub documents: Vec<Document>,
    /// The errors met, in order; each abandoned (the rest of) its document.
    pub errors: Vec<Error>,
}

/// Parse a (multi-document) YAML text with default [`Options`].
pub fn parse(text: &str) -> Parsed {
    parse_with(text, &Options::default())
}

/// Parse a (multi-document) YAML text. Empty documents (and documents that are only `null`)
/// are skipped, as kubectl skips them.
///
/// The text is cut into documents the way kubectl cuts it (see the `split` module), and
/// each piece is parsed on its own: an error abandons only its own document.
pub fn parse_with(text: &str, options: &Options) -> Parsed {
    let mut out = Parsed::default();
    for (index, piece) in split::split(text).into_iter().enumerate() {
        let at = Pos {
            line: piece.line,
            column: piece.column + 1,
            offset: u32::try_from(piece.start).unwrap_or(u32::MAX),
        };
        let syntax = |message: String| Error {
            kind: ErrorKind::Syntax,
            message,
            pos: at,
            doc: index,
        };
        let result = match &piece.kind {
            PieceKind::Yaml | PieceKind::Json => parse_piece(text, &piece, options),
            PieceKind::BadSeparator(rest) => Err(syntax(format!(
                "a `---` line may only be followed by a comment, not `{rest}`: kubectl refuses \
                 this line (and drops the lines since the previous `---`); put `{rest}` on a \
                 line of its own"
            ))),
            PieceKind::BadJson(e) => Err(syntax(format!(
                "this file is a stream of JSON values and this is not one ({e}); kubectl \
                 stops reading here"
            ))),
        };
        match result {
            Ok(Some(mut document)) => {
                if !document.value.is_null() {
                    document.index = index;
                    out.documents.push(document);
                }
            }
            Ok(None) => {}
            Err(mut error) => {
                error.doc = index;
                out.errors.push(error);
            }
        }
    }
    out
}

/// Parse one piece of the stream: its first document, as kubectl's parser reads only that.
fn parse_piece(text: &str, piece: &Piece, options: &Options) -> Result<Option<Document>, Error> {
    let src = &text[piece.start..piece.end];
    let base = Base {
        offset: piece.start,
        line: piece.line - 1,
        column: piece.column,
    };
    let json = piece.kind == PieceKind::Json;
    if let Some(offset) = document_end_first(src) {
        let pos = base.pos(src, offset);
        return Err(Error {
            kind: ErrorKind::Syntax,
            message: "`...` ends a document that has not started; kubectl refuses this \
                      (\"did not find expected node content\"): remove the line"
                .to_string(),
            pos,
            doc: 0,
        });
    }
    // Two things libyaml (kubectl) reads and granit refuses are rewritten in place, with text
    // of the same length (so every position stays), and the piece parsed again:
    // - a comment right after a quoted scalar or a bracket (`'x'#c`) is blanked out;
    // - the escape `\'` in a double-quoted scalar (YAML 1.1 has it, 1.2 not) becomes `\a`,
    //   and the builder turns the BEL it decodes to back into `'` (see `apostrophes`).
    let mut src = Cow::Borrowed(src);
    let mut apostrophes = Vec::new();
    loop {
        match parse_source(text, &src, base, options, json, &apostrophes) {
            Err(Parse::CommentNotSeparated(at)) => {
                let s = src.to_mut();
                let end = s[at..].find(['\n', '\r']).map_or(s.len(), |i| at + i);
                let blanks = " ".repeat(end - at);
                s.replace_range(at..end, &blanks);
            }
            Err(Parse::UnknownEscape(quote, error)) => {
                let found = escaped_apostrophes(&src, quote);
                if found.is_empty() {
                    return Err(error);
                }
                for &at in &found {
                    src.to_mut().replace_range(at + 1..at + 2, "a");
                }
                apostrophes.extend(found);
                apostrophes.sort_unstable();
            }
            Err(Parse::Failed(e)) => return Err(e),
            Ok(document) => return Ok(document),
        }
    }
}

/// `items` without spare capacity. Every object of a stack stays in memory until the checks
/// are done, and a list grown item by item has room for up to twice its items.
fn exact_list(mut items: Vec<Value>) -> Vec<Value> {
    items.shrink_to_fit();
    items
}

/// The members of a mapping being read, in order, until it ends.
///
/// A serde_json map (an `IndexMap`) grown member by member keeps room for as many members as
/// its hash table could hold (a mapping of one member had room for three), and every stack
/// object stays in memory until the checks are done; and looking a key up hashes it. So the
/// members are gathered in a list, with duplicates found by comparing keys (through an index
/// of the keys only in a large mapping), and the map is built once at its exact size when the
/// mapping ends: each key is hashed once.
#[derive(Default)]
struct Members {
    /// Key, value, and whether the key was written here (not merged in with `<<`).
    entries: Vec<(String, Value, bool)>,
    /// Key → position in `entries`, kept once the mapping has more than [`Members::SCAN`].
    index: Option<HashMap<String, usize>>,
}

impl Members {
    /// Up to this many members a key is found by comparing it with each.
    const SCAN: usize = 16;

    fn find(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _, _)| k == key),
        }
    }

    /// Whether `key` was already written in this mapping (not merged in).
    fn written(&self, key: &str) -> bool {
        self.find(key).is_some_and(|i| self.entries[i].2)
    }

    /// Sets `key` to `value`: in place when the mapping has it (from `<<`, or written before
    /// a `<<` brought it in), else as the last member.
    fn set(&mut self, key: String, value: Value, written: bool) {
        if let Some(i) = self.find(&key) {
            let entry = &mut self.entries[i];
            entry.1 = value;
            entry.2 |= written;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        } else if self.entries.len() == Self::SCAN {
            let mut index: HashMap<String, usize> = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _, _))| (k.clone(), i))
                .collect();
            index.insert(key.clone(), self.entries.len());
            self.index = Some(index);
        }
        self.entries.push((key, value, written));
    }

    /// The map, at its exact size.
    fn into_map(self) -> Map<String, Value> {
        self.entries.into_iter().map(|(k, v, _)| (k, v)).collect()
    }
}

/// Offsets of the `\'` escapes of the double-quoted scalar whose opening quote is at `quote`.
fn escaped_apostrophes(src: &str, quote: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let Some(body) = src
        .get(quote + 1..)
        .filter(|_| src[quote..].starts_with('"'))
    else {
        return found;
    };
    let mut bytes = body.bytes().enumerate();
    while let Some((i, b)) = bytes.next() {
        match b {
            b'"' => break,
            b'\\' => {
                if let Some((_, b'\'')) = bytes.next() {
                    found.push(quote + 1 + i);
                }
            }
            _ => {}
        }
    }
    found
}

enum Parse {
    Failed(Error),
    /// A comment not separated from what precedes it starts at this offset.
    CommentNotSeparated(usize),
    /// A double-quoted scalar starting at this offset holds an escape granit does not know.
    UnknownEscape(usize, Error),
}

impl From<Error> for Parse {
    fn from(e: Error) -> Self {
        Parse::Failed(e)
    }
}

/// The first document of a piece's text.
fn parse_source(
    text: &str,
    src: &str,
    base: Base,
    options: &Options,
    json: bool,
    apostrophes: &[usize],
) -> Result<Option<Document>, Parse> {
    let mut parser_options = granit_parser::Options::default();
    parser_options.emit_comments = false;
    parser_options.emit_anchor_events = true;
    let mut parser = Parser::new_from_str_with_options(src, parser_options);
    let mut builder: Option<Builder> = None;
    let mut document: Option<Option<Document>> = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(next) => next,
            Err(e) => {
                let at = e.marker().byte_offset().unwrap_or(usize::MAX);
                if matches!(e.kind(), granit_parser::ErrorKind::CommentNotSeparated)
                    && src.as_bytes().get(at) == Some(&b'#')
                {
                    return Err(Parse::CommentNotSeparated(at));
                }
                let error = scan_error(text, base, src, &e);
                if matches!(
                    e.kind(),
                    granit_parser::ErrorKind::UnknownQuotedScalarEscape
                ) {
                    return Err(Parse::UnknownEscape(at, error));
                }
                return Err(error.into());
            }
        };
        match event {
            Event::StreamStart | Event::Comment(..) => {}
            Event::Anchor(_, name) => check_anchor_name(&name, base.marker(src, &span.start))?,
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                if document.is_none() {
                    builder = Some(Builder::new(src, base, options, json, apostrophes));
                }
            }
            Event::DocumentEnd => {
                if document.is_none() {
                    document = Some(builder.take().and_then(Builder::finish));
                }
            }
            event => match builder.as_mut() {
                Some(b) => b.event(event, span)?,
                // A node of a second document in the piece: kubectl's parser never reads it.
                None => {
                    return Err(Parse::Failed(Error {
                        kind: ErrorKind::Syntax,
                        message: "this starts a second document without a `---` line that \
                                  kubectl sees (after `...`, or after a `---` that only a lone \
                                  CR line break separates): kubectl reads only the first one and \
                                  ignores this one without a word; put `---` on a line of its \
                                  own before it"
                            .to_string(),
                        pos: base.pos(src, span.start.byte_offset().unwrap_or(0)),
                        doc: 0,
                    }));
                }
            },
        }
    }
    Ok(document.flatten())
}

/// libyaml (kubectl) allows only ASCII letters, digits, `-` and `_` in anchor names, YAML 1.2
/// (granit) much more: a name kubectl cannot read is refused.
fn check_anchor_name(name: &str, pos: Pos) -> Result<(), Error> {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(());
    }
    Err(Error {
        kind: ErrorKind::Syntax,
        message: format!(
            "the anchor name `{name}` holds characters kubectl does not allow in anchor names \
             (only letters, digits, `-` and `_`)"
        ),
        pos,
        doc: 0,
    })
}

/// Offset of a `...` line that comes before any content of a piece (comments and blank lines
/// aside). go-yaml refuses such a piece ("did not find expected node content").
fn document_end_first(src: &str) -> Option<usize> {
    let mut offset = 0;
    for raw in src.split_inclusive('\n') {
        let line = raw.trim_start_matches('\u{feff}');
        if let Some(rest) = line.strip_prefix("...")
            && rest.chars().next().is_none_or(char::is_whitespace)
        {
            return Some(offset + raw.len() - line.len());
        }
        let content = line.trim_start();
        if !(content.is_empty() || content.starts_with('#')) {
            return None;
        }
        offset += raw.len();
    }
    None
}

/// Read a lone plain scalar (`--set name=value` text) the way a plain YAML scalar is read:
/// `3` is a number, `yes` a boolean, `nginx:1.2` text. Errors for values JSON cannot hold.
pub fn resolve_plain_scalar(text: &str) -> Result<Value, String> {
    scalar::resolve(text, true, ScalarTag::None)
}

/// RFC 6901 escaping of one pointer token.
pub fn escape_pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// Where a piece starts in the whole text: positions from its parser are made whole with it.
#[derive(Clone, Copy, Debug)]
struct Base {
    offset: usize,
    /// Lines before the piece.
    line: u32,
    /// Columns before the piece on its first line (a JSON value may start mid-line).
    column: u32,
}

impl Base {
    /// The position of a byte offset into the piece `src`.
    fn pos(self, src: &str, offset: usize) -> Pos {
        let before = src.get(..offset).unwrap_or(src);
        let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        let mut column = before[line_start..]
            .trim_start_matches('\u{feff}')
            .chars()
            .count()
            + 1;
        if line_start == 0 {
            column += self.column as usize;
        }
        Pos {
            line: self.line + split::line_of(src, before.len()),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            offset: u32::try_from(self.offset + before.len()).unwrap_or(u32::MAX),
        }
    }

    fn marker(self, src: &str, m: &granit_parser::Marker) -> Pos {
        let offset = m.byte_offset().unwrap_or_else(|| {
            // Not expected for string input; derive it from the character index.
            src.char_indices()
                .nth(m.index())
                .map_or(src.len(), |(i, _)| i)
        });
        let first_line = if m.line() == 1 { self.column } else { 0 };
        Pos {
            line: self.line + u32::try_from(m.line()).unwrap_or(u32::MAX),
            column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX) + first_line,
            offset: u32::try_from(self.offset + offset).unwrap_or(u32::MAX),
        }
    }
}

fn scan_error(text: &str, base: Base, src: &str, e: &ScanError) -> Error {
    let pos = base.marker(src, e.marker());
    let mut message = e.info();
    if matches!(e.kind(), granit_parser::ErrorKind::RecursionLimitExceeded) {
        message = "lists and mappings nest deeper than 255 levels here; berth stops at 255 \
                   (kubectl at 10,000)"
            .to_string();
    } else if matches!(e.kind(), granit_parser::ErrorKind::UnknownAnchor) {
        let rest = text.get(pos.offset as usize..).unwrap_or("");
        let token: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ',')
            .collect();
        message = format!(
            "`{token}` is read as a YAML alias (`*name` refers to an anchor `&name`) and no \
             such anchor exists; a value that starts with `*` must be quoted, e.g. \"{token}\""
        );
    } else if message.contains("cannot start any token")
        && text.as_bytes().get(pos.offset as usize) == Some(&b'\t')
    {
        message = "a tab character cannot indent YAML; use spaces".to_string();
    } else if message.contains("cannot start any token")
        && let Some(c @ ('@' | '`')) = text
            .get(pos.offset as usize..)
            .and_then(|r| r.chars().next())
    {
        message = format!("`{c}` cannot start a plain YAML value; quote the value");
    }
    Error {
        kind: ErrorKind::Syntax,
        message,
        pos,
        doc: 0,
    }
}

/// A collection being built.
struct Frame {
    /// Its pointer's hash (the text is rebuilt from the frames when needed, which is rare).
    hash: PointerHash,
    anchor: usize,
    /// Node count when the collection started, to size its anchor.
    start_nodes: u64,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Value>),
    Map {
        /// The members so far; a key written twice is an error.
        map: Members,
        /// The key read, waiting for its value.
        key: Option<Key>,
    },
}

struct Key {
    name: String,
    pos: Pos,
    merge: bool,
}

/// An anchored node, kept for its aliases.
struct Anchored {
    value: Value,
    nodes: u64,
}

/// Turns the events of one document into a value and its position index.
struct Builder<'t> {
    /// The piece of text being parsed (spans are relative to it).
    text: &'t str,
    base: Base,
    options: &'t Options,
    /// The piece is a JSON value (JSON allows the `\/` escape that kubectl's YAML does not).
    json: bool,
    /// Offsets of `\'` escapes rewritten as `\a` (see `parse_piece`), sorted.
    apostrophes: &'t [usize],
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// Collected in document order, sorted once at the end (much cheaper than inserting into
    /// a map node by node). Pointers are hashed token by token: no pointer text per node.
    positions: Vec<(PointerHash, Pos)>,
    /// Nodes decoded so far, counted as go-yaml v2 counts them for its alias check: the
    /// document, every key and value, every alias and everything an alias expands to.
    nodes: u64,
    /// Of those, the ones that came from alias expansion.
    alias_nodes: u64,
    root: Option<Value>,
    dollar_scalars: BTreeMap<String, ScalarSource>,
}

impl<'t> Builder<'t> {
    fn new(
        text: &'t str,
        base: Base,
        options: &'t Options,
        json: bool,
        apostrophes: &'t [usize],
    ) -> Self {
        Builder {
            text,
            base,
            options,
            json,
            apostrophes,
            stack: Vec::new(),
            anchors: HashMap::new(),
            positions: Vec::new(),
            nodes: 1,
            alias_nodes: 0,
            root: None,
            dollar_scalars: BTreeMap::new(),
        }
    }

    fn finish(self) -> Option<Document> {
        let value = self.root?;
        Some(Document {
            index: 0,
            value,
            positions: Positions::from_hashes(self.positions),
            dollar_scalars: self.dollar_scalars,
        })
    }

    fn err(&self, kind: ErrorKind, pos: Pos, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            pos,
            doc: 0,
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Error> {
        let pos = self.base.marker(self.text, &span.start);
        // A node in key position of a mapping is a key, not a value.
        if let Some(Frame {
            kind: FrameKind::Map { key: None, .. },
            ..
        }) = self.stack.last()
            && !matches!(event, Event::MappingEnd)
        {
            return self.key(event, span, pos);
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.nodes += 1;
                let text = self.apostrophes_back(text, &span);
                self.check_escapes(style, &span, pos)?;
                self.check_line_breaks(style, &text, pos)?;
                let json_number = (self.json && style == ScalarStyle::Plain)
                    .then(|| scalar::json_number(&text))
                    .flatten();
                let value = match json_number {
                    Some(n) => n,
                    None => scalar_value(&text, style, tag.as_deref())
                        .map_err(|m| self.err(ErrorKind::Value, pos, m))?,
                };
                self.child_hash(pos);
                if value.as_str().is_some_and(|s| s.contains('$')) {
                    let style = match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::SingleQuoted,
                        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                        ScalarStyle::Literal => Style::Literal,
                        ScalarStyle::Folded => Style::Folded,
                    };
                    let end = self.base.marker(self.text, &span.end);
                    let source = ScalarSource {
                        style,
                        start: pos,
                        end,
                    };
                    self.dollar_scalars.insert(self.pointer_text(), source);
                }
                self.anchor(anchor, &value, 1);
                self.insert(value)
            }
            Event::Alias(id) => {
                let value = self.alias(id, &span, pos)?;
                // go-yaml merges a list written in place, never one named by an alias.
                if value.is_array() && self.merging() {
                    return Err(self.bad_merge(pos));
                }
                let hash = self.child_hash(pos);
                self.descendants(hash, &value, pos);
                self.insert(value)
            }
            Event::UnresolvedAlias(name) => Err(self.err(
                ErrorKind::Syntax,
                pos,
                format!("alias `*{name}` refers to no anchor; quote the value if it is text"),
            )),
            // go-yaml v2 reads a collection by its kind whatever its tag says.
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                // A list merged with `<<` is no node to go-yaml: only its items are.
                if !is_map && self.merging() {
                    self.nodes -= 1;
                }
                self.nodes += 1;
                let hash = self.child_hash(pos);
                let kind = if is_map {
                    FrameKind::Map {
                        map: Members::default(),
                        key: None,
                    }
                } else {
                    FrameKind::Seq(Vec::new())
                };
                self.stack.push(Frame {
                    hash,
                    anchor,
                    start_nodes: self.nodes - 1,
                    kind,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let value = match frame.kind {
                    FrameKind::Seq(items) => Value::Array(exact_list(items)),
                    FrameKind::Map { map, .. } => Value::Object(map.into_map()),
                };
                let nodes = self.nodes - frame.start_nodes;
                self.anchor(frame.anchor, &value, nodes);
                // The collection's own position was recorded when it started.
                self.insert(value)
            }
            _ => Ok(()),
        }
    }

    /// Whether the node about to be attached is the value of a `<<` key.
    fn merging(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                kind: FrameKind::Map {
                    key: Some(Key { merge: true, .. }),
                    ..
                },
                ..
            })
        )
    }

    fn anchor(&mut self, anchor: usize, value: &Value, nodes: u64) {
        if anchor != 0 {
            let value = value.clone();
            self.anchors.insert(anchor, Anchored { value, nodes });
        }
    }

    /// The text of a scalar with its `\'` escapes restored: each BEL that a rewritten `\a`
    /// decoded to becomes `'` (a BEL from a `\a`, `\x07`… of the source stays).
    fn apostrophes_back<'s>(&self, text: Cow<'s, str>, span: &Span) -> Cow<'s, str> {
        let Some(range) = span.byte_range() else {
            return text;
        };
        let first = self.apostrophes.partition_point(|&a| a < range.start);
        if self.apostrophes.get(first).is_none_or(|&a| a >= range.end) {
            return text;
        }
        let raw = &self.text[range.clone()];
        // Which escapes of the source decode to BEL, in order, and whether each was rewritten.
        let mut bells = Vec::new();
        let mut i = 0;
        while let Some(j) = raw[i..].find('\\') {
            let at = i + j;
            let rest = &raw[at + 1..];
            if rest.starts_with('a') {
                bells.push(self.apostrophes.binary_search(&(range.start + at)).is_ok());
            } else if ["x07", "u0007", "U00000007"]
                .iter()
                .any(|e| rest.starts_with(e))
            {
                bells.push(false);
            }
            i = at + 1 + rest.chars().next().map_or(0, char::len_utf8);
        }
        let mut bells = bells.into_iter();
        text.chars()
            .map(|c| match c {
                '\u{7}' if bells.next() == Some(true) => '\'',
                c => c,
            })
            .collect::<String>()
            .into()
    }

    /// YAML 1.1 (kubectl) breaks lines at U+0085, U+2028 and U+2029 too, YAML 1.2 (granit)
    /// does not: a plain scalar holding one is read differently by the two (kubectl mostly
    /// refuses it), so berth refuses it and asks for quotes.
    fn check_line_breaks(&self, style: ScalarStyle, text: &str, pos: Pos) -> Result<(), Error> {
        if style != ScalarStyle::Plain {
            return Ok(());
        }
        match text
            .chars()
            .find(|c| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'))
        {
            Some(c) => Err(self.err(
                ErrorKind::Syntax,
                pos,
                format!(
                    "this unquoted value holds U+{:04X}, which kubectl's YAML 1.1 reader takes \
                     for a line break; quote the value",
                    u32::from(c)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// kubectl's YAML 1.1 reader knows every escape of a double-quoted scalar but `\/`, which
    /// YAML 1.2 added: it refuses the document, so berth does too.
    fn check_escapes(&self, style: ScalarStyle, span: &Span, pos: Pos) -> Result<(), Error> {
        if style != ScalarStyle::DoubleQuoted || self.json {
            return Ok(());
        }
        let raw = span
            .byte_range()
            .and_then(|r| self.text.get(r))
            .unwrap_or("");
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.next() == Some('/') {
                return Err(self.err(
                    ErrorKind::Syntax,
                    pos,
                    "`\\/` is a YAML 1.2 escape that kubectl's YAML 1.1 reader does not know \
                     (\"found unknown escape character\"); write `/`",
                ));
            }
        }
        Ok(())
    }

    /// A node in key position.
    fn key(&mut self, event: Event<'_>, span: Span, pos: Pos) -> Result<(), Error> {
        let (name, merge) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let text = self.apostrophes_back(text, &span);
                let merge = text == "<<"
                    && ((style == ScalarStyle::Plain && tag.is_none())
                        || tag.as_deref().is_some_and(|t| {
                            t.handle() == "tag:yaml.org,2002:" && t.suffix() == "merge"
                        }));
                if !merge {
                    self.nodes += 1;
                }
                self.check_escapes(style, &span, pos)?;
                self.check_line_breaks(style, &text, pos)?;
                if anchor != 0 {
                    let value = scalar_value(&text, style, tag.as_deref())
                        .map_err(|m| self.err(ErrorKind::Value, pos, m))?;
                    self.anchor(anchor, &value, 1);
                }
                let name = scalar_key(&text, style, tag.as_deref())
                    .map_err(|m| self.err(ErrorKind::Value, pos, m))?;
                (name, merge)
            }
            Event::Alias(id) => {
                let value = self.alias(id, &span, pos)?;
                (self.key_text(value, pos)?, false)
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                return Err(self.err(
                    ErrorKind::Value,
                    pos,
                    "a mapping key is itself a list or mapping; JSON (and Kubernetes) only \
                     allows text keys",
                ));
            }
            Event::UnresolvedAlias(name) => {
                return Err(self.err(
                    ErrorKind::Syntax,
                    pos,
                    format!("alias `*{name}` refers to no anchor; quote the value if it is text"),
                ));
            }
            _ => return Ok(()),
        };
        let Some(Frame {
            hash,
            kind: FrameKind::Map { key, map, .. },
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if !merge && map.written(&name) {
            let member = hash.child(&name);
            let first = self
                .positions
                .iter()
                .rev()
                .find(|(p, _)| *p == member)
                .map_or(0, |(_, pos)| pos.line);
            let message = format!(
                "duplicate key `{name}` (first on line {first}); kubectl would keep the last \
                 one without a word: keep one"
            );
            return Err(Error {
                kind: ErrorKind::DuplicateKey,
                message,
                pos,
                doc: 0,
            });
        }
        *key = Some(Key { name, pos, merge });
        Ok(())
    }

    /// The text of a key given as an alias (sigs.k8s.io/yaml turns go-yaml's key into text).
    fn key_text(&self, value: Value, pos: Pos) -> Result<String, Error> {
        match value {
            Value::String(s) => Ok(s),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Null => Err(self.err(
                ErrorKind::Value,
                pos,
                "a mapping key is null (empty, `~` or `null`); quote it if it is text",
            )),
            Value::Array(_) | Value::Object(_) => Err(self.err(
                ErrorKind::Value,
                pos,
                "a mapping key is an alias to a list or mapping; only text keys are allowed",
            )),
        }
    }

    fn alias(&mut self, id: usize, span: &Span, pos: Pos) -> Result<Value, Error> {
        let name = span
            .byte_range()
            .and_then(|r| self.text.get(r))
            .unwrap_or("*")
            .to_string();
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(self.err(
                ErrorKind::Value,
                pos,
                format!("alias `{name}` is used inside the node its anchor names (a cycle)"),
            ));
        };
        let expanded = anchored.nodes;
        let value = anchored.value.clone();
        self.alias_nodes = self.alias_nodes.saturating_add(expanded);
        self.nodes = self.nodes.saturating_add(1 + expanded);
        if self.alias_nodes > self.options.max_alias_nodes {
            return Err(self.err(
                ErrorKind::Budget,
                pos,
                format!(
                    "aliases expand to more than {} nodes in this document (at `{name}`); \
                     this looks like an alias bomb",
                    self.options.max_alias_nodes
                ),
            ));
        }
        if excessive_aliasing(self.alias_nodes, self.nodes) {
            return Err(self.err(
                ErrorKind::Budget,
                pos,
                format!(
                    "aliases make up {} of this document's {} nodes (at `{name}`): kubectl \
                     refuses a document with that much aliasing (\"document contains \
                     excessive aliasing\"); this looks like an alias bomb",
                    self.alias_nodes, self.nodes
                ),
            ));
        }
        Ok(value)
    }

    /// The pointer hash of the node about to be attached, recording its position.
    fn child_hash(&mut self, pos: Pos) -> PointerHash {
        let (hash, at) = match self.stack.last() {
            None => (PointerHash::ROOT, pos),
            Some(Frame {
                hash,
                kind: FrameKind::Seq(items),
                ..
            }) => (hash.index(items.len()), pos),
            Some(Frame {
                hash,
                kind: FrameKind::Map { key, .. },
                ..
            }) => match key {
                Some(k) => (hash.child(&k.name), k.pos),
                None => (*hash, pos),
            },
        };
        // `<<` itself is no member: its value is merged into the mapping.
        if !self.merging() {
            self.positions.push((hash, at));
        }
        hash
    }

    /// The pointer text of the node about to be attached, rebuilt from the frames: each
    /// frame's child being built is the next frame (or this node), at the frame's pending key
    /// or next index. Only the few scalars that hold a `$` need it.
    fn pointer_text(&self) -> String {
        use std::fmt::Write;
        let mut p = String::new();
        for frame in &self.stack {
            match &frame.kind {
                FrameKind::Seq(items) => {
                    // Writing to a String cannot fail.
                    let _ = write!(p, "/{}", items.len());
                }
                FrameKind::Map { key: Some(k), .. } => {
                    p.push('/');
                    p.push_str(&escape_pointer_token(&k.name));
                }
                FrameKind::Map { key: None, .. } => {}
            }
        }
        p
    }

    /// Positions for everything inside a value that has no source of its own (an alias
    /// expansion, a merged member): they point at where it was brought in.
    fn descendants(&mut self, hash: PointerHash, value: &Value, at: Pos) {
        match value {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = hash.child(k);
                    self.descendants(p, v, at);
                    self.positions.push((p, at));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let p = hash.index(i);
                    self.descendants(p, v, at);
                    self.positions.push((p, at));
                }
            }
            _ => {}
        }
    }

    /// Attach a finished node to its parent (or make it the document's root).
    fn insert(&mut self, value: Value) -> Result<(), Error> {
        let merged = match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                return Ok(());
            }
            Some(Frame {
                kind: FrameKind::Seq(items),
                ..
            }) => {
                items.push(value);
                return Ok(());
            }
            Some(Frame {
                kind: FrameKind::Map { map, key, .. },
                ..
            }) => match key.take() {
                Some(Key {
                    merge: true, pos, ..
                }) => (value, pos),
                Some(k) => {
                    map.set(k.name, value, true);
                    return Ok(());
                }
                None => return Ok(()),
            },
        };
        self.merge(merged.0, merged.1)
    }

    /// Apply one `<<` value as go-yaml v2 does, at the point where it is written: a mapping's
    /// members, or those of a list of mappings (earlier ones win), replace what the mapping
    /// holds so far; keys written after `<<` replace merged ones in turn.
    fn merge(&mut self, merged: Value, at: Pos) -> Result<(), Error> {
        let sources = match merged {
            Value::Object(m) => vec![m],
            Value::Array(items) => {
                let mut maps = Vec::with_capacity(items.len());
                for item in items.into_iter().rev() {
                    match item {
                        Value::Object(m) => maps.push(m),
                        _ => return Err(self.bad_merge(at)),
                    }
                }
                maps
            }
            _ => return Err(self.bad_merge(at)),
        };
        let Some(&Frame { hash, .. }) = self.stack.last() else {
            return Ok(());
        };
        for source in sources {
            for (k, v) in source {
                let p = hash.child(&k);
                self.descendants(p, &v, at);
                self.positions.push((p, at));
                if let Some(Frame {
                    kind: FrameKind::Map { map, .. },
                    ..
                }) = self.stack.last_mut()
                {
                    map.set(k, v, false);
                }
            }
        }
        Ok(())
    }

    fn bad_merge(&self, at: Pos) -> Error {
        self.err(
            ErrorKind::Value,
            at,
            "the merge key `<<` needs a mapping or a list of mappings (usually an alias such as \
             `<<: *defaults`)",
        )
    }
}

/// go-yaml v2's check against alias bombs, which kubectl applies to every document: once a
/// document has more than 1,000 nodes and 100 of them come from aliases, at most 99% may come
/// from aliases (sliding down to 10% between 400,000 and 4,000,000 nodes).
fn excessive_aliasing(alias_nodes: u64, nodes: u64) -> bool {
    const LOW: u64 = 400_000;
    const HIGH: u64 = 4_000_000;
    let allowed = if nodes <= LOW {
        0.99
    } else if nodes >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((nodes - LOW) as f64 / (HIGH - LOW) as f64)
    };
    alias_nodes > 100 && nodes > 1000 && alias_nodes as f64 / nodes as f64 > allowed
}

/// The tag of a scalar, as far as resolution cares. go-yaml v2 resolves only the core scalar
/// tags; any other tag (`!!map` on a scalar too) keeps the text.
fn scalar_tag(tag: Option<&Tag>) -> ScalarTag {
    match tag {
        None => ScalarTag::None,
        Some(t) if t.handle() == "tag:yaml.org,2002:" => match t.suffix() {
            "str" => ScalarTag::Str,
            "int" => ScalarTag::Int,
            "float" => ScalarTag::Float,
            "bool" => ScalarTag::Bool,
            "null" => ScalarTag::Null,
            "binary" => ScalarTag::Binary,
            _ => ScalarTag::Text,
        },
        Some(_) => ScalarTag::Text,
    }
}

/// Resolve a scalar event.
fn scalar_value(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    scalar::resolve(text, style == ScalarStyle::Plain, scalar_tag(tag))
}

/// The text of a scalar key.
fn scalar_key(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<String, String> {
    scalar::resolve_key(text, style == ScalarStyle::Plain, scalar_tag(tag))
}

#[cfg(test)]
mod tests;
