use super::*;
use serde_json::json;

fn one(text: &str) -> Document {
    let p = parse(text);
    assert!(p.errors.is_empty(), "unexpected errors: {:?}", p.errors);
    assert_eq!(p.documents.len(), 1, "{:?}", p.documents);
    p.documents.into_iter().next().unwrap()
}

fn err(text: &str) -> Error {
    let p = parse(text);
    assert_eq!(p.errors.len(), 1, "expected one error, got {:?}", p.errors);
    p.errors.into_iter().next().unwrap()
}

fn at(d: &Document, pointer: &str) -> (u32, u32) {
    let p = d
        .positions
        .get(pointer)
        .unwrap_or_else(|| panic!("no position for {pointer}"));
    (p.line, p.column)
}

#[test]
fn positions_point_at_keys_and_items() {
    let text = "\
# a comment
apiVersion: apps/v1
kind: Deployment
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: nginx
        -   name: side
";
    let d = one(text);
    assert_eq!(d.value["spec"]["replicas"], json!(3));
    assert_eq!(at(&d, ""), (2, 1));
    assert_eq!(at(&d, "/spec/replicas"), (5, 3));
    assert_eq!(at(&d, "/spec/template/spec/containers"), (8, 7));
    assert_eq!(at(&d, "/spec/template/spec/containers/0"), (9, 11));
    assert_eq!(at(&d, "/spec/template/spec/containers/0/image"), (10, 11));
    assert_eq!(at(&d, "/spec/template/spec/containers/1/name"), (11, 13));
    // Offsets are bytes into the text.
    let off = d.positions["/spec/replicas"].offset as usize;
    assert!(text[off..].starts_with("replicas: 3"));
}

#[test]
fn offsets_are_bytes_with_multibyte_text() {
    let text = "a: \"é🦀\"\nb: 1\n";
    let d = one(text);
    let off = d.positions["/b"].offset as usize;
    assert!(text[off..].starts_with("b: 1"));
    assert_eq!(at(&d, "/b"), (2, 1));
}

#[test]
fn pointer_tokens_are_escaped() {
    let d = one("metadata:\n  annotations:\n    example.com/a~b: x\n");
    assert_eq!(at(&d, "/metadata/annotations/example.com~1a~0b"), (3, 5));
    assert_eq!(
        d.value.pointer("/metadata/annotations/example.com~1a~0b"),
        Some(&json!("x"))
    );
}

#[test]
fn multi_document_and_empty_documents_are_skipped() {
    let text = "---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n~\n";
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let idx: Vec<usize> = p.documents.iter().map(|d| d.index).collect();
    assert_eq!(idx, vec![1, 3]);
    assert_eq!(p.documents[0].value, json!({"a": 1}));
    assert_eq!(p.documents[1].value, json!({"b": 2}));
    assert_eq!(at(&p.documents[1], ""), (7, 1));
}

#[test]
fn empty_text_has_no_documents() {
    for t in ["", "\n\n", "# nothing\n", "---\n", "---\n...\n"] {
        let p = parse(t);
        assert!(
            p.documents.is_empty() && p.errors.is_empty(),
            "{t:?}: {p:?}"
        );
    }
}

#[test]
fn scalars_read_like_kubectl() {
    let d = one(
        "mode: 0644\nhex: 0x1F\nenabled: yes\noff: off\nnothing: ~\nempty:\nq: \"yes\"\n\
         s: !!str 123\ni: !!int \"42\"\nt: 2024-01-01\nv: 1.10\nblock: |\n  yes\n",
    );
    assert_eq!(
        d.value,
        json!({"mode": 420, "hex": 31, "enabled": true, "false": false, "nothing": null,
               "empty": null, "q": "yes", "s": "123", "i": 42, "t": "2024-01-01", "v": 1.1,
               "block": "yes\n"})
    );
}

#[test]
fn non_string_keys_become_text_like_sigs_yaml() {
    let d = one("on: push\n1: one\n");
    assert_eq!(d.value, json!({"true": "push", "1": "one"}));
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let d = one(
        "base: &b\n  image: x\n  replicas: 1\nother: *b\nmerged:\n  <<: *b\n  replicas: 2\n\
         list:\n  <<: [{a: 1, b: 1}, {a: 2, c: 2}]\n  c: 3\n",
    );
    assert_eq!(d.value["other"], json!({"image": "x", "replicas": 1}));
    assert_eq!(d.value["merged"], json!({"replicas": 2, "image": "x"}));
    assert_eq!(d.value["list"], json!({"c": 3, "a": 1, "b": 1}));
    // Merged members point at the `<<` key; `<<` itself is no member.
    assert_eq!(at(&d, "/merged/image"), (6, 3));
    assert!(!d.positions.contains_key("/merged/<<"));
    // An alias node points at the alias.
    assert_eq!(at(&d, "/other"), (4, 1));
}

#[test]
fn quoted_merge_key_is_an_ordinary_key() {
    let d = one("m:\n  \"<<\": 1\n");
    assert_eq!(d.value, json!({"m": {"<<": 1}}));
}

#[test]
fn bad_merge_value_is_an_error() {
    let e = err("m:\n  <<: 3\n");
    assert_eq!(e.kind, ErrorKind::Value);
    assert!(e.message.contains("merge key"), "{}", e.message);
    assert_eq!((e.pos.line, e.pos.column), (2, 3));
}

#[test]
fn star_password_is_explained() {
    let e = err("apiVersion: v1\nkind: Secret\nstringData:\n  password: ******\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!((e.pos.line, e.pos.column), (4, 13));
    assert!(
        e.message.contains("`******` is read as a YAML alias"),
        "{}",
        e.message
    );
    assert!(e.message.contains("quoted"), "{}", e.message);
}

#[test]
fn duplicate_keys_are_errors_with_the_first_line() {
    let e = err("a: 1\nb:\n  c: 1\n  c: 2\n");
    assert_eq!(e.kind, ErrorKind::DuplicateKey);
    assert_eq!((e.pos.line, e.pos.column), (4, 3));
    assert!(
        e.message.contains("duplicate key `c` (first on line 3)"),
        "{}",
        e.message
    );
    // Keys that resolve to the same text collide too.
    assert_eq!(err("yes: 1\ntrue: 2\n").kind, ErrorKind::DuplicateKey);
}

#[test]
fn syntax_errors_carry_positions_and_later_documents_still_load() {
    let p = parse("a: 1\n---\nb: [1, 2\n---\nc: 3\n");
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(p.errors[0].kind, ErrorKind::Syntax);
    assert_eq!(p.errors[0].doc, 1);
    assert!(p.errors[0].pos.line >= 3);
    let vals: Vec<&Value> = p.documents.iter().map(|d| &d.value).collect();
    assert_eq!(vals, vec![&json!({"a": 1}), &json!({"c": 3})]);
    assert_eq!(p.documents[1].index, 2);
}

#[test]
fn semantic_errors_skip_only_their_document() {
    let p = parse("a: 1\na: 2\n---\nb: 1\n");
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.documents.len(), 1);
    assert_eq!(p.documents[0].value, json!({"b": 1}));
    assert_eq!(p.documents[0].index, 1);
}

#[test]
fn tab_indentation_is_explained() {
    let e = err("a:\n\tb: 1\n");
    assert_eq!(e.pos.line, 2);
    assert!(e.message.contains("tab"), "{}", e.message);
}

#[test]
fn alias_bomb_hits_the_budget() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let e = err(&text);
    assert_eq!(e.kind, ErrorKind::Budget);
    assert!(e.message.contains("alias bomb"), "{}", e.message);
}

#[test]
fn budget_is_configurable() {
    let text = "a: &a [1, 2, 3]\nb: *a\nc: *a\n";
    assert!(parse(text).errors.is_empty());
    let p = parse_with(text, &Options { max_alias_nodes: 5 });
    assert_eq!(p.errors[0].kind, ErrorKind::Budget);
    assert_eq!((p.errors[0].pos.line, p.errors[0].pos.column), (3, 4));
}

#[test]
fn values_without_json_form_are_errors() {
    assert!(err("x: .inf\n").message.contains("cannot represent"));
    assert!(err("? [a, b]\n: 1\n").message.contains("text keys"));
    assert!(err("~: 1\n").message.contains("null"));
    assert!(err("x: !!int abc\n").message.contains("!!int"));
}

#[test]
fn collection_tags_are_ignored_like_go_yaml() {
    let d = one("a: !!map abc\nb: !!seq {c: 1}\nd: !!int [1]\n");
    assert_eq!(d.value, json!({"a": "abc", "b": {"c": 1}, "d": [1]}));
}

#[test]
fn custom_tags_keep_the_text() {
    let d = one("x: !Ref foo\nz: !custom {a: 1}\n");
    assert_eq!(d.value, json!({"x": "foo", "z": {"a": 1}}));
}

#[test]
fn recursive_alias_is_an_error_not_a_hang() {
    let p = parse("a: &a [1, *a]\n");
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
}

#[test]
fn no_panic_on_garbage() {
    let inputs = [
        "\u{0}",
        "[",
        "{",
        "]",
        "}",
        "- - - -",
        ":",
        "? ",
        "&a",
        "*a",
        "!",
        "!!",
        "%YAML 1.1",
        "%YAML 1.1\n%YAML 1.1\n---\n",
        "a: b: c",
        "'unterminated",
        "\"\\x\"",
        "- |\n x\n  y",
        "a:\n- b\n c",
        "\u{feff}a: 1",
        "a: &x\nb: *x\n",
        "<<: *x",
        "--- !!set\n? a\n",
    ];
    for input in inputs {
        let _ = parse(input);
    }
}

#[test]
fn dollar_strings_are_remembered_with_style_and_span() {
    let text = "a: \"${x}\"\nb: ${x}\nc: '$y'\nd: |\n  ${z}\ne: \"plain\"\nf: >-\n  one\n  ${w}\n";
    let d = one(text);
    let q: Vec<&str> = d.dollar_scalars.keys().map(String::as_str).collect();
    assert_eq!(q, ["/a", "/b", "/c", "/d", "/f"]);
    let quoted: Vec<&str> = q.iter().copied().filter(|p| d.is_quoted(p)).collect();
    assert_eq!(quoted, ["/a", "/c", "/d", "/f"]);
    let source = |p: &str| {
        let s = d.dollar_scalars[p];
        (
            s.style,
            &text[s.start.offset as usize..s.end.offset as usize],
        )
    };
    assert_eq!(source("/a"), (Style::DoubleQuoted, "\"${x}\""));
    assert_eq!(source("/b"), (Style::Plain, "${x}"));
    assert_eq!(source("/c"), (Style::SingleQuoted, "'$y'"));
    assert_eq!(source("/d").0, Style::Literal);
    // A block scalar's source starts at its content, after the header and indentation.
    assert!(source("/d").1.starts_with("${z}"), "{:?}", source("/d").1);
    assert_eq!(source("/f").0, Style::Folded);
    assert!(
        source("/f").1.starts_with("one\n  ${w}"),
        "{:?}",
        source("/f").1
    );
    let start = d.dollar_scalars["/d"].start;
    assert_eq!((start.line, start.column), (5, 3));
}

#[test]
fn lone_scalars_for_set() {
    assert_eq!(resolve_plain_scalar("3").unwrap(), json!(3));
    assert_eq!(
        resolve_plain_scalar("nginx:1.2").unwrap(),
        json!("nginx:1.2")
    );
    assert_eq!(resolve_plain_scalar("").unwrap(), Value::Null);
}

#[test]
fn crlf_and_lone_cr_are_line_breaks() {
    let d = one("a: 1\r\nb: 2\r\n");
    assert_eq!(at(&d, "/b"), (2, 1));
    assert_eq!(d.positions["/b"].offset, 6);
    let d = one("a: 1\rb: 2\r");
    assert_eq!(at(&d, "/b"), (2, 1));
}

#[test]
fn quoted_scalar_continued_at_the_key_indentation_like_kubectl() {
    // A Grafana dashboard in a ConfigMap: the closing line is at `dashboard.json`'s indentation.
    let d = one("data:\n  dashboard.json: '{\n    \"a\": 1\n  }'\n  next: x\n");
    assert_eq!(
        d.value,
        json!({"data": {"dashboard.json": "{ \"a\": 1 }", "next": "x"}})
    );
    assert_eq!(at(&d, "/data/next"), (5, 3));
}

#[test]
fn documents_are_cut_where_kubectl_cuts_them() {
    // Content after `---` is refused and the document before it is lost, as in kubectl.
    let p = parse("a: 1\n---\nb: 2\n--- {c: 3}\nd: 4\n");
    assert_eq!(p.documents.len(), 2, "{p:?}");
    assert_eq!(p.documents[1].value, json!({"d": 4}));
    assert_eq!((p.errors[0].pos.line, p.errors[0].doc), (4, 1));
    assert!(
        p.errors[0].message.contains("`---` line"),
        "{}",
        p.errors[0].message
    );
    // `---#` separates; a second document after `...` is refused (kubectl drops it).
    assert_eq!(parse("a: 1\n---# c\nb: 2\n").documents.len(), 2);
    let e = err("a: 1\n...\nb: 2\n");
    assert!(e.message.contains("second document"), "{}", e.message);
    assert_eq!((e.pos.line, e.pos.column), (3, 1));
}

#[test]
fn json_streams_are_read_value_by_value() {
    let p = parse("{\"a\": 1.0}\n {\"b\": \"x\\/y\"}\n");
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    // JSON numbers keep their form (kubectl sends the text as it is); `\/` is JSON.
    assert_eq!(p.documents[0].value, json!({"a": 1.0}));
    assert_eq!(p.documents[1].value, json!({"b": "x/y"}));
    assert_eq!(at(&p.documents[1], "/b"), (2, 3));
}

#[test]
fn merge_keys_in_go_yaml_order() {
    // A merge replaces keys written before it; keys after it replace merged ones.
    let d = one("d: &d {a: 2, b: 2}\nobj:\n  a: 1\n  <<: *d\n  b: 3\n");
    assert_eq!(d.value["obj"], json!({"a": 2, "b": 3}));
    let d = one("d: &d {x: 1}\nobj:\n  !!merge <<: *d\n");
    assert_eq!(d.value["obj"], json!({"x": 1}));
    assert!(
        err("s: &s [{a: 1}]\nobj:\n  <<: *s\n")
            .message
            .contains("merge key")
    );
}

#[test]
fn large_mappings_keep_order_find_duplicates_and_merge_like_small_ones() {
    // Past 16 members keys are found through an index: the same answers as below it.
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let text: String = keys.iter().map(|k| format!("{k}: 1\n")).collect();
    let d = one(&text);
    let read: Vec<&String> = d.value.as_object().unwrap().keys().collect();
    assert_eq!(
        read,
        keys.iter().collect::<Vec<_>>(),
        "in the order written"
    );
    let e = err(&format!("{text}k3: 2\n"));
    assert_eq!(e.kind, ErrorKind::DuplicateKey);
    assert!(
        e.message.contains("`k3` (first on line 4)"),
        "{}",
        e.message
    );
    let e = err(&format!("{text}k39: 2\n"));
    assert!(
        e.message.contains("`k39` (first on line 40)"),
        "{}",
        e.message
    );
    // A merge into a large mapping replaces in place; a key written after it replaces the
    // merged value, and is no duplicate of it.
    let d = one(&format!(
        "d: &d {{k5: 9, extra: 9}}\nobj:\n{}  <<: *d\n  extra: 3\n",
        text.lines().map(|l| format!("  {l}\n")).collect::<String>()
    ));
    let obj = d.value["obj"].as_object().unwrap();
    assert_eq!(obj["k5"], json!(9));
    assert_eq!(obj["extra"], json!(3));
    assert_eq!(obj.len(), 41);
    assert_eq!(
        obj.keys().nth(5).map(String::as_str),
        Some("k5"),
        "kept its place"
    );
    // Must not: the same key in two mappings, or merged and then written, is no error.
    one("a: {x: 1}\nb: {x: 1}\n");
    one("d: &d {x: 1}\nobj:\n  <<: *d\n  x: 2\n");
}

#[test]
fn keys_are_written_like_sigs_yaml() {
    let d = one("1.5: a\n123456789.0: b\n1e3: c\n0.000001: d\n.inf: e\n0x10: f\n");
    let keys: Vec<&str> = d
        .value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["1.5", "1.2345679e+08", "1000", "1e-06", ".inf", "16"]
    );
    assert!(
        err("18446744073709551615: a\n")
            .message
            .contains("too large")
    );
}

#[test]
fn numbers_are_sent_as_go_sends_them() {
    let d = one("a: 1e16\nb: 1e400\nc: 9223372036854775807.0\nd: 1e21\n");
    // 1e16 is an integer in Go's JSON; 1e400 is no float to Go (text); 2^63 prints as
    // 9223372036854776000, beyond int64, so a float.
    assert_eq!(d.value["a"], json!(10_000_000_000_000_000i64));
    assert_eq!(d.value["b"], json!("1e400"));
    assert!(
        d.value["c"].is_f64() && d.value["d"].is_f64(),
        "{}",
        d.value
    );
}

#[test]
fn binary_escapes_and_comments_like_kubectl() {
    let d = one("a: !!binary aGVsbG8=\nb: 'x'#c\nc: [1]#c\n");
    assert_eq!(d.value, json!({"a": "hello", "b": "x", "c": [1]}));
    assert!(err("a: !!binary '***'\n").message.contains("base64"));
    assert!(err("a: \"x\\/y\"\n").message.contains("`\\/`"));
    assert!(err("a: x\u{2028}y\n").message.contains("U+2028"));
}

#[test]
fn anchors_on_keys_and_positions_inside_aliases() {
    // (`y` would be the key `true`, YAML 1.1.)
    let d = one("&k key: v\nother: *k\nbase: &b {x: {z: 1}}\ncopy: *b\n");
    assert_eq!(d.value["other"], json!("key"));
    assert_eq!(at(&d, "/copy/x/z"), (4, 7));
}

#[test]
fn writer_output_is_cut_like_kubectl_cuts_it() {
    // A line of the text that starts with `---` must not end up at column 0.
    for v in [
        json!("a\n---\nb\n"),
        json!("--- x"),
        json!(["---\n...\n"]),
        json!({"k": "x\n--- y\n"}),
    ] {
        let written = to_yaml(&v);
        let back = parse(&written);
        assert!(back.errors.is_empty(), "{written}: {:?}", back.errors);
        assert_eq!(back.documents.len(), 1, "{written}");
        assert_eq!(back.documents[0].value, v, "{written}");
    }
}
