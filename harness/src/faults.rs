//! The declarative, seeded fault plan: which calls and notifications misbehave, and how. Rules
//! fire by probability or for "the next N" matching events; every draw comes from the
//! simulator's seeded generator, in rule order, so a seed replays a run exactly.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// One way to misbehave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Endpoint: a signed `result_code=FAIL` `SYSTEMERROR` reply; nothing takes effect.
    SystemError,
    /// Endpoint (refund): `BIZERR_NEED_RETRY`; nothing takes effect.
    BizerrNeedRetry,
    /// Endpoint: an HTTP 5xx page; nothing takes effect.
    Http5xx {
        /// The status, 502 by default.
        #[serde(default = "default_5xx")]
        status: u16,
    },
    /// Endpoint: the connection is reset before processing; nothing takes effect.
    ConnectionReset,
    /// Endpoint: the request takes effect but the reply comes after `delay_ms` (past a
    /// client's timeout it is as good as lost).
    SlowReply {
        /// The delay.
        delay_ms: u64,
    },
    /// Endpoint: the request takes effect and the reply never arrives.
    ReplyLost,
    /// Notification: this delivery attempt is lost on the way (WeChat sees no ack and retries).
    Drop,
    /// Notification: an identical copy is delivered right after.
    Duplicate,
    /// Notification: an identical copy is delivered at the same time.
    Concurrent,
    /// Notification: the first attempt is held back so later notifications overtake it.
    Reorder,
    /// Notification: the first attempt comes `seconds` late.
    Delay {
        /// The delay in virtual seconds.
        seconds: u32,
    },
    /// Notification: an extra copy with a corrupted `sign` is delivered first.
    TamperSign,
    /// Notification: an extra copy with a different `total_fee`, signed with the real key (only
    /// an amount check catches it), is delivered first.
    ForgeAmount,
    /// 医保 (`payinsurance_unifiedorder`): NHSA re-settled between 6201 and the order, moving
    /// 1.00 yuan from the fund to cash; the order is refused (`FEE_CHANGED`) unless it says
    /// `allow_fee_change` 1, and then takes NHSA's amounts.
    SplitChanged,
    /// 医保 (`payinsurance_refund`): err_code 556, a transient 医保-side outage; nothing takes
    /// effect (yibao-pay.md §7.5).
    InsuranceOutage,
}

fn default_5xx() -> u16 {
    502
}

impl Fault {
    /// True for faults that apply to notifications rather than endpoint calls.
    pub fn is_notification_fault(&self) -> bool {
        matches!(
            self,
            Fault::Drop
                | Fault::Duplicate
                | Fault::Concurrent
                | Fault::Reorder
                | Fault::Delay { .. }
                | Fault::TamperSign
                | Fault::ForgeAmount
        )
    }
}

/// One rule of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// An endpoint (`unifiedorder`, `orderquery`, `closeorder`, `refund`, `refundquery`,
    /// `downloadbill`, `getsignkey`), `*` for every endpoint, or `payment_notification`,
    /// `refund_notification`, `notification` (both).
    pub target: String,
    /// What happens.
    pub fault: Fault,
    /// The chance per matching event, 0 to 1 (a probability, not money).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Fire for the next N matching events, then stop.
    #[serde(default)]
    pub next: Option<u32>,
}

/// The whole plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Rules, evaluated in order.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

fn rule(target: &str, fault: Fault, probability: f64) -> FaultRule {
    FaultRule {
        target: target.to_owned(),
        fault,
        probability: Some(probability),
        next: None,
    }
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// The everyday mix the demo runs with: what a busy production day looks like.
    pub fn default_mix() -> FaultPlan {
        FaultPlan {
            rules: vec![
                rule("*", Fault::SystemError, 0.02),
                rule("refund", Fault::BizerrNeedRetry, 0.02),
                rule("*", Fault::ReplyLost, 0.01),
                rule("*", Fault::Http5xx { status: 502 }, 0.005),
                rule("notification", Fault::Duplicate, 0.10),
                rule("notification", Fault::Concurrent, 0.03),
                rule("notification", Fault::Drop, 0.05),
                rule("notification", Fault::Delay { seconds: 20 }, 0.05),
                rule("notification", Fault::Reorder, 0.02),
                rule("payment_notification", Fault::TamperSign, 0.01),
                rule("payment_notification", Fault::ForgeAmount, 0.01),
            ],
        }
    }

    /// A hostile day: every fault often.
    pub fn heavy() -> FaultPlan {
        FaultPlan {
            rules: vec![
                rule("*", Fault::SystemError, 0.10),
                rule("refund", Fault::BizerrNeedRetry, 0.10),
                rule("*", Fault::ReplyLost, 0.05),
                rule("*", Fault::ConnectionReset, 0.03),
                rule("*", Fault::Http5xx { status: 503 }, 0.03),
                rule("notification", Fault::Duplicate, 0.30),
                rule("notification", Fault::Concurrent, 0.15),
                rule("notification", Fault::Drop, 0.30),
                rule("notification", Fault::Delay { seconds: 60 }, 0.20),
                rule("notification", Fault::Reorder, 0.10),
                rule("payment_notification", Fault::TamperSign, 0.05),
                rule("payment_notification", Fault::ForgeAmount, 0.05),
            ],
        }
    }

    /// Checks targets and probabilities.
    pub fn validate(&self) -> Result<(), String> {
        const ENDPOINTS: [&str; 8] = [
            "*",
            "unifiedorder",
            "orderquery",
            "closeorder",
            "refund",
            "refundquery",
            "downloadbill",
            "getsignkey",
        ];
        const NOTIFICATIONS: [&str; 4] = [
            "notification",
            "payment_notification",
            "refund_notification",
            "medical_notification",
        ];
        for (index, rule) in self.rules.iter().enumerate() {
            let is_notification_target = NOTIFICATIONS.contains(&rule.target.as_str());
            let is_medical_target = MEDICAL_ENDPOINTS.contains(&rule.target.as_str());
            if !is_notification_target
                && !is_medical_target
                && !ENDPOINTS.contains(&rule.target.as_str())
            {
                return Err(format!("rule {index}: unknown target {:?}", rule.target));
            }
            if is_notification_target != rule.fault.is_notification_fault() {
                return Err(format!(
                    "rule {index}: fault {:?} does not apply to {:?}",
                    rule.fault, rule.target
                ));
            }
            match (rule.probability, rule.next) {
                (Some(probability), None) if (0.0..=1.0).contains(&probability) => {}
                (None, Some(_)) => {}
                _ => {
                    return Err(format!(
                        "rule {index}: give either a probability in 0..=1 or next"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// The 医保 endpoints a rule may target: userQuery, every NHSA transaction or one of them, and
/// each payinsurance operation.
pub const MEDICAL_ENDPOINTS: [&str; 11] = [
    "userquery",
    "nhsa",
    "nhsa_6201",
    "nhsa_6203",
    "nhsa_6301",
    "nhsa_6401",
    "payinsurance_unifiedorder",
    "payinsurance_queryorder",
    "payinsurance_refund",
    "payinsurance_queryrefund",
    "payinsurance_closeorder",
];

/// The plan in force, with its "next N" counters.
#[derive(Clone, Debug)]
pub struct FaultEngine {
    plan: FaultPlan,
    remaining: Vec<Option<u32>>,
}

impl FaultEngine {
    /// Starts a plan.
    pub fn new(plan: FaultPlan) -> FaultEngine {
        let remaining = plan.rules.iter().map(|rule| rule.next).collect();
        FaultEngine { plan, remaining }
    }

    /// The plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    fn fires(&mut self, index: usize, rng: &mut ChaCha8Rng) -> bool {
        let Some(rule) = self.plan.rules.get(index) else {
            return false;
        };
        match (rule.probability, self.remaining.get_mut(index)) {
            (Some(probability), _) => {
                // Drawn for every matching event whatever the outcome, so the stream of draws
                // depends only on the sequence of events.
                let draw = rng.next_u32();
                f64::from(draw) < probability * f64::from(u32::MAX)
            }
            (None, Some(Some(count))) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        }
    }

    /// The fault for one call to `endpoint`, if any: the first rule that fires.
    pub fn endpoint_fault(&mut self, endpoint: &str, rng: &mut ChaCha8Rng) -> Option<Fault> {
        for index in 0..self.plan.rules.len() {
            let matches = self.plan.rules.get(index).is_some_and(|rule| {
                !rule.fault.is_notification_fault()
                    && (rule.target == "*" || rule.target == endpoint)
            });
            if matches && self.fires(index, rng) {
                return self.plan.rules.get(index).map(|rule| rule.fault.clone());
            }
        }
        None
    }

    /// Every notification fault that fires for a new notification of `kind` (`payment` or
    /// `refund`); several can stack.
    pub fn notification_faults(&mut self, kind: &str, rng: &mut ChaCha8Rng) -> Vec<Fault> {
        let specific = format!("{kind}_notification");
        let mut fired = Vec::new();
        for index in 0..self.plan.rules.len() {
            let matches = self
                .plan
                .rules
                .get(index)
                .is_some_and(|rule| rule.target == "notification" || rule.target == specific);
            if matches && self.fires(index, rng) {
                if let Some(rule) = self.plan.rules.get(index) {
                    fired.push(rule.fault.clone());
                }
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn next_n_rules_fire_exactly_n_times() {
        let plan = FaultPlan {
            rules: vec![FaultRule {
                target: "refund".into(),
                fault: Fault::ReplyLost,
                probability: None,
                next: Some(2),
            }],
        };
        let mut engine = FaultEngine::new(plan);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(engine.endpoint_fault("orderquery", &mut rng), None);
        assert_eq!(
            engine.endpoint_fault("refund", &mut rng),
            Some(Fault::ReplyLost)
        );
        assert_eq!(
            engine.endpoint_fault("refund", &mut rng),
            Some(Fault::ReplyLost)
        );
        assert_eq!(engine.endpoint_fault("refund", &mut rng), None);
    }

    #[test]
    fn presets_are_valid_and_bad_rules_are_refused() {
        assert_eq!(FaultPlan::default_mix().validate(), Ok(()));
        assert_eq!(FaultPlan::heavy().validate(), Ok(()));
        let wrong_target = FaultPlan {
            rules: vec![rule("notification", Fault::SystemError, 0.5)],
        };
        assert!(wrong_target.validate().is_err());
        let bad_probability = FaultPlan {
            rules: vec![rule("*", Fault::SystemError, 1.5)],
        };
        assert!(bad_probability.validate().is_err());
    }
}
