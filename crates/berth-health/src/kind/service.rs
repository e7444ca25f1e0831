//! Service: Current once it has a cluster IP (or is ExternalName/headless). A LoadBalancer
//! Service also needs an address, but only where the profile has a controller to give it one
//! ([`crate::Options::load_balancer_controller`]).

use serde_json::Value;

use crate::fields::str;
use crate::{Health, Options};

pub(super) fn status(obj: &Value, options: &Options) -> Health {
    let kind = str(obj, "/spec/type");
    if kind == "ExternalName" {
        return Health::current("Service is an ExternalName");
    }
    if str(obj, "/spec/clusterIP").is_empty() {
        return Health::in_progress("Service has no cluster IP yet");
    }
    if kind == "LoadBalancer" && options.load_balancer_controller {
        let ingress = obj
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .map(|i| {
                let host = str(i, "/hostname");
                if host.is_empty() { str(i, "/ip") } else { host }
            })
            .unwrap_or("");
        if !ingress.is_empty() {
            return Health::current(format!("Load balancer address: {ingress}"));
        }
        let external = obj
            .pointer("/spec/externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if external {
            return Health::current("Service has external IPs");
        }
        return Health::in_progress("Waiting for the load balancer address");
    }
    Health::current("Service is ready")
}
