//! Any text: the YAML reader must not panic, and whatever it reads must survive a round trip
//! through the writer (`to_yaml` output read back is the same value). Numbers are compared by
//! value: a JSON document keeps `1.0` a float, as kubectl sends it, and YAML has no way to
//! write an integral float that reads back as one (go-yaml's JSON turns it into `1`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = berth_yaml::parse(&text);
    for doc in parsed.documents {
        let written = berth_yaml::to_yaml(&doc.value);
        let back = berth_yaml::parse(&written);
        assert!(back.errors.is_empty(), "writer output does not parse: {:?}\n{written}", back.errors);
        let value = back.documents.into_iter().next().map(|d| d.value).unwrap_or_default();
        assert!(same(&value, &doc.value), "round trip changed the value:\n{written}\n{value}\n{}", doc.value);
    }
});

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), ..) => x == y,
            (.., Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}
