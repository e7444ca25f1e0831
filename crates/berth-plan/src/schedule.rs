//! Running the operation graph: which objects may be applied now.
//!
//! `up` asks [`Schedule::start`] for the objects that wait for nothing, applies them, and tells
//! [`Schedule::done`] each object that became healthy; it answers with the objects that wait
//! for nothing else any more. The points where a group is done (a component for `after:`, the
//! cluster definitions) are passed through here, so the caller only ever sees objects. Each
//! edge is looked at once over a whole run: O(objects + edges).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::Plan;

/// The state of one run of a [`Plan`]'s graph.
#[derive(Debug)]
pub struct Schedule {
    objects: usize,
    /// How many dependencies of each node are not done yet.
    waiting: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Each object's place in the plan's order: ready objects come out in this order, so
    /// within what may start, Namespaces and classes still go before workloads.
    rank: Vec<usize>,
    done: Vec<bool>,
}

impl Schedule {
    /// A run of `plan` and the objects that may be applied at once, in plan order.
    pub fn start(plan: &Plan) -> (Schedule, Vec<usize>) {
        let total = plan.graph.len();
        let mut dependents = vec![Vec::new(); total];
        let mut waiting = vec![0; total];
        for (node, deps) in plan.graph.iter().enumerate() {
            waiting[node] = deps.len();
            for &d in deps {
                dependents[d].push(node);
            }
        }
        let mut rank = vec![usize::MAX; plan.objects];
        for (r, i) in plan.order().enumerate() {
            rank[i] = r;
        }
        let mut s = Schedule {
            objects: plan.objects,
            waiting,
            dependents,
            rank,
            done: vec![false; total],
        };
        let roots: Vec<usize> = (0..total).filter(|&n| s.waiting[n] == 0).collect();
        let ready = s.release(roots);
        (s, ready)
    }

    /// Marks object `i` done (healthy); returns the objects that may be applied now, in plan
    /// order. Marking an object twice releases nothing the second time.
    pub fn done(&mut self, i: usize) -> Vec<usize> {
        if i >= self.objects || self.done[i] {
            return Vec::new();
        }
        self.done[i] = true;
        let mut freed = Vec::new();
        for &d in &self.dependents[i] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                freed.push(d);
            }
        }
        self.release(freed)
    }

    /// Whether every object is done.
    pub fn finished(&self) -> bool {
        self.done.iter().take(self.objects).all(|d| *d)
    }

    /// Nodes whose dependencies are all done: objects are returned (ranked), group points are
    /// done at once and release their dependents in turn.
    fn release(&mut self, nodes: Vec<usize>) -> Vec<usize> {
        let mut ready = BinaryHeap::new();
        let mut points = nodes;
        while let Some(node) = points.pop() {
            if node < self.objects {
                ready.push(Reverse((self.rank[node], node)));
                continue;
            }
            if std::mem::replace(&mut self.done[node], true) {
                continue;
            }
            for &d in &self.dependents[node] {
                self.waiting[d] -= 1;
                if self.waiting[d] == 0 {
                    points.push(d);
                }
            }
        }
        std::iter::from_fn(|| ready.pop().map(|Reverse((_, i))| i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan over `objects` nodes with `graph` as its edges (group points after them).
    fn plan(objects: usize, graph: Vec<Vec<usize>>) -> Plan {
        Plan {
            waves: vec![(0..objects).collect()],
            graph,
            objects,
        }
    }

    #[test]
    fn an_object_starts_when_its_own_dependencies_are_done_not_a_whole_level() {
        // 0 (slow database) <- 1 (web needing it); 2 (config) <- 3 (app using it).
        let p = plan(4, vec![vec![], vec![0], vec![], vec![2]]);
        let (mut s, ready) = Schedule::start(&p);
        assert_eq!(ready, vec![0, 2]);
        // The config is healthy first: the app starts while the database still waits.
        assert_eq!(s.done(2), vec![3]);
        assert_eq!(s.done(3), Vec::<usize>::new());
        assert!(!s.finished());
        assert_eq!(s.done(0), vec![1]);
        assert_eq!(s.done(1), Vec::<usize>::new());
        assert!(s.finished());
    }

    #[test]
    fn a_group_point_releases_its_dependents_once_every_member_is_done() {
        // Component point 3 waits for objects 0 and 1; object 2 is `after:` that component.
        let p = plan(3, vec![vec![], vec![], vec![3], vec![0, 1]]);
        let (mut s, ready) = Schedule::start(&p);
        assert_eq!(ready, vec![0, 1]);
        assert!(s.done(0).is_empty(), "one member done is not the component");
        assert_eq!(s.done(1), vec![2]);
        // Done twice releases nothing again.
        assert!(s.done(1).is_empty());
    }

    #[test]
    fn an_empty_group_is_done_from_the_start() {
        // Object 0 is after a component (point 1) without objects.
        let p = plan(1, vec![vec![1], vec![]]);
        let (s, ready) = Schedule::start(&p);
        assert_eq!(ready, vec![0]);
        assert!(!s.finished());
    }

    #[test]
    fn ready_objects_come_in_plan_order() {
        let mut p = plan(3, vec![vec![], vec![], vec![]]);
        p.waves = vec![vec![2, 0, 1]];
        let (_, ready) = Schedule::start(&p);
        assert_eq!(ready, vec![2, 0, 1]);
    }
}
