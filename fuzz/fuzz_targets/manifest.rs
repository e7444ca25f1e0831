//! Any text as a manifest file: findings, never a panic; every finding points into the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (objects, findings) =
        berth_stack::parse_manifest_str(std::path::Path::new("fuzz.yaml"), &text, "fuzz");
    // YAML line breaks: `\n`, `\r\n` and a lone `\r`.
    let lines = text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count() + 1;
    for f in &findings {
        assert!(f.line >= 1 && f.line as usize <= lines, "finding outside the file: {f:?}");
        if let Some((offset, _)) = f.span {
            assert!(offset as usize <= text.len(), "offset outside the file: {f:?}");
        }
    }
    for o in &objects {
        let _ = berth_stack::output::render_yaml(std::slice::from_ref(o));
    }
});
