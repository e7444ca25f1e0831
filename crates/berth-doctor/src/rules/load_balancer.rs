//! `load-balancer-pending`: a `type: LoadBalancer` Service of the stack has no address. Only a
//! load-balancer controller gives it one (the cloud controller, the AWS Load Balancer
//! Controller for a `loadBalancerClass`, MetalLB); without one it stays pending forever. A
//! warning: the Service still works inside the cluster.

use berth_model::Severity;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, event_text, s};

pub(crate) const ID: &str = "load-balancer-pending";

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for o in ctx
        .stack
        .iter()
        .filter(|o| o.kind() == "Service" && o.group().is_empty())
    {
        let Some(live) = ctx.live(o) else { continue };
        if s(live, "/spec/type") != "LoadBalancer"
            || !arr(live, "/status/loadBalancer/ingress").is_empty()
        {
            continue;
        }
        let ns = s(live, "/metadata/namespace");
        let name = s(live, "/metadata/name");
        let class = live
            .pointer("/spec/loadBalancerClass")
            .and_then(Value::as_str);
        let events = ctx.events("Service", ns, name);
        let cause = match class {
            Some(c) => format!(
                "LoadBalancer Service `{name}` has no address: no controller for load-balancer class `{c}` has provisioned it"
            ),
            None => format!(
                "LoadBalancer Service `{name}` has no address: no load-balancer controller has provisioned it"
            ),
        };
        let fix = "install the cloud's load-balancer controller (on EKS the AWS Load Balancer Controller), or on a local cluster use a ClusterIP Service and port-forward".to_string();
        let pointer = if class.is_some() {
            "/spec/loadBalancerClass"
        } else {
            "/spec/type"
        };
        let mut d = Diagnosis::at(ID, Severity::Warning, o, pointer, cause, fix);
        match events.last() {
            Some(e) => d = d.with(EvidenceKind::Event, display(live), event_text(e)),
            None => {
                d = d.with(
                    EvidenceKind::State,
                    display(live),
                    "status.loadBalancer is empty and no controller recorded an event",
                )
            }
        }
        out.push(d);
    }
}
