//! The state the engine's parts share: node groups, nodes, and the pods of each workload with
//! the node each runs on.
//!
//! It keeps the books (requests used per node, group sizes, pods not placed) consistent
//! through [`Cluster::add_node`], [`Cluster::remove_node`], [`Cluster::place`] and
//! [`Cluster::unplace`]; deciding *where* and *when* is the scheduler's, the controllers' and
//! the autoscaler's job. Two counters let those parts skip work that cannot change its answer:
//! [`Cluster::epoch`] moves whenever room may have been freed or added (a pod that failed to
//! schedule at this epoch fails again), [`Cluster::usage_epoch`] whenever a node's requests,
//! readiness or existence change (scale-down recomputes utilisation only then).

use crate::inputs::Inputs;

/// `Pod::node` of a pod that is not placed on a node.
pub(super) const NO_NODE: u32 = u32::MAX;

/// CPU and memory requests (of a pod, or what a node has allocatable or in use).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Resources {
    pub cpu_m: i64,
    pub mem_b: i64,
}

/// What the scheduler and the autoscaler need of one workload's pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PodShape {
    pub requests: Resources,
    /// Whether the autoscaler may evict the pod to remove its node.
    pub evictable: bool,
    /// `karpenter.sh/do-not-disrupt`: Karpenter leaves the pod's node alone.
    pub do_not_disrupt: bool,
}

/// The DaemonSet pods every node runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct DaemonSets {
    pub requests: Resources,
    pub pods: u32,
}

/// Constants of one node group.
#[derive(Clone, Debug)]
pub(super) struct NodeGroup {
    pub allocatable: Resources,
    /// Capacity as the least-waste expander counts it.
    pub capacity: Resources,
    pub max_pods: u32,
    pub usd_per_hour: f64,
    pub min: u32,
    pub max: u32,
    /// Groups with equal keys are similar for `--balance-similar-node-groups`.
    pub similarity: String,
    /// The Karpenter NodePool whose nodes of one instance type this group stands for; None
    /// for a node group of `cluster.nodeGroups`.
    pub pool: Option<usize>,
}

/// Free room on a node (or a node still to be added): CPU, memory and pod slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Room {
    pub cpu_m: i64,
    pub mem_b: i64,
    pub pods: i64,
}

impl Room {
    /// How many pods of `r` fit.
    pub fn count_fit(&self, r: Resources) -> i64 {
        let by_cpu = if r.cpu_m > 0 {
            self.cpu_m / r.cpu_m
        } else {
            i64::MAX
        };
        let by_mem = if r.mem_b > 0 {
            self.mem_b / r.mem_b
        } else {
            i64::MAX
        };
        by_cpu.min(by_mem).min(self.pods).max(0)
    }

    /// Fills the room with up to `count` pods of `r`; returns how many went in.
    pub fn fill(&mut self, r: Resources, count: i64) -> i64 {
        let k = self.count_fit(r).min(count);
        self.cpu_m -= k * r.cpu_m;
        self.mem_b -= k * r.mem_b;
        self.pods -= k;
        k
    }
}

/// Puts `count` pods of `r` into the first rooms they fit, in order; returns how many found no
/// room.
pub(super) fn first_fit(rooms: &mut [Room], r: Resources, count: i64) -> i64 {
    first_fit_where(rooms, r, count, |_| true)
}

/// [`first_fit`] into the rooms whose index `ok` accepts.
pub(super) fn first_fit_where(
    rooms: &mut [Room],
    r: Resources,
    count: i64,
    ok: impl Fn(usize) -> bool,
) -> i64 {
    let mut left = count;
    for (i, room) in rooms.iter_mut().enumerate() {
        if !ok(i) {
            continue;
        }
        left -= room.fill(r, left);
        if left == 0 {
            break;
        }
    }
    left
}

#[derive(Clone, Debug)]
pub(super) struct Node {
    pub group: usize,
    pub alive: bool,
    pub ready: bool,
    pub ready_at: u64,
    /// Requests of the pods on the node, DaemonSet pods included.
    pub used: Resources,
    pub pods: u32,
    /// Pods the autoscaler may not evict.
    pub unevictable: u32,
    /// Since when the autoscaler has found the node under the utilisation threshold.
    pub unneeded_since: Option<u64>,
    /// Capacity epoch at which a drain check last failed.
    pub drain_failed_epoch: u64,
    /// When the node was launched (Karpenter's `expireAfter` counts from here).
    pub launched_at: u64,
    /// When a pod was last placed on or removed from it (`consolidateAfter` counts from here).
    pub pod_event_at: u64,
    /// Marked for removal: the scheduler places nothing more on it.
    pub cordoned: bool,
    /// Pods on it annotated `karpenter.sh/do-not-disrupt`.
    pub blocking: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pod {
    /// Index into [`Cluster::nodes`], or [`NO_NODE`].
    pub node: u32,
    pub ready_at: u64,
    /// Capacity epoch at which scheduling last failed.
    pub fail_epoch: u64,
}

impl Pod {
    /// A pod just created, not placed.
    pub const PENDING: Pod = Pod {
        node: NO_NODE,
        ready_at: u64::MAX,
        fail_epoch: 0,
    };

    pub fn placed(&self) -> bool {
        self.node != NO_NODE
    }
}

/// Ready and starting (placed, not yet ready) pods of a workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Readiness {
    pub ready: u32,
    pub starting: u32,
}

/// [`Readiness`] of a workload, valid until `valid_until` unless `dirty`.
#[derive(Clone, Copy, Debug, Default)]
struct CachedReadiness {
    readiness: Readiness,
    valid_until: u64,
    dirty: bool,
}

pub(super) struct Cluster {
    /// The current time, seconds.
    pub t: u64,
    /// From a pod's placement to Ready.
    pub pod_ready_s: u64,
    pub groups: Vec<NodeGroup>,
    /// Per workload.
    pub shapes: Vec<PodShape>,
    pub daemonsets: DaemonSets,
    /// Removed nodes stay (not alive) until their slot is reused.
    pub nodes: Vec<Node>,
    free_slots: Vec<u32>,
    /// Nodes added and not yet Ready.
    pub starting: Vec<u32>,
    /// Nodes per group, starting ones included.
    pub group_size: Vec<u32>,
    pub group_ready: Vec<u32>,
    /// Pods per workload.
    pub pods: Vec<Vec<Pod>>,
    /// Pods not placed on a node, per workload.
    pub unplaced: Vec<u32>,
    readiness: Vec<CachedReadiness>,
    /// `admits[w][g]`: pods of workload `w` may run on nodes of group `g` (their node
    /// selector and required node affinity against the group's labels). All true unless set.
    pub admits: Vec<Vec<bool>>,
    pub epoch: u64,
    pub usage_epoch: u64,
}

impl Cluster {
    /// An empty cluster: no nodes, no pods.
    pub fn new(
        groups: Vec<NodeGroup>,
        shapes: Vec<PodShape>,
        daemonsets: DaemonSets,
        pod_ready_s: u64,
    ) -> Cluster {
        let (nw, ng) = (shapes.len(), groups.len());
        Cluster {
            t: 0,
            pod_ready_s,
            groups,
            shapes,
            daemonsets,
            nodes: Vec::new(),
            free_slots: Vec::new(),
            starting: Vec::new(),
            group_size: vec![0; ng],
            group_ready: vec![0; ng],
            pods: vec![Vec::new(); nw],
            unplaced: vec![0; nw],
            readiness: vec![
                CachedReadiness {
                    dirty: true,
                    ..CachedReadiness::default()
                };
                nw
            ],
            admits: vec![vec![true; ng]; nw],
            epoch: 1,
            usage_epoch: 1,
        }
    }

    /// The empty cluster of the stack read into `inp`.
    pub fn from_inputs(inp: &Inputs, pod_ready_s: u64) -> Cluster {
        let groups = inp
            .groups
            .iter()
            .map(|g| NodeGroup {
                allocatable: Resources {
                    cpu_m: g.instance.allocatable_cpu_m(),
                    mem_b: g.instance.allocatable_mem_b(),
                },
                capacity: Resources {
                    cpu_m: g.instance.capacity_cpu_m(),
                    mem_b: g.instance.capacity_mem_b(),
                },
                max_pods: g.instance.max_pods,
                usd_per_hour: g.instance.usd_per_hour,
                min: g.min,
                max: g.max,
                similarity: g.similarity.clone(),
                pool: g.pool,
            })
            .collect();
        let shapes = inp
            .workloads
            .iter()
            .map(|w| PodShape {
                requests: Resources {
                    cpu_m: w.cpu_m,
                    mem_b: w.mem_b,
                },
                evictable: w.evictable,
                do_not_disrupt: w.do_not_disrupt,
            })
            .collect();
        let daemonsets = DaemonSets {
            requests: Resources {
                cpu_m: inp.ds_cpu_m,
                mem_b: inp.ds_mem_b,
            },
            pods: inp.ds_pods,
        };
        let mut c = Cluster::new(groups, shapes, daemonsets, pod_ready_s);
        let nodes: Vec<_> = inp
            .groups
            .iter()
            .map(|g| g.node_requirements(&inp.pools))
            .collect();
        c.admits = inp
            .workloads
            .iter()
            .map(|w| nodes.iter().map(|n| w.admitted_by(n)).collect())
            .collect();
        c
    }

    /// Whether pods of workload `w` may run on nodes of group `g`.
    pub fn admits(&self, w: usize, g: usize) -> bool {
        self.admits[w][g]
    }

    /// Whether pods of workload `w` may run on node `id`.
    pub fn admits_on(&self, w: usize, id: u32) -> bool {
        self.admits[w][self.nodes[id as usize].group]
    }

    pub fn total_nodes(&self) -> u32 {
        self.group_size.iter().sum()
    }

    /// Adds a node of `group`, Ready at `ready_at` (at once if that is not in the future);
    /// returns its id.
    pub fn add_node(&mut self, group: usize, ready_at: u64) -> u32 {
        let node = Node {
            group,
            alive: true,
            ready: ready_at <= self.t,
            ready_at,
            used: self.daemonsets.requests,
            pods: self.daemonsets.pods,
            unevictable: 0,
            unneeded_since: None,
            drain_failed_epoch: 0,
            launched_at: self.t,
            pod_event_at: self.t,
            cordoned: false,
            blocking: 0,
        };
        let id = match self.free_slots.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.group_size[group] += 1;
        self.usage_epoch += 1;
        if ready_at <= self.t {
            self.group_ready[group] += 1;
            self.epoch += 1;
        } else {
            self.starting.push(id);
        }
        id
    }

    /// Removes a Ready node (its pods must have been moved off).
    pub fn remove_node(&mut self, id: u32) {
        let n = &mut self.nodes[id as usize];
        n.alive = false;
        n.ready = false;
        self.group_size[n.group] -= 1;
        self.usage_epoch += 1;
        self.group_ready[n.group] -= 1;
        self.free_slots.push(id);
    }

    /// Marks the nodes whose start-up delay has passed Ready.
    pub fn nodes_ready(&mut self) {
        let t = self.t;
        let mut i = 0;
        while i < self.starting.len() {
            let id = self.starting[i] as usize;
            if self.nodes[id].ready_at <= t {
                self.nodes[id].ready = true;
                self.group_ready[self.nodes[id].group] += 1;
                self.epoch += 1;
                self.usage_epoch += 1;
                self.starting.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Whether a pod of `r` fits on `n` by requests and pod count.
    pub fn fits(&self, n: &Node, r: Resources) -> bool {
        let g = &self.groups[n.group];
        n.used.cpu_m + r.cpu_m <= g.allocatable.cpu_m
            && n.used.mem_b + r.mem_b <= g.allocatable.mem_b
            && n.pods < g.max_pods
    }

    /// What is left on node `id`.
    pub fn room(&self, id: u32) -> Room {
        let n = &self.nodes[id as usize];
        let g = &self.groups[n.group];
        Room {
            cpu_m: g.allocatable.cpu_m - n.used.cpu_m,
            mem_b: g.allocatable.mem_b - n.used.mem_b,
            pods: g.max_pods as i64 - n.pods as i64,
        }
    }

    /// What an empty node of group `g` offers, after its DaemonSet pods.
    pub fn empty_room(&self, g: usize) -> Room {
        let gr = &self.groups[g];
        Room {
            cpu_m: gr.allocatable.cpu_m - self.daemonsets.requests.cpu_m,
            mem_b: gr.allocatable.mem_b - self.daemonsets.requests.mem_b,
            pods: gr.max_pods as i64 - self.daemonsets.pods as i64,
        }
    }

    /// Adds `n` pending pods to workload `w`.
    pub fn create_pods(&mut self, w: usize, n: usize, pod: Pod) {
        let have = self.pods[w].len();
        self.pods[w].resize(have + n, pod);
        self.unplaced[w] += n as u32;
    }

    /// Places pod `i` of workload `w` on `node`; it is Ready `pod_ready_s` from now.
    pub fn place(&mut self, w: usize, i: usize, node: u32) {
        let shape = self.shapes[w];
        let n = &mut self.nodes[node as usize];
        n.used.cpu_m += shape.requests.cpu_m;
        n.used.mem_b += shape.requests.mem_b;
        n.pods += 1;
        if !shape.evictable {
            n.unevictable += 1;
        }
        if shape.do_not_disrupt {
            n.blocking += 1;
        }
        n.pod_event_at = self.t;
        self.unplaced[w] -= 1;
        self.readiness[w].dirty = true;
        self.usage_epoch += 1;
        let pod = &mut self.pods[w][i];
        pod.node = node;
        pod.ready_at = self.t + self.pod_ready_s;
    }

    /// Gives back the requests of `pod` (of workload `w`, already taken out of or about to be
    /// replaced in [`Cluster::pods`]) to its node. Does not touch [`Cluster::unplaced`].
    pub fn unplace(&mut self, w: usize, pod: Pod) {
        if !pod.placed() {
            return;
        }
        let shape = self.shapes[w];
        let n = &mut self.nodes[pod.node as usize];
        n.used.cpu_m -= shape.requests.cpu_m;
        n.used.mem_b -= shape.requests.mem_b;
        n.pods -= 1;
        if !shape.evictable {
            n.unevictable -= 1;
        }
        if shape.do_not_disrupt {
            n.blocking -= 1;
        }
        n.pod_event_at = self.t;
        self.epoch += 1;
        self.usage_epoch += 1;
        self.readiness[w].dirty = true;
    }

    /// Deletes pod `idx` of workload `w`.
    pub fn delete_pod(&mut self, w: usize, idx: usize) {
        let pod = self.pods[w].remove(idx);
        if !pod.placed() {
            self.unplaced[w] -= 1;
        }
        self.unplace(w, pod);
    }

    /// Pods per workload on node `id`: (workload, count), for the workloads it runs.
    pub fn pods_on(&self, id: u32) -> Vec<(usize, i64)> {
        let mut out = Vec::new();
        for (w, pods) in self.pods.iter().enumerate() {
            let k = pods.iter().filter(|p| p.node == id).count() as i64;
            if k > 0 {
                out.push((w, k));
            }
        }
        out
    }

    /// Evicts the pods of node `id` (they are created again, pending, and restart wherever
    /// the scheduler puts them) and removes the node; returns the pods evicted per workload.
    pub fn evict_and_remove(&mut self, id: u32) -> Vec<(usize, i64)> {
        let on_node = self.pods_on(id);
        for &(w, _) in &on_node {
            for i in 0..self.pods[w].len() {
                let pod = self.pods[w][i];
                if pod.node == id {
                    self.unplace(w, pod);
                    self.pods[w][i] = Pod::PENDING;
                    self.unplaced[w] += 1;
                }
            }
        }
        if self.nodes[id as usize].ready {
            self.remove_node(id);
        } else {
            self.remove_starting(id);
        }
        on_node
    }

    /// Removes a node that is not Ready yet (it has no pods).
    fn remove_starting(&mut self, id: u32) {
        let n = &mut self.nodes[id as usize];
        n.alive = false;
        self.group_size[n.group] -= 1;
        self.usage_epoch += 1;
        self.starting.retain(|&s| s != id);
        self.free_slots.push(id);
    }

    /// Ready and starting pods of workload `w`. Cached until a pod of the workload is placed
    /// or removed, or the next one becomes ready.
    pub fn readiness(&mut self, w: usize) -> Readiness {
        let c = &self.readiness[w];
        if !c.dirty && self.t < c.valid_until {
            return c.readiness;
        }
        let (mut ready, mut starting, mut next) = (0, 0, u64::MAX);
        for p in &self.pods[w] {
            if p.placed() {
                if p.ready_at <= self.t {
                    ready += 1;
                } else {
                    starting += 1;
                    next = next.min(p.ready_at);
                }
            }
        }
        let readiness = Readiness { ready, starting };
        self.readiness[w] = CachedReadiness {
            readiness,
            valid_until: next,
            dirty: false,
        };
        readiness
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub const GIB: i64 = 1 << 30;

    /// A group of nodes with 2 CPUs and 8 GiB allocatable, 110 pods, as a test cluster uses.
    pub fn group(min: u32, max: u32) -> NodeGroup {
        NodeGroup {
            allocatable: Resources {
                cpu_m: 2000,
                mem_b: 8 * GIB,
            },
            capacity: Resources {
                cpu_m: 2000,
                mem_b: 8 * GIB,
            },
            max_pods: 110,
            usd_per_hour: 0.1,
            min,
            max,
            similarity: "m".into(),
            pool: None,
        }
    }

    /// A workload whose pods request `cpu_m` and `mem_gib`.
    pub fn shape(cpu_m: i64, mem_gib: i64) -> PodShape {
        PodShape {
            requests: Resources {
                cpu_m,
                mem_b: mem_gib * GIB,
            },
            evictable: true,
            do_not_disrupt: false,
        }
    }

    #[test]
    fn room_counts_by_the_scarcest_resource_and_pod_slots() {
        let room = Room {
            cpu_m: 1000,
            mem_b: 10 * GIB,
            pods: 3,
        };
        let r = |cpu_m, mem_gib| Resources {
            cpu_m,
            mem_b: mem_gib * GIB,
        };
        assert_eq!(room.count_fit(r(300, 1)), 3, "pod slots");
        assert_eq!(room.count_fit(r(400, 1)), 2, "CPU");
        assert_eq!(room.count_fit(r(100, 4)), 2, "memory");
        assert_eq!(room.count_fit(r(0, 0)), 3, "no requests: pod slots only");
        assert_eq!(room.count_fit(r(2000, 1)), 0);

        let mut rooms = [room, room];
        assert_eq!(first_fit(&mut rooms, r(400, 1), 5), 1, "two per room");
        assert_eq!(rooms[0].cpu_m, 200);
        assert_eq!(rooms[1].pods, 1);
    }

    #[test]
    fn placing_and_removing_a_pod_keeps_the_books() {
        let mut c = Cluster::new(
            vec![group(0, 5)],
            vec![shape(500, 1)],
            DaemonSets::default(),
            30,
        );
        c.add_node(0, 0);
        c.create_pods(0, 2, Pod::PENDING);
        assert_eq!(c.unplaced[0], 2);
        c.place(0, 0, 0);
        assert_eq!(c.nodes[0].used.cpu_m, 500);
        assert_eq!(c.unplaced[0], 1);
        assert_eq!(
            c.readiness(0),
            Readiness {
                ready: 0,
                starting: 1
            }
        );
        c.t = 30;
        assert_eq!(c.readiness(0).ready, 1, "ready pod_ready_s after placement");
        c.delete_pod(0, 0);
        c.delete_pod(0, 0);
        assert_eq!((c.unplaced[0], c.nodes[0].used.cpu_m), (0, 0));
        assert_eq!(c.readiness(0), Readiness::default());
    }

    #[test]
    fn a_node_added_for_later_is_ready_only_then() {
        let mut c = Cluster::new(vec![group(0, 5)], vec![], DaemonSets::default(), 30);
        c.add_node(0, 120);
        assert_eq!((c.group_size[0], c.group_ready[0]), (1, 0));
        c.t = 119;
        c.nodes_ready();
        assert!(!c.nodes[0].ready);
        c.t = 120;
        c.nodes_ready();
        assert!(c.nodes[0].ready);
        assert_eq!(c.group_ready[0], 1);
    }
}
