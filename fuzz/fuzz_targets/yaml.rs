//! Any text: the YAML reader must not panic, and whatever it reads must survive a round trip
//! through the writer (`to_yaml` output read back is the same value).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = berth_yaml::parse(&text);
    for doc in parsed.documents {
        let written = berth_yaml::to_yaml(&doc.value);
        let back = berth_yaml::parse(&written);
        assert!(back.errors.is_empty(), "writer output does not parse: {:?}\n{written}", back.errors);
        let value = back.documents.into_iter().next().map(|d| d.value).unwrap_or_default();
        assert_eq!(value, doc.value, "round trip changed the value:\n{written}");
    }
});
