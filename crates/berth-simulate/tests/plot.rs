//! The chart renders, with text, as SVG and PNG. Needs a TrueType font on the machine
//! (Debian: fonts-dejavu-core) or BERTH_FONT.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_model::{ClusterSpec, NodeGroupSpec, Object, Origin, Profile, SourceFile, Stack};
use berth_simulate::{Load, Series, SimOptions, plot, simulate};
use serde_json::json;

fn molecule_stack() -> Stack {
    let o = |value| Object {
        value,
        file: Arc::new(SourceFile::new("m.yaml", "")),
        doc: 0,
        component: "molecule".into(),
        origin: Origin::Manifest,
        positions: Default::default(),
    };
    Stack {
        name: "plot".into(),
        root: ".".into(),
        namespace: "boomi".into(),
        kubernetes: "1.33".into(),
        profile: Profile::Eks,
        components: vec![],
        objects: vec![
            o(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "molecule", "annotations": {"berth.dev/holds-queue": "true"}},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "atom",
                    "resources": {"requests": {"cpu": "500m", "memory": "1024Mi"}}}]}}}})),
            o(
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "molecule"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "molecule"},
                    "minReplicas": 3, "maxReplicas": 20,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
            ),
        ],
        external: vec![],
        cluster: Some(ClusterSpec {
            nodes: None,
            file_systems: Vec::new(),
            name: "plot".into(),
            region: None,
            zones: vec!["a".into(), "b".into(), "c".into()],
            node_groups: vec![NodeGroupSpec {
                name: "workers".into(),
                instance_type: "m5.large".into(),
                min: 1,
                max: 10,
                per_zone: true,
                labels: BTreeMap::new(),
            }],
        }),
        values: BTreeMap::new(),
    }
}

#[test]
fn chart_renders_with_text_as_svg_and_png() {
    let font =
        plot::system_font().expect("a TrueType font (install fonts-dejavu-core or set BERTH_FONT)");
    plot::use_font(font).unwrap();
    let load = Load {
        series: vec![Series::parse_shape("daily:molecule:300:6000").unwrap()],
    };
    let r = simulate(
        &molecule_stack(),
        &load,
        &SimOptions {
            duration_s: 2 * 86400,
            ..SimOptions::default()
        },
    )
    .unwrap();
    assert!(
        r.summary.data_loss_events > 0,
        "a daily curve scales the queue holder down"
    );
    let svg = plot::svg(&r).unwrap();
    assert!(svg.starts_with("<svg"));
    if let Some(dir) = std::env::var_os("BERTH_PLOT_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("chart.svg"), &svg).unwrap();
    }
    assert!(svg.contains("\nmolecule\n"), "legend text is drawn");
    assert!(svg.contains("\nworkers-a\n"));
    let png = plot::png(&r).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    if let Some(dir) = std::env::var_os("BERTH_PLOT_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("chart.png"), &png).unwrap();
        std::fs::write(std::path::Path::new(&dir).join("chart.svg"), &svg).unwrap();
    }
}
