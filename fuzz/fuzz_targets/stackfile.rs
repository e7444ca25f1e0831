//! Any text as berth.yaml: findings, never a panic.
#![no_main]

use std::sync::Arc;

use berth_model::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = Arc::new(SourceFile { path: "berth.yaml".into(), text: Arc::from(text.as_ref()) });
    let _ = berth_stack::stackfile::parse_stack_file(&file);
});
