//! A deterministic stand-in for fuzzing that runs on stable in every `cargo test`: the fixture
//! files, mutated many ways with a fixed seed, go through the YAML reader, the manifest loader
//! and the stack-file loader. Nothing may panic, findings must point into the file, and what
//! the reader returns must survive the writer's round trip. (`fuzz/` has the real fuzzers.)

use std::path::Path;
use std::sync::Arc;

use berth_model::SourceFile;

/// xorshift64*: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&str] = &[
    "*",
    "&a ",
    "*a",
    "- ",
    ": ",
    "\t",
    "\n---\n",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    "<<: ",
    "!!int ",
    "!!str ",
    "${x}",
    "$${",
    "|\n",
    ">-\n",
    "? ",
    "#",
    "%YAML 1.1\n",
    "...\n",
    "\u{feff}",
    "é",
    "yes",
    "0644",
    ".inf",
    "~",
    "\r\n",
    "&b [*b]\n",
    "  ",
    "\n  - ",
    "apiVersion: v1\n",
];

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut s: Vec<char> = input.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(5) {
            0 => {
                let end = (at + rng.below(20)).min(s.len());
                s.drain(at..end);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                s.splice(at..at, t.chars());
            }
            2 => s.truncate(at),
            3 => {
                // Duplicate a stretch (repeated keys, repeated documents).
                let end = (at + rng.below(80)).min(s.len());
                let copy: Vec<char> = s[at..end].to_vec();
                s.splice(at..at, copy);
            }
            _ => {
                if at < s.len() {
                    const SYNTAX: &[u8] = b" -:\n#&*\"'{}[]|>!%@`";
                    s[at] = char::from(SYNTAX[rng.below(SYNTAX.len())]);
                }
            }
        }
    }
    s.into_iter().collect()
}

fn fixture_texts() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out.sort();
    out
}

fn check(text: &str) {
    // YAML line breaks: `\n`, `\r\n` and a lone `\r`.
    let lines =
        text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count() + 1;
    let (objects, findings) = berth_stack::parse_manifest_str(Path::new("m.yaml"), text, "c");
    for f in &findings {
        assert!(
            f.line >= 1 && f.line as usize <= lines,
            "finding outside the text: {f:?}\n{text}"
        );
        let offset = f.span.map_or(0, |s| s.0 as usize);
        assert!(offset <= text.len(), "offset outside the text: {f:?}");
    }
    let _ = berth_stack::output::render_yaml(&objects);
    let file = Arc::new(SourceFile::new("berth.yaml", Arc::from(text)));
    let _ = berth_stack::stackfile::parse_stack_file(&file);
    for doc in berth_yaml::parse(text).documents {
        let written = berth_yaml::to_yaml(&doc.value);
        let back = berth_yaml::parse(&written);
        assert!(
            back.errors.is_empty(),
            "writer output does not parse: {:?}\n{written}",
            back.errors
        );
        assert_eq!(
            back.documents[0].value, doc.value,
            "round trip changed:\n{text}\n---\n{written}"
        );
    }
}

#[test]
fn mutated_fixtures_never_panic_and_round_trip() {
    let seeds = fixture_texts();
    assert!(seeds.len() >= 10);
    let mut rng = Rng(0x5eed_6e27);
    for i in 0..3000 {
        let seed = &seeds[i % seeds.len()];
        let text = mutate(&mut rng, seed);
        check(&text);
    }
}
