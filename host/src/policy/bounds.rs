//! Bounds: rights do not travel.
//!
//! Threat model: a script allowed only `cron.add` must not be able to schedule
//! work that later runs with more rights than it had — a saved clam with its own
//! URL, fired by the gateway under a wider home policy — and a job made under a
//! wide policy must not keep rights the owner has since taken away. So a job
//! records the policies it was made under (by content hash, with their text kept
//! in the state database) and who made it, and when it fires, its calls are
//! judged by the current policy *narrowed by* each recorded one:
//!
//! - allowed only if every policy allows it;
//! - a `deny`, an invalid argument or a spent budget in any policy refuses it
//!   (in that order of precedence);
//! - otherwise, if any policy asks, a person is asked (unattended: denied), and
//!   a stored grant answers only if it was given for exactly the asking rules;
//! - `[run]` limits are the smaller of each, `[net] allow-private` the
//!   addresses every policy lists, and every policy's budgets count separately.
//!
//! In a recorded policy, the job's calls are judged as its maker's: a job made by
//! a tool component has at most that tool's rights there, and tools running in
//! such a job have none. A policy with no bounds decides alone (owner-made jobs,
//! interactive turns). What this does not do: decide which tool components load
//! (the current policy does; their calls are still judged by every bound).

use std::sync::Arc;

use super::{Call, Caller, Decision, NetSettings, Policy, RunSettings, Usage};

/// How the rule of a refusal by a bound starts (in audit records, denials and
/// replies): the refusal came from the policy the job was made under, so adding
/// a rule to the current policy would not change it.
pub const BOUND_RULE_PREFIX: &str = "job-rights: ";

/// One policy a run is narrowed by, and who made the job under it.
#[derive(Debug, Clone)]
pub struct Bound {
    pub policy: Arc<Policy>,
    /// Who made the job while that policy was in force: the script, or a tool.
    pub maker: Caller,
}

impl Bound {
    /// Whose rules in the bound judge a call `caller` makes in the job: the
    /// maker's, for the job's script; a tool's own, when the script made the
    /// job; none (`None`: refused) for a tool serving a job a tool made.
    fn judged_as(&self, caller: &Caller) -> Option<Caller> {
        match (&self.maker, caller) {
            (Caller::Script, caller) => Some(caller.clone()),
            (maker, Caller::Script) => Some(maker.clone()),
            (Caller::Tool(_), Caller::Tool(_)) => None,
        }
    }

    /// `sha256` shortened for messages.
    fn short(&self) -> &str {
        self.policy
            .sha256()
            .get(..12)
            .unwrap_or(self.policy.sha256())
    }
}

impl Policy {
    /// This policy narrowed by `bounds` (their own bounds included): what a job
    /// made under them runs with.
    pub fn within(mut self, bounds: impl IntoIterator<Item = Bound>) -> Self {
        for bound in bounds {
            let nested: Vec<Bound> = bound.policy.lineage_of_bounds(&bound.maker);
            for bound in std::iter::once(Bound {
                policy: Arc::new(bound.policy.without_bounds()),
                maker: bound.maker.clone(),
            })
            .chain(nested)
            {
                self.run = smaller_run(&self.run, bound.policy.run());
                self.net = common_net(&self.net, bound.policy.net());
                self.bounds.push(bound);
            }
        }
        self
    }

    /// The policies this one is narrowed by.
    pub fn bounds(&self) -> &[Bound] {
        &self.bounds
    }

    /// What a job made by `caller` in a run under this policy must record: this
    /// policy (made by `caller`), then every bound it is under.
    pub fn lineage(&self, caller: &Caller) -> Vec<Bound> {
        let mut out = vec![Bound {
            policy: Arc::new(self.without_bounds()),
            maker: caller.clone(),
        }];
        out.extend(self.lineage_of_bounds(caller));
        out
    }

    /// The bounds, as seen by a job that `caller` makes: a tool making the job
    /// (possible only where the bound's maker was the script) is its maker.
    fn lineage_of_bounds(&self, caller: &Caller) -> Vec<Bound> {
        self.bounds
            .iter()
            .map(|b| Bound {
                policy: Arc::clone(&b.policy),
                maker: match caller {
                    Caller::Script => b.maker.clone(),
                    tool => tool.clone(),
                },
            })
            .collect()
    }

    fn without_bounds(&self) -> Self {
        let mut policy = self.clone();
        policy.bounds.clear();
        policy
    }
}

/// Joins the current policy's decision with every bound's (see the module docs).
pub(super) fn combine(
    own: Decision,
    policy: &Policy,
    caller: &Caller,
    call: &Call<'_>,
    usage: &mut Usage,
) -> Decision {
    if usage.bounds.len() < policy.bounds.len() {
        usage
            .bounds
            .resize_with(policy.bounds.len(), Usage::default);
    }
    let mut decisions = vec![own];
    for (bound, used) in policy.bounds.iter().zip(usage.bounds.iter_mut()) {
        let why = format!(
            " — this job was made under {} (sha256 {}) by {}, and a job never has more rights than the run that made it",
            bound.policy.name(),
            bound.short(),
            bound.maker
        );
        let decision = match bound.judged_as(caller) {
            Some(as_caller) => bound.policy.decide_for(&as_caller, call, used),
            None => Decision::Deny {
                rule: format!("{} (job made by {})", bound.policy.name(), bound.maker),
                reason: format!(
                    "{} by {caller} is refused: tools have no rights in a job a tool made",
                    call.name()
                ),
            },
        };
        let rule_of = |rule: String| {
            if rule == super::DEFAULT_DENY_RULE {
                format!("{BOUND_RULE_PREFIX}{rule} ({})", bound.policy.name())
            } else {
                format!("{BOUND_RULE_PREFIX}{rule}")
            }
        };
        decisions.push(match decision {
            Decision::Deny { rule, reason } => Decision::Deny {
                rule: rule_of(rule),
                reason: reason + &why,
            },
            Decision::Limit { rule, reason } => Decision::Limit {
                rule: rule_of(rule),
                reason: reason + &why,
            },
            other => other,
        });
    }
    let rank = |d: &Decision| match d {
        Decision::Invalid { .. } => 0,
        Decision::Deny { .. } => 1,
        Decision::Limit { .. } => 2,
        Decision::Ask { .. } => 3,
        Decision::Allow { .. } => 4,
    };
    let first = decisions
        .iter()
        .min_by_key(|d| rank(d))
        .cloned()
        .expect("the own decision is always there");
    match first {
        Decision::Ask { rule, mut scope } => {
            // A grant must have been given for every rule that asks.
            let rules: Vec<String> = decisions
                .iter()
                .filter_map(|d| match d {
                    Decision::Ask { scope, .. } => scope.rule.clone(),
                    _ => None,
                })
                .collect();
            scope.rule = Some(rules.join("+"));
            Decision::Ask { rule, scope }
        }
        // Every policy allows: the current policy's rule is named.
        Decision::Allow { .. } => decisions.swap_remove(0),
        refusal => refusal,
    }
}

fn smaller_run(a: &RunSettings, b: &RunSettings) -> RunSettings {
    let pick = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    RunSettings {
        timeout: match (a.timeout, b.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        memory: pick(a.memory, b.memory),
        max_output: pick(a.max_output, b.max_output),
        max_calls: pick(a.max_calls, b.max_calls),
        max_egress: pick(a.max_egress, b.max_egress),
        max_concurrent: pick(a.max_concurrent, b.max_concurrent),
    }
}

fn common_net(a: &NetSettings, b: &NetSettings) -> NetSettings {
    NetSettings {
        allow_private: a
            .allow_private
            .iter()
            .filter(|addr| b.allow_private.contains(addr))
            .copied()
            .collect(),
    }
}
