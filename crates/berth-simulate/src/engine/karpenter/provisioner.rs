//! Karpenter's provisioner: NodeClaims for the pods that fit on no node, Ready or launching.
//!
//! Pods are taken largest first and packed onto claims the way Karpenter's scheduler does: a
//! pod goes on the first open claim whose instance types admit it (its node selector and
//! required node affinity against the pool's requirements and the type's labels,
//! [`Cluster::admits`]) while one of them can still hold all of the claim's pods; otherwise a
//! new claim is opened in the admitting pool of highest weight that has room under its
//! `limits`. Each claim launches the **cheapest**
//! instance type that holds its pods (EC2 Fleet's lowest-price strategy for on-demand) and
//! whose capacity stays within the pool's limits; a claim no type can serve within them is not
//! launched and its pods stay pending. Zones, spot and topology spread are not modelled.

use super::super::cluster::{Cluster, Resources, Room};
use super::super::scheduler::Need;
use super::Pool;

/// A node to launch: its group (a pool's instance type) and how many pods it was sized for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::engine) struct Launch {
    pub group: usize,
    pub pods: i64,
}

/// A NodeClaim being packed.
#[derive(Clone, Debug)]
struct Claim {
    pool: usize,
    used: Resources,
    pods: i64,
    /// Groups of the pool that still hold every pod of the claim, cheapest first.
    options: Vec<usize>,
}

impl Claim {
    /// Pods of workload `w` that the largest option admitting them can still take.
    fn can_take(&self, c: &Cluster, w: usize) -> i64 {
        let r = c.shapes[w].requests;
        self.options
            .iter()
            .filter(|&&g| c.admits(w, g))
            .map(|&g| self.room_on(c, g).count_fit(r))
            .max()
            .unwrap_or(0)
    }

    /// What an empty node of group `g` has left with the claim's pods on it.
    fn room_on(&self, c: &Cluster, g: usize) -> Room {
        let mut room = c.empty_room(g);
        room.cpu_m -= self.used.cpu_m;
        room.mem_b -= self.used.mem_b;
        room.pods -= self.pods;
        room
    }

    fn add(&mut self, c: &Cluster, w: usize, k: i64) {
        let r = c.shapes[w].requests;
        self.used.cpu_m += k * r.cpu_m;
        self.used.mem_b += k * r.mem_b;
        self.pods += k;
        let claim = &*self;
        let keep: Vec<usize> = claim
            .options
            .iter()
            .copied()
            .filter(|&g| {
                let room = claim.room_on(c, g);
                c.admits(w, g) && room.cpu_m >= 0 && room.mem_b >= 0 && room.pods >= 0
            })
            .collect();
        self.options = keep;
    }
}

/// Capacity a pool's nodes have, or would have with a node of group `g`, against its limits.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    cpu_m: i64,
    mem_b: i64,
}

impl Usage {
    fn within(&self, pool: &Pool, c: &Cluster, g: usize) -> bool {
        let cap = c.groups[g].capacity;
        pool.spec
            .cpu_limit_m
            .is_none_or(|l| self.cpu_m + cap.cpu_m <= l)
            && pool
                .spec
                .memory_limit_b
                .is_none_or(|l| self.mem_b + cap.mem_b <= l)
    }

    fn add(&mut self, c: &Cluster, g: usize) {
        self.cpu_m += c.groups[g].capacity.cpu_m;
        self.mem_b += c.groups[g].capacity.mem_b;
    }
}

/// The nodes to launch for `need`.
pub(in crate::engine) fn plan(c: &Cluster, pools: &[Pool], need: &[Need]) -> Vec<Launch> {
    // Capacity each pool has launched, for its limits.
    let mut usage: Vec<Usage> = pools
        .iter()
        .map(|p| {
            let mut u = Usage::default();
            for &g in &p.groups {
                u.cpu_m += c.groups[g].capacity.cpu_m * i64::from(c.group_size[g]);
                u.mem_b += c.groups[g].capacity.mem_b * i64::from(c.group_size[g]);
            }
            u
        })
        .collect();
    let mut order = need.to_vec();
    order.sort_by_key(|n| {
        let r = c.shapes[n.workload].requests;
        (
            std::cmp::Reverse(r.cpu_m),
            std::cmp::Reverse(r.mem_b),
            n.workload,
        )
    });
    let mut claims: Vec<Claim> = Vec::new();
    for Need { workload: w, pods } in order {
        let r = c.shapes[w].requests;
        let mut left = pods;
        for claim in claims.iter_mut() {
            let k = claim.can_take(c, w).min(left);
            if k > 0 {
                claim.add(c, w, k);
                left -= k;
            }
            if left == 0 {
                break;
            }
        }
        while left > 0 {
            // The claims already opened in a pool hold at least their cheapest option's capacity.
            let reserved = |p: usize| {
                let mut u = usage[p];
                for cl in claims.iter().filter(|cl| cl.pool == p) {
                    if let Some(&g) = cl.options.first() {
                        u.add(c, g);
                    }
                }
                u
            };
            let opened = pools.iter().enumerate().find_map(|(p, pool)| {
                let u = reserved(p);
                let options: Vec<usize> = pool
                    .groups
                    .iter()
                    .copied()
                    .filter(|&g| {
                        c.admits(w, g) && c.empty_room(g).count_fit(r) > 0 && u.within(pool, c, g)
                    })
                    .collect();
                (!options.is_empty()).then_some(Claim {
                    pool: p,
                    used: Resources::default(),
                    pods: 0,
                    options,
                })
            });
            let Some(mut claim) = opened else {
                break; // no pool can take these pods: they stay pending
            };
            let k = claim.can_take(c, w).min(left);
            claim.add(c, w, k);
            left -= k;
            claims.push(claim);
        }
    }
    let mut launches = Vec::new();
    for claim in claims {
        let pool = &pools[claim.pool];
        let u = &mut usage[claim.pool];
        if let Some(&g) = claim.options.iter().find(|&&g| u.within(pool, c, g)) {
            u.add(c, g);
            launches.push(Launch {
                group: g,
                pods: claim.pods,
            });
        }
    }
    launches
}

#[cfg(test)]
mod tests {
    use super::super::super::cluster::tests::{GIB, group, shape};
    use super::super::super::cluster::{DaemonSets, NodeGroup, PodShape};
    use super::super::tests::pool;
    use super::*;

    /// A group of `cpu` whole CPUs and `gib` GiB (allocatable and capacity) at `usd` an hour,
    /// in pool 0.
    fn sized(cpu: i64, gib: i64, usd: f64) -> NodeGroup {
        let mut g = group(0, u32::MAX);
        g.allocatable = Resources {
            cpu_m: cpu * 1000,
            mem_b: gib * GIB,
        };
        g.capacity = g.allocatable;
        g.usd_per_hour = usd;
        g.pool = Some(0);
        g
    }

    /// Groups of 2, 4 and 8 CPUs (4 GiB per CPU) priced by size, all in one pool.
    fn setup(shapes: Vec<PodShape>) -> (Cluster, Vec<Pool>) {
        let groups = vec![sized(2, 8, 0.1), sized(4, 16, 0.2), sized(8, 32, 0.4)];
        let c = Cluster::new(groups, shapes, DaemonSets::default(), 30);
        (c, vec![pool(vec![0, 1, 2])])
    }

    fn need(workload: usize, pods: i64) -> Need {
        Need { workload, pods }
    }

    #[test]
    fn the_cheapest_type_that_holds_the_batch() {
        let (c, pools) = setup(vec![shape(1000, 1)]);
        // Three 1-CPU pods: a 4-CPU node, not two 2-CPU ones nor the 8-CPU one.
        let l = plan(&c, &pools, &[need(0, 3)]);
        assert_eq!(l, [Launch { group: 1, pods: 3 }]);
        // One pod: the smallest node.
        let l = plan(&c, &pools, &[need(0, 1)]);
        assert_eq!(l, [Launch { group: 0, pods: 1 }]);
        // Eleven: one full 8-CPU node and a 4-CPU one for the rest.
        let l = plan(&c, &pools, &[need(0, 11)]);
        assert_eq!(
            l,
            [Launch { group: 2, pods: 8 }, Launch { group: 1, pods: 3 }]
        );
    }

    #[test]
    fn limits_stop_provisioning_and_pods_the_pool_does_not_admit_get_nothing() {
        let (mut c, mut pools) = setup(vec![shape(1000, 1), shape(1000, 1)]);
        pools[0].spec.cpu_limit_m = Some(6000);
        // Within the limit: 4 CPUs for three pods.
        let l = plan(&c, &pools, &[need(0, 3)]);
        assert_eq!(l, [Launch { group: 1, pods: 3 }]);
        // With 4 CPUs already launched only a 2-CPU node fits under the limit.
        c.add_node(1, 0);
        let l = plan(&c, &pools, &[need(0, 3)]);
        assert_eq!(l, [Launch { group: 0, pods: 2 }], "one pod stays pending");
        c.add_node(0, 0);
        let l = plan(&c, &pools, &[need(0, 3)]);
        assert!(l.is_empty(), "at the limit nothing is launched");
        // A workload no type of the pool admits.
        let (mut c, pools) = setup(vec![shape(1000, 1), shape(1000, 1)]);
        c.admits[1] = vec![false; 3];
        let l = plan(&c, &pools, &[need(1, 2)]);
        assert!(l.is_empty());
        // One the 2-CPU type does not admit gets the next cheapest that holds it.
        c.admits[1] = vec![false, true, true];
        let l = plan(&c, &pools, &[need(1, 1)]);
        assert_eq!(l, [Launch { group: 1, pods: 1 }]);
        // A claim keeps only the types that admit every pod on it: the workload-1 pod joins
        // the claim the workload-0 pod opened, which then launches the 4-CPU type.
        let l = plan(&c, &pools, &[need(0, 1), need(1, 1)]);
        assert_eq!(l, [Launch { group: 1, pods: 2 }]);
    }

    #[test]
    fn a_pod_larger_than_every_type_is_left_pending() {
        let (c, pools) = setup(vec![shape(9000, 1)]);
        assert!(plan(&c, &pools, &[need(0, 1)]).is_empty());
    }

    #[test]
    fn pools_are_tried_in_weight_order() {
        let groups = vec![sized(2, 8, 0.1), {
            let mut g = sized(2, 8, 0.3);
            g.pool = Some(1);
            g
        }];
        let c = Cluster::new(groups, vec![shape(500, 1)], DaemonSets::default(), 30);
        // Pools come sorted by weight: the first (dearer) one is used while it admits the pod.
        let pools = vec![pool(vec![1]), pool(vec![0])];
        let l = plan(&c, &pools, &[need(0, 2)]);
        assert_eq!(l, [Launch { group: 1, pods: 2 }]);
        let mut c = c;
        c.admits[0] = vec![true, false];
        let l = plan(&c, &pools, &[need(0, 2)]);
        assert_eq!(l, [Launch { group: 0, pods: 2 }]);
    }
}
