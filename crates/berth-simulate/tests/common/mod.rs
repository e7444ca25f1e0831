//! What the simulation tests share: objects made from inline JSON, and the stack around them.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_model::{ClusterSpec, Object, Origin, Profile, SourceFile, Stack};
use serde_json::Value;

/// A manifest object of component `app` from `value`, with no source text.
pub fn obj(value: Value) -> Object {
    Object {
        value,
        file: Arc::new(SourceFile::new("test.yaml", "")),
        doc: 0,
        component: "app".into(),
        origin: Origin::Manifest,
        positions: Default::default(),
    }
}

/// Stack `test` in namespace `shop` on EKS, Kubernetes 1.33, of `objects` and `cluster`.
pub fn eks_stack(objects: Vec<Object>, cluster: ClusterSpec) -> Stack {
    Stack {
        name: "test".into(),
        root: ".".into(),
        namespace: "shop".into(),
        kubernetes: "1.33".into(),
        profile: Profile::Eks,
        components: vec![],
        objects,
        external: vec![],
        cluster: Some(cluster),
        values: BTreeMap::new(),
    }
}
