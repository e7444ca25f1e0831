//! The workload controllers: HPAs set `spec.replicas`, the Deployment and StatefulSet
//! controllers create or delete pods to match it.
//!
//! - HPAs sync through [`crate::hpa`], reading the load spread over the workload's ready pods;
//!   a scale-down of a workload that holds a queue is recorded as data loss.
//! - A Deployment deletes pending, then not-ready, then ready pods, newest first (a
//!   ReplicaSet's order); a StatefulSet removes its highest ordinals, and with `OrderedReady`
//!   creates the next pod only once all are ready and deletes one pod at a time.

use crate::hpa::{HpaState, Observed};
use crate::inputs::Inputs;
use crate::instances::MIB;
use crate::load::Demand;
use crate::report::Scaled;

use super::cluster::{Cluster, Pod};
use super::recorder::Recorder;

pub(super) struct Controllers {
    /// `spec.replicas` per workload.
    pub replicas: Vec<u32>,
    /// Workload index → HPA index.
    pub hpa_of: Vec<Option<usize>>,
    hpa_state: Vec<HpaState>,
}

impl Controllers {
    /// Each workload at its `spec.replicas`, clamped to its HPA's range.
    pub fn new(inp: &Inputs) -> Controllers {
        let mut hpa_of = vec![None; inp.workloads.len()];
        for (i, h) in inp.hpas.iter().enumerate() {
            hpa_of[h.target] = Some(i);
        }
        let replicas = inp
            .workloads
            .iter()
            .enumerate()
            .map(|(w, spec)| match hpa_of[w] {
                Some(h) => spec
                    .replicas
                    .clamp(inp.hpas[h].min, inp.hpas[h].max.max(inp.hpas[h].min)),
                None => spec.replicas,
            })
            .collect();
        Controllers {
            replicas,
            hpa_of,
            hpa_state: vec![HpaState::default(); inp.hpas.len()],
        }
    }

    /// One sync of every HPA at the cluster's time, under `demand` (per workload).
    pub fn sync_hpas(
        &mut self,
        inp: &Inputs,
        c: &mut Cluster,
        demand: &[Demand],
        rec: &mut Recorder,
    ) {
        for (h, hpa) in inp.hpas.iter().enumerate() {
            let w = hpa.target;
            let spec = &inp.workloads[w];
            let readiness = c.readiness(w);
            let obs = Observed {
                current: self.replicas[w],
                ready: readiness.ready,
                starting: readiness.starting,
                cpu_m: demand[w].cpu_m,
                mem_b: demand[w].mem_mib.map(|m| m * MIB as f64),
                req_cpu_m: spec.cpu_m,
                req_mem_b: spec.mem_b,
            };
            if let Ok(desired) = self.hpa_state[h].sync(hpa, &obs, c.t as i64) {
                let current = self.replicas[w];
                if desired != current {
                    self.replicas[w] = desired;
                    rec.scaled(c.t, Scaled::Workload, w, current, desired);
                    if desired < current && spec.holds_queue {
                        rec.data_loss(c.t, w, current, desired);
                    }
                }
            }
        }
    }

    /// Creates or deletes pods to match `spec.replicas`.
    pub fn reconcile(&self, inp: &Inputs, c: &mut Cluster) {
        for (w, spec) in inp.workloads.iter().enumerate() {
            let want = self.replicas[w] as usize;
            let have = c.pods[w].len();
            if have < want {
                if spec.ordered {
                    // OrderedReady: the next ordinal only once all existing pods are ready.
                    if c.pods[w].iter().all(|p| p.placed() && p.ready_at <= c.t) {
                        c.create_pods(w, 1, Pod::PENDING);
                    }
                } else {
                    c.create_pods(w, want - have, Pod::PENDING);
                }
            } else if have > want {
                let remove = if spec.ordered { 1 } else { have - want };
                for _ in 0..remove {
                    let idx = if spec.kind == "StatefulSet" {
                        c.pods[w].len() - 1
                    } else {
                        deletion_candidate(&c.pods[w], c.t)
                    };
                    c.delete_pod(w, idx);
                }
            }
        }
    }
}

/// The pod a ReplicaSet deletes first at time `t`: unscheduled, then not ready, then ready;
/// newest first.
fn deletion_candidate(pods: &[Pod], t: u64) -> usize {
    let rank = |p: &Pod| {
        if !p.placed() {
            0
        } else if p.ready_at > t {
            1
        } else {
            2
        }
    };
    let mut best = pods.len() - 1;
    for i in (0..pods.len()).rev() {
        if rank(&pods[i]) < rank(&pods[best]) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::cluster::NO_NODE;
    use super::*;
    use crate::inputs::{HpaSpec, MetricSpec, Resource, Target, WorkloadSpec};

    fn workload(kind: &str, replicas: u32, ordered: bool, holds_queue: bool) -> WorkloadSpec {
        WorkloadSpec {
            kind: kind.into(),
            namespace: "ns".into(),
            name: "w".into(),
            replicas,
            cpu_m: 500,
            mem_b: MIB,
            holds_queue,
            ordered,
            evictable: true,
            do_not_disrupt: false,
            node_terms: Vec::new(),
        }
    }

    fn inputs(workloads: Vec<WorkloadSpec>, hpas: Vec<HpaSpec>) -> Inputs {
        Inputs {
            workloads,
            hpas,
            groups: Vec::new(),
            autoscaler: Default::default(),
            ds_cpu_m: 0,
            ds_mem_b: 0,
            ds_pods: 0,
            mode: Default::default(),
            pools: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn cpu_hpa(min: u32, max: u32) -> HpaSpec {
        HpaSpec {
            name: "hpa".into(),
            target: 0,
            min,
            max,
            metrics: vec![MetricSpec {
                resource: Resource::Cpu,
                target: Target::Utilization(50),
            }],
            behavior: None,
        }
    }

    fn cluster(inp: &Inputs) -> Cluster {
        let mut c = Cluster::from_inputs(inp, 30);
        c.groups.push(super::super::cluster::tests::group(0, 10));
        c.group_size.push(0);
        c.group_ready.push(0);
        c.add_node(0, 0);
        c
    }

    fn pod(node: u32, ready_at: u64) -> Pod {
        Pod {
            node,
            ready_at,
            fail_epoch: 0,
        }
    }

    #[test]
    fn a_replicaset_deletes_pending_then_starting_then_ready_pods_newest_first() {
        let pods = [
            pod(0, 0),
            pod(0, 0),
            pod(0, 100),
            pod(NO_NODE, u64::MAX),
            pod(0, 0),
        ];
        assert_eq!(deletion_candidate(&pods, 50), 3, "the pending pod");
        assert_eq!(deletion_candidate(&pods[..3], 50), 2, "the one not ready");
        assert_eq!(deletion_candidate(&pods[..2], 50), 1, "the newest ready");
    }

    #[test]
    fn replicas_start_clamped_to_the_hpa_range() {
        let inp = inputs(
            vec![workload("Deployment", 1, false, false)],
            vec![cpu_hpa(2, 5)],
        );
        assert_eq!(Controllers::new(&inp).replicas, [2]);
        let inp = inputs(
            vec![workload("Deployment", 9, false, false)],
            vec![cpu_hpa(2, 5)],
        );
        assert_eq!(Controllers::new(&inp).replicas, [5]);
        let inp = inputs(vec![workload("Deployment", 9, false, false)], vec![]);
        assert_eq!(
            Controllers::new(&inp).replicas,
            [9],
            "no HPA: spec.replicas"
        );
    }

    #[test]
    fn a_deployment_creates_and_deletes_all_the_difference_at_once() {
        let inp = inputs(vec![workload("Deployment", 3, false, false)], vec![]);
        let mut ctl = Controllers::new(&inp);
        let mut c = cluster(&inp);
        ctl.reconcile(&inp, &mut c);
        assert_eq!((c.pods[0].len(), c.unplaced[0]), (3, 3));
        ctl.replicas[0] = 1;
        ctl.reconcile(&inp, &mut c);
        assert_eq!((c.pods[0].len(), c.unplaced[0]), (1, 1));
    }

    #[test]
    fn an_ordered_statefulset_moves_one_ready_pod_at_a_time() {
        let inp = inputs(vec![workload("StatefulSet", 3, true, false)], vec![]);
        let ctl = Controllers::new(&inp);
        let mut c = cluster(&inp);
        ctl.reconcile(&inp, &mut c);
        assert_eq!(c.pods[0].len(), 1, "one pod");
        ctl.reconcile(&inp, &mut c);
        assert_eq!(c.pods[0].len(), 1, "not the next before the first is ready");
        c.place(0, 0, 0);
        c.t = 30;
        ctl.reconcile(&inp, &mut c);
        assert_eq!(c.pods[0].len(), 2, "the next once it is");

        // Deleting: the highest ordinal, one per sync.
        let mut ctl = ctl;
        ctl.replicas[0] = 0;
        ctl.reconcile(&inp, &mut c);
        assert_eq!(c.pods[0].len(), 1);
        assert!(c.pods[0][0].placed(), "ordinal 0 stays, ordinal 1 went");
    }

    #[test]
    fn an_hpa_scale_down_of_a_queue_holder_is_data_loss() {
        let inp = inputs(
            vec![workload("Deployment", 2, false, true)],
            vec![cpu_hpa(1, 2)],
        );
        let mut ctl = Controllers::new(&inp);
        // Above the HPA's maximum: the HPA brings it down at its next sync, whatever the load.
        ctl.replicas[0] = 4;
        let mut c = cluster(&inp);
        c.t = 30;
        let mut rec = Recorder::new(vec!["w".into()], vec!["g".into()], 600, 15, 1);
        let idle = [Demand {
            cpu_m: 0.0,
            mem_mib: None,
        }];
        ctl.sync_hpas(&inp, &mut c, &idle, &mut rec);
        assert_eq!(ctl.replicas, [2]);
        assert_eq!(rec.workloads[0].scales.downs, 1);
        assert_eq!(rec.data_loss.len(), 1);
        assert_eq!((rec.data_loss[0].from, rec.data_loss[0].to), (4, 2));

        // The same for a workload without a queue: a scale event, no data loss.
        let inp = inputs(
            vec![workload("Deployment", 2, false, false)],
            vec![cpu_hpa(1, 2)],
        );
        let mut ctl = Controllers::new(&inp);
        ctl.replicas[0] = 4;
        let mut rec = Recorder::new(vec!["w".into()], vec!["g".into()], 600, 15, 1);
        ctl.sync_hpas(&inp, &mut c, &idle, &mut rec);
        assert_eq!(rec.events.len(), 1);
        assert!(rec.data_loss.is_empty());
    }
}
