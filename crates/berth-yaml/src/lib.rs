//! Multi-document YAML → one JSON value per document, plus where every node came from.
//!
//! berth reads manifests the way kubectl does, so that what `berth check` sees is what the API
//! server will get: scalars are resolved like go-yaml v2 / YAML 1.1 (see the `scalar` module), anchors
//! and aliases are expanded (under a budget, against alias bombs), merge keys `<<` are applied
//! and duplicate keys are errors. Alongside each value comes a position index from JSON pointer
//! to [`Pos`]: a mapping member maps to the position of its *key* (a finding on
//! `/spec/replicas` points at `replicas:`), a sequence item to the item's start, and `""` to
//! where the document's content starts.
//!
//! Parsing never panics and keeps going after an error: a broken document is reported with its
//! line and column and the next document (after the next `---`) is still read.
//!
//! The event parser is `granit-parser`, the pure-Rust parser that `serde-saphyr` (and so
//! kube-rs) is built on: one YAML parser in the binary, no `unsafe`, fuzzed upstream, with
//! byte-accurate spans and document-level error recovery that a compiler-like loader needs.

mod emit;
mod scalar;

pub use emit::to_yaml;

use std::collections::{BTreeMap, HashMap};

use berth_model::Pos;
use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Value};

use scalar::ScalarTag;

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
    /// Index of the document in the stream (0-based), counting empty documents too, so it
    /// matches what a reader counts with `---` separators.
    pub index: usize,
    /// The document as JSON, keys in source order.
    pub value: Value,
    /// JSON pointer → position of the node (of the key, for mapping members).
    pub positions: BTreeMap<String, Pos>,
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
    /// The same key twice in one mapping (kubectl rejects this too).
    DuplicateKey,
    /// Alias expansion exceeded [`Options::max_alias_nodes`].
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
pub fn parse_with(text: &str, options: &Options) -> Parsed {
    let mut parser_options = granit_parser::Options::default();
    parser_options.emit_comments = false;
    let mut parser = Parser::new_from_str_with_options(text, parser_options);
    let mut out = Parsed::default();
    let mut doc_index: usize = 0;
    let mut builder: Option<Builder> = None;
    while let Some(next) = parser.next_event() {
        let result = match next {
            Ok((event, span)) => match event {
                Event::StreamStart | Event::Comment(..) | Event::Anchor(..) => Ok(()),
                Event::StreamEnd => break,
                Event::DocumentStart(..) => {
                    builder = Some(Builder::new(text, options));
                    Ok(())
                }
                Event::DocumentEnd => {
                    if let Some(b) = builder.take()
                        && let Some(mut document) = b.finish()
                        && !document.value.is_null()
                    {
                        document.index = doc_index;
                        out.documents.push(document);
                    }
                    doc_index += 1;
                    Ok(())
                }
                event => match builder.as_mut() {
                    Some(b) => b.event(event, span),
                    None => Ok(()),
                },
            },
            Err(e) => Err(scan_error(text, &e)),
        };
        if let Err(mut error) = result {
            error.doc = doc_index;
            out.errors.push(error);
            builder = None;
            // Abandon this document and carry on with the next one, like a compiler does.
            match parser.proceed_next_document() {
                Ok(true) => doc_index += 1,
                Ok(false) | Err(_) => break,
            }
        }
    }
    out
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

fn pos_of(text: &str, m: &granit_parser::Marker) -> Pos {
    let offset = m.byte_offset().unwrap_or_else(|| {
        // Not expected for string input; derive it from the character index.
        text.char_indices()
            .nth(m.index())
            .map_or(text.len(), |(i, _)| i)
    });
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
        offset: u32::try_from(offset).unwrap_or(u32::MAX),
    }
}

fn scan_error(text: &str, e: &ScanError) -> Error {
    let pos = pos_of(text, e.marker());
    let mut message = e.info();
    if matches!(e.kind(), granit_parser::ErrorKind::UnknownAnchor) {
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
    pointer: String,
    anchor: usize,
    /// Node count when the collection started, to size its anchor.
    start_nodes: u64,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Value>),
    Map {
        map: Map<String, Value>,
        /// The key read, waiting for its value.
        key: Option<Key>,
        /// Values of `<<` keys, applied when the mapping ends (explicit keys win).
        merges: Vec<(Value, Pos)>,
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
    text: &'t str,
    options: &'t Options,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// Collected in document order, sorted into a map once at the end (much cheaper than
    /// inserting into a map node by node).
    positions: Vec<(String, Pos)>,
    nodes: u64,
    alias_nodes: u64,
    root: Option<Value>,
    dollar_scalars: BTreeMap<String, ScalarSource>,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str, options: &'t Options) -> Self {
        Builder {
            text,
            options,
            stack: Vec::new(),
            anchors: HashMap::new(),
            positions: Vec::new(),
            nodes: 0,
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
            positions: self.positions.into_iter().collect(),
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
        let pos = pos_of(self.text, &span.start);
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
                let value = scalar_value(&text, style, tag.as_deref())
                    .map_err(|m| self.err(ErrorKind::Value, pos, m))?;
                let pointer = self.child_pointer(pos);
                if value.as_str().is_some_and(|s| s.contains('$')) {
                    let style = match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::SingleQuoted,
                        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                        ScalarStyle::Literal => Style::Literal,
                        ScalarStyle::Folded => Style::Folded,
                    };
                    let end = pos_of(self.text, &span.end);
                    let source = ScalarSource {
                        style,
                        start: pos,
                        end,
                    };
                    self.dollar_scalars.insert(pointer, source);
                }
                if anchor != 0 {
                    self.anchors.insert(
                        anchor,
                        Anchored {
                            value: value.clone(),
                            nodes: 1,
                        },
                    );
                }
                self.insert(value);
                Ok(())
            }
            Event::Alias(id) => {
                let value = self.alias(id, &span, pos)?;
                self.child_pointer(pos);
                self.insert(value);
                Ok(())
            }
            Event::UnresolvedAlias(name) => Err(self.err(
                ErrorKind::Syntax,
                pos,
                format!("alias `*{name}` refers to no anchor; quote the value if it is text"),
            )),
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if let Some(tag) = tag.as_deref()
                    && let Some(m) = collection_tag_error(tag, is_map)
                {
                    return Err(self.err(ErrorKind::Value, pos, m));
                }
                self.nodes += 1;
                let pointer = self.child_pointer(pos);
                let kind = if is_map {
                    FrameKind::Map {
                        map: Map::new(),
                        key: None,
                        merges: Vec::new(),
                    }
                } else {
                    FrameKind::Seq(Vec::new())
                };
                self.stack.push(Frame {
                    pointer,
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
                    FrameKind::Seq(items) => Value::Array(items),
                    FrameKind::Map {
                        mut map, merges, ..
                    } => {
                        for (merged, at) in merges {
                            self.merge(&frame.pointer, &mut map, merged, at)?;
                        }
                        Value::Object(map)
                    }
                };
                if frame.anchor != 0 {
                    let nodes = self.nodes - frame.start_nodes;
                    self.anchors.insert(
                        frame.anchor,
                        Anchored {
                            value: value.clone(),
                            nodes,
                        },
                    );
                }
                // The collection's own position was recorded when it started.
                self.insert(value);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A node in key position.
    fn key(&mut self, event: Event<'_>, span: Span, pos: Pos) -> Result<(), Error> {
        let (value, merge) = match event {
            Event::Scalar(text, style, _, tag) => {
                self.nodes += 1;
                let merge = text == "<<" && style == ScalarStyle::Plain && tag.is_none();
                let value = scalar_value(&text, style, tag.as_deref())
                    .map_err(|m| self.err(ErrorKind::Value, pos, m))?;
                (value, merge)
            }
            Event::Alias(id) => (self.alias(id, &span, pos)?, false),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                return Err(self.err(
                    ErrorKind::Value,
                    pos,
                    "a mapping key is itself a list or mapping; JSON (and Kubernetes) only \
                     allows text keys",
                ));
            }
            _ => return Ok(()),
        };
        let name = match value {
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => {
                return Err(self.err(
                    ErrorKind::Value,
                    pos,
                    "a mapping key is null (empty, `~` or `null`); quote it if it is text",
                ));
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(self.err(
                    ErrorKind::Value,
                    pos,
                    "a mapping key is an alias to a list or mapping; only text keys are allowed",
                ));
            }
        };
        let Some(Frame {
            pointer,
            kind: FrameKind::Map { map, key, .. },
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if !merge && map.contains_key(&name) {
            let member = format!("{pointer}/{}", escape_pointer_token(&name));
            let first = self
                .positions
                .iter()
                .rev()
                .find(|(p, _)| *p == member)
                .map_or(0, |(_, pos)| pos.line);
            let message = format!(
                "duplicate key `{name}` (first on line {first}); kubectl rejects a mapping \
                 with the same key twice: keep one"
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
        self.alias_nodes = self.alias_nodes.saturating_add(anchored.nodes);
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
        self.nodes = self.nodes.saturating_add(anchored.nodes);
        Ok(anchored.value.clone())
    }

    /// The pointer of the node about to be attached, recording its position.
    fn child_pointer(&mut self, pos: Pos) -> String {
        let (pointer, at) = match self.stack.last() {
            None => (String::new(), pos),
            Some(Frame {
                pointer,
                kind: FrameKind::Seq(items),
                ..
            }) => (format!("{pointer}/{}", items.len()), pos),
            Some(Frame {
                pointer,
                kind: FrameKind::Map { key, .. },
                ..
            }) => match key {
                Some(k) => (
                    format!("{pointer}/{}", escape_pointer_token(&k.name)),
                    k.pos,
                ),
                None => (pointer.clone(), pos),
            },
        };
        // `<<` itself is no member: its value is merged into the mapping.
        let is_merge = matches!(
            self.stack.last(),
            Some(Frame {
                kind: FrameKind::Map {
                    key: Some(Key { merge: true, .. }),
                    ..
                },
                ..
            })
        );
        if !is_merge {
            self.positions.push((pointer.clone(), at));
        }
        pointer
    }

    /// Attach a finished node to its parent (or make it the document's root).
    fn insert(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame {
                kind: FrameKind::Seq(items),
                ..
            }) => items.push(value),
            Some(Frame {
                kind: FrameKind::Map { map, key, merges },
                ..
            }) => {
                if let Some(k) = key.take() {
                    if k.merge {
                        merges.push((value, k.pos));
                    } else {
                        map.insert(k.name, value);
                    }
                }
            }
        }
    }

    /// Apply one `<<` value: a mapping, or a list of mappings (earlier ones win).
    fn merge(
        &mut self,
        pointer: &str,
        map: &mut Map<String, Value>,
        merged: Value,
        at: Pos,
    ) -> Result<(), Error> {
        let sources = match merged {
            Value::Object(m) => vec![m],
            Value::Array(items) => {
                let mut maps = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::Object(m) => maps.push(m),
                        _ => return Err(self.bad_merge(at)),
                    }
                }
                maps
            }
            _ => return Err(self.bad_merge(at)),
        };
        for source in sources {
            for (k, v) in source {
                if !map.contains_key(&k) {
                    self.positions
                        .push((format!("{pointer}/{}", escape_pointer_token(&k)), at));
                    map.insert(k, v);
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

/// Resolve a scalar event.
fn scalar_value(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let tag = match tag {
        None => ScalarTag::None,
        Some(t) if t.handle() == "tag:yaml.org,2002:" => match t.suffix() {
            "str" => ScalarTag::Str,
            "int" => ScalarTag::Int,
            "float" => ScalarTag::Float,
            "bool" => ScalarTag::Bool,
            "null" => ScalarTag::Null,
            "map" | "seq" => {
                return Err(format!("the tag `!!{}` does not fit a scalar", t.suffix()));
            }
            _ => ScalarTag::Text,
        },
        Some(_) => ScalarTag::Text,
    };
    scalar::resolve(text, style == ScalarStyle::Plain, tag)
}

fn collection_tag_error(tag: &Tag, is_map: bool) -> Option<String> {
    if tag.handle() != "tag:yaml.org,2002:" {
        return None;
    }
    match (tag.suffix(), is_map) {
        ("map" | "omap" | "pairs" | "set", true) | ("seq", false) => None,
        (s, true) => Some(format!("the tag `!!{s}` does not fit a mapping")),
        (s, false) => Some(format!("the tag `!!{s}` does not fit a list")),
    }
}

#[cfg(test)]
mod tests;
