use super::*;
use serde_json::json;

fn deployment(revision: &str, generation: i64, observed: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "uid": "d-1", "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": revision}},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": observed}})
}

fn replica_set(uid: &str, revision: &str) -> Value {
    json!({"kind": "ReplicaSet", "metadata": {"name": format!("web-{uid}"), "uid": uid,
        "annotations": {"deployment.kubernetes.io/revision": revision},
        "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d-1", "controller": true}]}})
}

fn pod(name: &str, owner: &str, extra: Value) -> Value {
    let mut p = json!({"kind": "Pod", "metadata": {"name": name, "namespace": "shop", "uid": format!("u-{name}"),
        "creationTimestamp": "2026-11-29T12:00:00Z",
        "ownerReferences": [{"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": true}]},
        "spec": {"containers": [{"name": "web", "image": "shop/web:1.0"}]}, "status": {}});
    merge(&mut p, extra);
    p
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn crash_looping(restarts: i64) -> Value {
    json!({"status": {"containerStatuses": [{"name": "web", "restartCount": restarts,
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}})
}

fn waiting(reason: &str, message: &str) -> Value {
    json!({"status": {"containerStatuses": [{"name": "web", "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}}}]}})
}

fn unschedulable() -> Value {
    json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient cpu."}]}})
}

fn event(reason: &str, message: &str, component: &str, time: &str) -> Value {
    json!({"reason": reason, "message": message, "source": {"component": component}, "lastTimestamp": time})
}

const STARTED: &str = "2026-11-29T11:00:00Z";

fn ctx<'a>(
    now: Instant,
    autoscaler: &'a Autoscaler,
    expected: &'a HashSet<(String, String, String)>,
) -> Context<'a> {
    Context {
        now,
        autoscaler,
        grace: Duration::from_secs(30),
        expected,
    }
}

fn assess(
    tracker: &Tracker,
    w: &Value,
    pods: &[&Value],
    events: Vec<Value>,
    c: &Context<'_>,
) -> Assessment {
    tracker.assess(w, pods, &|_| events.clone(), c)
}

#[test]
fn a_deployments_current_pods_are_those_of_the_replica_set_of_its_revision() {
    let old = replica_set("rs-old", "1");
    let new = replica_set("rs-new", "2");
    let old_pod = pod("web-old", "rs-old", crash_looping(5));
    let new_pod = pod("web-new", "rs-new", json!({}));
    let pods = [&old_pod, &new_pod];
    let current = current_pods(&deployment("2", 3, 3), &[&old, &new], &[], &pods);
    assert_eq!(current.len(), 1);
    assert_eq!(str(current[0], "/metadata/name"), "web-new");
    // Before the controller observed the new generation, nothing is current: the revision
    // annotation still names the previous ReplicaSet.
    assert!(current_pods(&deployment("1", 3, 2), &[&old, &new], &[], &pods).is_empty());
}

#[test]
fn terminating_pods_and_pods_of_other_owners_never_count() {
    let rs = replica_set("rs-new", "2");
    let leaving = pod(
        "web-a",
        "rs-new",
        json!({"metadata": {"deletionTimestamp": "2026-11-29T12:01:00Z"}}),
    );
    let other = pod("other", "rs-other", json!({}));
    let pods = [&leaving, &other];
    assert!(current_pods(&deployment("2", 1, 1), &[&rs], &[], &pods).is_empty());
}

#[test]
fn stateful_and_daemon_sets_select_pods_by_their_update_revision() {
    let sts = json!({"kind": "StatefulSet", "metadata": {"name": "db", "uid": "s-1", "generation": 2},
        "status": {"observedGeneration": 2, "updateRevision": "db-new"}});
    let owned = |name: &str, hash: &str| {
        json!({"kind": "Pod", "metadata": {"name": name, "uid": name,
        "labels": {"controller-revision-hash": hash},
        "ownerReferences": [{"uid": "s-1", "controller": true}]}})
    };
    let (a, b) = (owned("db-0", "db-new"), owned("db-1", "db-old"));
    let current = current_pods(&sts, &[], &[], &[&a, &b]);
    assert_eq!(
        current
            .iter()
            .map(|p| str(p, "/metadata/name"))
            .collect::<Vec<_>>(),
        ["db-0"]
    );

    let ds = json!({"kind": "DaemonSet", "metadata": {"name": "agent", "uid": "s-1", "generation": 1},
        "status": {"observedGeneration": 1}});
    let rev = |n: i64, hash: &str| {
        json!({"kind": "ControllerRevision", "revision": n,
        "metadata": {"name": format!("agent-{hash}"), "labels": {"controller-revision-hash": hash},
            "ownerReferences": [{"uid": "s-1", "controller": true}]}})
    };
    let (r1, r2) = (rev(1, "db-old"), rev(2, "db-new"));
    let current = current_pods(&ds, &[], &[&r2, &r1], &[&a, &b]);
    assert_eq!(
        current
            .iter()
            .map(|p| str(p, "/metadata/name"))
            .collect::<Vec<_>>(),
        ["db-0"]
    );
}

#[test]
fn jobs_and_expression_selected_workloads_are_matched_by_owner() {
    let job = json!({"kind": "Job", "metadata": {"name": "migrate", "uid": "j-1"},
        "spec": {"selector": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}}});
    let p = json!({"kind": "Pod", "metadata": {"name": "migrate-x", "uid": "p",
        "ownerReferences": [{"uid": "j-1", "controller": true}]}});
    assert_eq!(current_pods(&job, &[], &[], &[&p]).len(), 1);
}

#[test]
fn the_budget_is_one_failure_per_replica_none_for_jobs_or_the_annotation() {
    assert_eq!(failures_allowed(&deployment("1", 1, 1)), 2);
    assert_eq!(failures_allowed(&json!({"kind": "Job"})), 0);
    assert_eq!(failures_allowed(&json!({"kind": "StatefulSet"})), 1);
    assert_eq!(
        failures_allowed(&json!({"kind": "Pod", "spec": {"restartPolicy": "Never"}})),
        0
    );
    assert_eq!(
        failures_allowed(&json!({"kind": "Deployment", "spec": {"replicas": 4},
        "metadata": {"annotations": {"berth.dev/failures-allowed": "0"}}})),
        0
    );
}

#[test]
fn one_crash_within_the_budget_waits_and_a_crash_loop_beyond_it_fails() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    let c = ctx(now, &none, &expected);
    let w = deployment("1", 1, 1);
    let mut tracker = Tracker::new(STARTED);
    let once = pod("web-a", "rs", crash_looping(1));
    let fine = pod("web-b", "rs", json!({}));
    tracker.observe(&once, now);
    tracker.observe(&fine, now);
    assert_eq!(
        assess(&tracker, &w, &[&once, &fine], vec![], &c),
        Assessment::default()
    );

    let looping = pod("web-a", "rs", crash_looping(3));
    tracker.observe(&looping, now);
    let verdict = assess(&tracker, &w, &[&looping, &fine], vec![], &c);
    let failure = verdict.failure.expect("beyond the budget");
    assert!(
        failure.contains("keeps crashing")
            && failure.contains("3 failures")
            && failure.contains("2 allowed"),
        "{failure}"
    );
}

#[test]
fn restarts_from_before_the_wait_are_not_this_rollouts_failures() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    let w = deployment("1", 1, 1);
    let mut tracker = Tracker::new("2026-11-29T13:00:00Z"); // the pod is from 12:00
    let old = pod("web-a", "rs", crash_looping(7));
    tracker.observe(&old, now);
    assert_eq!(
        assess(&tracker, &w, &[&old], vec![], &ctx(now, &none, &expected)).failure,
        None
    );
    let again = pod("web-a", "rs", crash_looping(10));
    tracker.observe(&again, now);
    assert!(
        assess(&tracker, &w, &[&again], vec![], &ctx(now, &none, &expected))
            .failure
            .is_some()
    );
}

#[test]
fn a_job_has_no_budget() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    let job = json!({"kind": "Job", "metadata": {"name": "m", "uid": "rs"}});
    let mut tracker = Tracker::new(STARTED);
    let p = pod("m-1", "rs", crash_looping(1));
    tracker.observe(&p, now);
    assert!(
        assess(&tracker, &job, &[&p], vec![], &ctx(now, &none, &expected))
            .failure
            .is_some()
    );
}

#[test]
fn a_pull_that_fails_once_is_ridden_out_and_one_that_keeps_failing_is_not() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    let c = ctx(now, &none, &expected);
    let w = json!({"kind": "Deployment", "spec": {"replicas": 1}});
    let mut tracker = Tracker::new(STARTED);
    let msg = "failed to pull: 429 Too Many Requests";
    for reason in ["ErrImagePull", "ImagePullBackOff"] {
        let p = pod("web-a", "rs", waiting(reason, msg));
        tracker.observe(&p, now);
        assert_eq!(
            assess(&tracker, &w, &[&p], vec![], &c).failure,
            None,
            "after {reason}"
        );
    }
    let retry = pod("web-a", "rs", waiting("ErrImagePull", "manifest unknown"));
    tracker.observe(&retry, now);
    let failure = assess(&tracker, &w, &[&retry], vec![], &c)
        .failure
        .expect("second failed pull");
    assert!(
        failure.contains("cannot pull image") && failure.contains("2 failures"),
        "{failure}"
    );
}

#[test]
fn what_cannot_heal_fails_at_once() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    let w = deployment("1", 1, 1);
    let tracker = Tracker::new(STARTED);
    for (reason, message) in [
        ("InvalidImageName", "invalid reference format"),
        ("ErrImageNeverPull", "never pull"),
        ("CreateContainerConfigError", "secret \"db\" not found"),
    ] {
        let p = pod("web-a", "rs", waiting(reason, message));
        let failure = assess(&tracker, &w, &[&p], vec![], &ctx(now, &none, &expected)).failure;
        assert!(failure.is_some_and(|f| f.contains("web-a")), "{reason}");
    }
}

#[test]
fn a_secret_that_the_stack_creates_later_is_waited_for() {
    let none = Autoscaler::Absent;
    let expected: HashSet<_> = [(
        "shop".to_string(),
        "Secret".to_string(),
        "web-tls".to_string(),
    )]
    .into();
    let now = Instant::now();
    let tracker = Tracker::new(STARTED);
    let w = deployment("1", 1, 1);
    let p = pod(
        "web-a",
        "rs",
        waiting("CreateContainerConfigError", "secret \"web-tls\" not found"),
    );
    let verdict = assess(&tracker, &w, &[&p], vec![], &ctx(now, &none, &expected));
    assert_eq!(verdict.failure, None);
    assert!(verdict.note.is_some_and(|n| n.contains("web-tls")));
    let other = pod(
        "web-a",
        "rs",
        waiting(
            "CreateContainerConfigError",
            "couldn't find key password in Secret shop/db",
        ),
    );
    assert!(
        assess(&tracker, &w, &[&other], vec![], &ctx(now, &none, &expected))
            .failure
            .is_some()
    );
}

#[test]
fn unschedulable_without_an_autoscaler_fails_at_once() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    let mut tracker = Tracker::new(STARTED);
    let p = pod("web-a", "rs", unschedulable());
    tracker.observe(&p, now);
    let f = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        vec![],
        &ctx(now, &none, &expected),
    )
    .failure;
    assert!(f.is_some_and(|f| f.contains("Insufficient cpu")));
}

#[test]
fn a_claim_not_created_yet_is_waited_for_even_without_an_autoscaler() {
    let (none, expected) = (Autoscaler::Absent, HashSet::new());
    let now = Instant::now();
    for message in [
        "0/3 nodes are available: persistentvolumeclaim \"data-manager-0\" not found. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: not eligible due to preemptionPolicy=Never.",
    ] {
        let mut tracker = Tracker::new(STARTED);
        let p = pod(
            "manager-0",
            "rs",
            json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": message}]}}),
        );
        tracker.observe(&p, now);
        let v = assess(
            &tracker,
            &deployment("1", 1, 1),
            &[&p],
            vec![],
            &ctx(now, &none, &expected),
        );
        assert_eq!(v.failure, None, "{message}");
        assert!(
            v.note.is_some_and(|n| n.contains("PersistentVolumeClaim")),
            "{message}"
        );
    }
    // Must not: a claim that is found but a node that is not still fails at once.
    assert_eq!(
        missing_claim("0/3 nodes are available: 3 Insufficient cpu."),
        None
    );
    assert_eq!(
        missing_claim("persistentvolumeclaim \"x\" is being deleted"),
        None
    );
}

#[test]
fn a_scale_up_in_progress_is_waited_for() {
    let (ca, expected) = (
        Autoscaler::Present("cluster-autoscaler".into()),
        HashSet::new(),
    );
    let now = Instant::now();
    let mut tracker = Tracker::new(STARTED);
    let p = pod("web-a", "rs", unschedulable());
    tracker.observe(&p, now);
    let events = vec![
        event(
            "FailedScheduling",
            "0/3 nodes are available",
            "default-scheduler",
            "2026-11-29T12:00:01Z",
        ),
        event(
            "TriggeredScaleUp",
            "pod triggered scale-up: [{eks-workers-a 1->2 (max: 10)}]",
            "cluster-autoscaler",
            "2026-11-29T12:00:05Z",
        ),
    ];
    // Long after the grace period: the autoscaler answered, so the wait goes on.
    let later = now + Duration::from_secs(300);
    let verdict = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        events,
        &ctx(later, &ca, &expected),
    );
    assert_eq!(verdict.failure, None);
    assert_eq!(
        verdict.note.as_deref(),
        Some("waiting for a new node: cluster-autoscaler scale-up of eks-workers-a 1->2 (max: 10)")
    );
}

#[test]
fn karpenter_nomination_is_waited_for_and_its_refusal_is_not() {
    let (k, expected) = (Autoscaler::Present("Karpenter".into()), HashSet::new());
    let now = Instant::now();
    let mut tracker = Tracker::new(STARTED);
    let p = pod("web-a", "rs", unschedulable());
    tracker.observe(&p, now);
    let nominated = vec![event(
        "Nominated",
        "Pod should schedule on: nodeclaim/default-8wq5k",
        "karpenter",
        "2026-11-29T12:00:05Z",
    )];
    let v = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        nominated,
        &ctx(now, &k, &expected),
    );
    assert_eq!(
        v.note.as_deref(),
        Some("waiting for a new node: Karpenter is launching nodeclaim/default-8wq5k")
    );
    let refused = vec![event(
        "FailedScheduling",
        "Failed to schedule pod, incompatible with nodepool \"default\"",
        "karpenter",
        "2026-11-29T12:00:05Z",
    )];
    let f = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        refused,
        &ctx(now, &k, &expected),
    )
    .failure;
    assert!(
        f.is_some_and(|f| f.contains("Karpenter will not add one")
            && f.contains("incompatible with nodepool"))
    );
}

#[test]
fn an_autoscaler_that_can_add_no_node_is_not_waited_for() {
    let expected = HashSet::new();
    let idle = Autoscaler::Idle("Karpenter runs but has no NodePool".into());
    let present = Autoscaler::Present("Karpenter".into());
    let now = Instant::now();
    let mut tracker = Tracker::new(STARTED);
    let p = pod("web-a", "rs", unschedulable());
    tracker.observe(&p, now);
    // Must act: with no NodePool, Karpenter never answers; fail at once, saying why.
    let f = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        vec![],
        &ctx(now, &idle, &expected),
    )
    .failure;
    assert!(
        f.as_deref()
            .is_some_and(|f| f.starts_with("pod web-a: no node can run the pod")
                && f.ends_with("(Karpenter runs but has no NodePool)")),
        "{f:?}"
    );
    // Must not: with a NodePool, the same silence is waited for within the grace period.
    let v = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        vec![],
        &ctx(now, &present, &expected),
    );
    assert_eq!(v.failure, None);
}

#[test]
fn not_trigger_scale_up_fails_with_the_autoscalers_reason_and_the_latest_answer_wins() {
    let (ca, expected) = (
        Autoscaler::Present("cluster-autoscaler".into()),
        HashSet::new(),
    );
    let now = Instant::now();
    let mut tracker = Tracker::new(STARTED);
    let p = pod("web-a", "rs", unschedulable());
    tracker.observe(&p, now);
    let refused = "pod didn't trigger scale-up: 1 max node group size reached";
    let events = vec![event(
        "NotTriggerScaleUp",
        refused,
        "cluster-autoscaler",
        "2026-11-29T12:00:05Z",
    )];
    let f = assess(
        &tracker,
        &deployment("1", 1, 1),
        &[&p],
        events.clone(),
        &ctx(now, &ca, &expected),
    )
    .failure;
    assert!(
        f.is_some_and(|f| f.contains("cluster-autoscaler will not add one")
            && f.contains("max node group size reached"))
    );
    let mut both = events;
    both.push(event(
        "TriggeredScaleUp",
        "pod triggered scale-up: [{b 0->1 (max: 3)}]",
        "cluster-autoscaler",
        "2026-11-29T12:01:00Z",
    ));
    assert_eq!(
        assess(
            &tracker,
            &deployment("1", 1, 1),
            &[&p],
            both,
            &ctx(now, &ca, &expected)
        )
        .failure,
        None
    );
}

#[test]
fn an_autoscaler_that_stays_silent_fails_after_the_grace_period() {
    let (unknown, expected) = (Autoscaler::Unknown, HashSet::new());
    let now = Instant::now();
    let mut tracker = Tracker::new(STARTED);
    let p = pod("web-a", "rs", unschedulable());
    tracker.observe(&p, now);
    let w = deployment("1", 1, 1);
    let early = assess(
        &tracker,
        &w,
        &[&p],
        vec![],
        &ctx(now + Duration::from_secs(5), &unknown, &expected),
    );
    assert_eq!(early.failure, None);
    assert!(early.note.is_some_and(|n| n.contains("waiting up to 30s")));
    assert_eq!(
        tracker.next_deadline(Duration::from_secs(30)),
        Some(now + Duration::from_secs(30))
    );
    let late = assess(
        &tracker,
        &w,
        &[&p],
        vec![],
        &ctx(now + Duration::from_secs(31), &unknown, &expected),
    );
    assert!(
        late.failure
            .is_some_and(|f| f.contains("did not answer within 30s"))
    );
    // Scheduled after all: the clock stops.
    let scheduled = pod("web-a", "rs", json!({}));
    tracker.observe(&scheduled, now);
    assert_eq!(tracker.next_deadline(Duration::from_secs(30)), None);
}
