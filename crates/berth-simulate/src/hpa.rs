//! The HorizontalPodAutoscaler controller, step for step as `kube-controller-manager` does it
//! (`pkg/controller/podautoscaler/horizontal.go` and `replica_calculator.go`).
//!
//! Per metric: `desired = ceil(current × usage / target)` over the pods that have metrics, no
//! change within the tolerance (0.1), with the controller's damping: pending pods are ignored;
//! pods still starting are "unready" for CPU (0% on a scale-up) and have no metrics yet for
//! memory ("missing": 100% of the request on a scale-down, 0% on a scale-up); if the damped
//! ratio flips direction, nothing changes. The largest proposal of all metrics wins; when a
//! metric has no data and the rest would scale down, nothing changes.
//!
//! Then the result is stabilized and rate-limited: with `spec.behavior`, by its stabilization
//! windows (max of recent recommendations for scale-down, min for scale-up) and its
//! Pods/Percent policies (selectPolicy Max, Min or Disabled); without it, by the controller's
//! older rules (a 300 s downscale window and at most `max(2 × current, 4)` on a scale-up).
//! Usage is the load spread evenly over ready pods; metric-server lag is not modelled.

use crate::inputs::{Behavior, HpaSpec, PolicyKind, Resource, Rules, Select, Target};

/// Default `--horizontal-pod-autoscaler-tolerance`.
const TOLERANCE: f64 = 0.1;
/// Default `--horizontal-pod-autoscaler-downscale-stabilization`, used without `behavior`.
const LEGACY_DOWNSCALE_WINDOW_S: i64 = 300;

/// What the controller sees of a workload's pods at one sync.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    /// `spec.replicas` of the target.
    pub current: u32,
    /// Pods running and ready: they have metrics.
    pub ready: u32,
    /// Pods scheduled, not ready yet.
    pub starting: u32,
    /// Total CPU demand of the workload, millicores.
    pub cpu_m: f64,
    /// Total memory demand, bytes; None when the load gives none.
    pub mem_b: Option<f64>,
    /// Requests of one pod.
    pub req_cpu_m: i64,
    pub req_mem_b: i64,
}

/// The controller's memory for one HPA: recommendations and scale events.
#[derive(Clone, Debug, Default)]
pub(crate) struct HpaState {
    recommendations: Vec<(i64, u32)>,
    up_events: Vec<(i64, i64)>,
    down_events: Vec<(i64, i64)>,
}

/// Why a sync did not produce a recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoScale {
    /// No metric could be computed (no ready pods, or no requests), or one failed and the
    /// others said scale down.
    MissingMetrics,
    /// The target has 0 replicas and minReplicas > 0: autoscaling is off.
    Disabled,
}

fn within(ratio: f64, up: f64, down: f64) -> bool {
    (1.0 - down) <= ratio && ratio <= (1.0 + up)
}

/// `GetResourceReplicas` / `calcPlainMetricReplicas` for pods that all have the same request.
/// `usage` is one ready pod's usage (millicores or bytes), `request` one pod's request.
#[allow(clippy::too_many_arguments)]
pub(crate) fn replicas_for_metric(
    current: u32,
    ready: u32,
    unready: u32,
    missing: u32,
    usage: i64,
    request: i64,
    target: Target,
    tol: (f64, f64),
) -> Option<u32> {
    if ready == 0 {
        return None; // "did not receive metrics for any ready pods"
    }
    // The ratio of (total usage over `count` pods) to the target, as the controller rounds it.
    let ratio = |total: i128, count: u32| -> Option<f64> {
        match target {
            Target::Utilization(pct) => {
                let requests = request as i128 * count as i128;
                if requests == 0 {
                    return None;
                }
                let utilization = (total * 100 / requests) as i64;
                Some(utilization as f64 / pct as f64)
            }
            Target::AverageValue(avg) => {
                let per_pod = (total / count as i128) as i64;
                Some(per_pod as f64 / avg as f64)
            }
        }
    };
    let total = usage as i128 * ready as i128;
    let usage_ratio = ratio(total, ready)?;
    let scale_up_with_unready = unready > 0 && usage_ratio > 1.0;
    if !scale_up_with_unready && missing == 0 {
        if within(usage_ratio, tol.0, tol.1) {
            return Some(current);
        }
        return Some((usage_ratio * ready as f64).ceil() as u32);
    }
    let (mut total, mut count) = (total, ready);
    if missing > 0 {
        if usage_ratio < 1.0 {
            let fallback = match target {
                Target::Utilization(pct) => request as i128 * pct.max(100) as i128 / 100,
                Target::AverageValue(avg) => avg as i128,
            };
            total += fallback * missing as i128;
            count += missing;
        } else if usage_ratio > 1.0 {
            count += missing;
        }
    }
    if scale_up_with_unready {
        count += unready;
    }
    let new_ratio = ratio(total, count)?;
    if within(new_ratio, tol.0, tol.1)
        || (usage_ratio < 1.0 && new_ratio > 1.0)
        || (usage_ratio > 1.0 && new_ratio < 1.0)
    {
        return Some(current);
    }
    let new_replicas = (new_ratio * count as f64).ceil() as u32;
    if (new_ratio < 1.0 && new_replicas > current) || (new_ratio > 1.0 && new_replicas < current) {
        return Some(current);
    }
    Some(new_replicas)
}

impl HpaState {
    /// One sync of the controller at time `now` (seconds): the new `spec.replicas` for the
    /// target, or why there is none. Records what the controller records.
    pub fn sync(&mut self, hpa: &HpaSpec, obs: &Observed, now: i64) -> Result<u32, NoScale> {
        let current = obs.current;
        if current == 0 && hpa.min != 0 {
            return Err(NoScale::Disabled);
        }
        let desired = if current > hpa.max {
            hpa.max
        } else if current < hpa.min {
            hpa.min
        } else {
            let metric = self.metric_replicas(hpa, obs)?;
            match &hpa.behavior {
                Some(b) => {
                    let stabilized = self.stabilize_with_behavior(b, current, metric, now);
                    self.rate_limit(hpa, b, current, stabilized, now)
                }
                None => {
                    let stabilized = self.stabilize_legacy(metric, now);
                    let up_limit = (current * 2).max(4).min(hpa.max);
                    stabilized.clamp(hpa.min.min(up_limit), up_limit)
                }
            }
        };
        if desired != current && hpa.behavior.is_some() {
            let change = desired as i64 - current as i64;
            if change > 0 {
                self.up_events.push((now, change));
            } else {
                self.down_events.push((now, -change));
            }
            // Events older than the longest policy period never count again.
            let longest = hpa
                .behavior
                .iter()
                .flat_map(|b| b.up.policies.iter().chain(&b.down.policies))
                .map(|p| p.period_s as i64)
                .max()
                .unwrap_or(0);
            self.up_events.retain(|e| e.0 > now - longest);
            self.down_events.retain(|e| e.0 > now - longest);
        }
        Ok(desired)
    }

    /// `computeReplicasForMetrics`: the largest proposal over all metrics.
    fn metric_replicas(&self, hpa: &HpaSpec, obs: &Observed) -> Result<u32, NoScale> {
        let tol = |b: Option<&Behavior>| {
            (
                b.and_then(|b| b.up.tolerance).unwrap_or(TOLERANCE),
                b.and_then(|b| b.down.tolerance).unwrap_or(TOLERANCE),
            )
        };
        let tol = tol(hpa.behavior.as_ref());
        let (mut best, mut invalid, mut counted) = (0u32, 0usize, 0usize);
        for m in &hpa.metrics {
            let proposal = match m.resource {
                Resource::Cpu => {
                    let usage = (obs.cpu_m / obs.ready.max(1) as f64).round() as i64;
                    replicas_for_metric(
                        obs.current,
                        obs.ready,
                        obs.starting,
                        0,
                        usage,
                        obs.req_cpu_m,
                        m.target,
                        tol,
                    )
                }
                Resource::Memory => {
                    // No memory in the load: the metric is left out, not counted as failing.
                    let Some(mem_b) = obs.mem_b else { continue };
                    let per_pod = mem_b / obs.ready.max(1) as f64;
                    let usage = match m.target {
                        Target::Utilization(_) => per_pod.round() as i64,
                        Target::AverageValue(_) => (per_pod * 1000.0).round() as i64,
                    };
                    replicas_for_metric(
                        obs.current,
                        obs.ready,
                        0,
                        obs.starting,
                        usage,
                        obs.req_mem_b,
                        m.target,
                        tol,
                    )
                }
            };
            counted += 1;
            match proposal {
                Some(p) => best = best.max(p),
                None => invalid += 1,
            }
        }
        if counted == 0 {
            return Ok(obs.current);
        }
        if invalid >= counted || (invalid > 0 && best < obs.current) {
            return Err(NoScale::MissingMetrics);
        }
        Ok(best)
    }

    /// `stabilizeRecommendation` (no `behavior`): the largest recommendation of the last 300 s.
    fn stabilize_legacy(&mut self, desired: u32, now: i64) -> u32 {
        let cutoff = now - LEGACY_DOWNSCALE_WINDOW_S;
        let mut best = desired;
        for &(ts, rec) in &self.recommendations {
            if ts >= cutoff {
                best = best.max(rec);
            }
        }
        self.recommendations.retain(|r| r.0 >= cutoff);
        self.recommendations.push((now, desired));
        best
    }

    /// `stabilizeRecommendationWithBehaviors`.
    fn stabilize_with_behavior(
        &mut self,
        b: &Behavior,
        current: u32,
        desired: u32,
        now: i64,
    ) -> u32 {
        let up_cutoff = now - b.up.window_s as i64;
        let down_cutoff = now - b.down.window_s as i64;
        let (mut up, mut down) = (desired, desired);
        for &(ts, rec) in &self.recommendations {
            if ts > up_cutoff {
                up = up.min(rec);
            }
            if ts > down_cutoff {
                down = down.max(rec);
            }
        }
        let mut recommendation = current;
        if recommendation < up {
            recommendation = up;
        }
        if recommendation > down {
            recommendation = down;
        }
        let oldest = up_cutoff.min(down_cutoff);
        self.recommendations.retain(|r| r.0 > oldest);
        self.recommendations.push((now, desired));
        recommendation
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn rate_limit(&self, hpa: &HpaSpec, b: &Behavior, current: u32, desired: u32, now: i64) -> u32 {
        let current_i = current as i64;
        if desired > current {
            let limit = self.limit(&b.up, current_i, now, true).max(current_i);
            let max_allowed = (hpa.max as i64).min(limit);
            if desired as i64 > max_allowed {
                return max_allowed as u32;
            }
        } else if desired < current {
            let limit = self.limit(&b.down, current_i, now, false).min(current_i);
            let min_allowed = (hpa.min as i64).max(limit);
            if (desired as i64) < min_allowed {
                return min_allowed as u32;
            }
        }
        desired
    }

    /// `calculateScaleUpLimitWithScalingRules` / `calculateScaleDownLimitWithBehaviors`.
    fn limit(&self, rules: &Rules, current: i64, now: i64, up: bool) -> i64 {
        if rules.select == Select::Disabled {
            return current;
        }
        // For scale-up, Max picks the largest proposal; for scale-down, the smallest (the
        // biggest change). Min does the opposite.
        let pick_max = (rules.select == Select::Max) == up;
        let mut result: Option<i64> = None;
        for p in &rules.policies {
            let cutoff = now - p.period_s as i64;
            let added: i64 = self
                .up_events
                .iter()
                .filter(|e| e.0 > cutoff)
                .map(|e| e.1)
                .sum();
            let deleted: i64 = self
                .down_events
                .iter()
                .filter(|e| e.0 > cutoff)
                .map(|e| e.1)
                .sum();
            let start = current - added + deleted;
            let proposed = match (p.kind, up) {
                (PolicyKind::Pods, true) => start + p.value,
                (PolicyKind::Pods, false) => start - p.value,
                (PolicyKind::Percent, true) => {
                    (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64
                }
                (PolicyKind::Percent, false) => {
                    (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64
                }
            };
            result = Some(match result {
                None => proposed,
                Some(r) if pick_max => r.max(proposed),
                Some(r) => r.min(proposed),
            });
        }
        // No policies: nothing limits this direction.
        result.unwrap_or(if up { i64::MAX } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unready_pods_damp_a_scale_up() {
        // 1 ready pod at 260% of its 100m request, 1 unready, target 50%: raw ratio 5.2 would
        // ask ceil(5.2 × 1) = 6; with the unready pod at 0%: (260 + 0) / 200 = 130% → 2.6 →
        // ceil(2.6 × 2) = 6. Same requests make the two equal, as the controller's math says.
        assert_eq!(
            replicas_for_metric(2, 1, 1, 0, 260, 100, Target::Utilization(50), (0.1, 0.1)),
            Some(6)
        );
    }

    #[test]
    fn missing_pods_damp_a_scale_down() {
        // 4 replicas, target 50%: 3 ready pods at 40m of 100m, one missing. Raw ratio 40/50 =
        // 0.8; with the missing pod at 100%: (120 + 100) / 400 = 55% → 1.1, within tolerance.
        assert_eq!(
            replicas_for_metric(4, 3, 0, 1, 40, 100, Target::Utilization(50), (0.1, 0.1)),
            Some(4)
        );
        // Without the missing pod: ceil(0.8 × 3) = 3.
        assert_eq!(
            replicas_for_metric(3, 3, 0, 0, 40, 100, Target::Utilization(50), (0.1, 0.1)),
            Some(3)
        );
    }

    #[test]
    fn within_tolerance_keeps_current() {
        // 54% of a 50% target: ratio 1.08 ≤ 1.1.
        assert_eq!(
            replicas_for_metric(5, 5, 0, 0, 54, 100, Target::Utilization(50), (0.1, 0.1)),
            Some(5)
        );
        // AverageValue: 300m per pod against 100m → 3 × 2 pods = 6.
        assert_eq!(
            replicas_for_metric(2, 2, 0, 0, 300, 1, Target::AverageValue(100), (0.1, 0.1)),
            Some(6)
        );
        assert_eq!(
            replicas_for_metric(2, 0, 2, 0, 300, 100, Target::Utilization(50), (0.1, 0.1)),
            None
        );
    }
}
