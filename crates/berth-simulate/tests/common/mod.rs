//! What the simulation tests share: objects made from inline JSON.

use std::sync::Arc;

use berth_model::{Object, Origin, SourceFile};
use serde_json::Value;

/// A manifest object of component `app` from `value`, with no source text.
pub fn obj(value: Value) -> Object {
    Object {
        value,
        file: Arc::new(SourceFile {
            path: "test.yaml".into(),
            text: "".into(),
        }),
        doc: 0,
        component: "app".into(),
        origin: Origin::Manifest,
        positions: Default::default(),
    }
}
