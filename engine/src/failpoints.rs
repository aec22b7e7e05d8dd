//! Seeded failpoints for crash campaigns (`cashier chaos`): named instants where a real crash
//! is most dangerous, at which an armed process aborts at once, as a SIGKILL would stop it.
//! Compiled in only with the `failpoints` feature (the `cashier` facade's `chaos` feature);
//! without it [`hit`] is an empty inline function. Armed only by [`arm`], with a seed, so a
//! failing campaign replays.
//!
//! The instants: `commit_before_sync` (a transition committed, not yet synced: nothing may
//! have left), `sync_before_effect` (durable, its WeChat call not yet sent), `effect_before_outcome`
//! (WeChat answered, the answer not yet recorded), `recovery` (a deadline run after a restart).

#[cfg(feature = "failpoints")]
mod armed {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// A SplitMix64 stream: enough for seeded, replayable coin flips.
    struct Plan {
        state: AtomicU64,
        per_million: u64,
    }

    impl Plan {
        fn next(&self) -> u64 {
            let mut value = self
                .state
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
                .wrapping_add(0x9e37_79b9_7f4a_7c15);
            value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            value ^ (value >> 31)
        }
    }

    static PLAN: OnceLock<Plan> = OnceLock::new();

    /// Arms the failpoints: each hit aborts with probability `per_million` / 1,000,000.
    pub fn arm(seed: u64, per_million: u32) {
        let _ = PLAN.set(Plan {
            state: AtomicU64::new(seed),
            per_million: u64::from(per_million),
        });
    }

    /// Aborts the process here when the armed plan says so.
    pub fn hit(name: &'static str) {
        let Some(plan) = PLAN.get() else { return };
        if plan.next() % 1_000_000 < plan.per_million {
            eprintln!("failpoint {name}: aborting");
            std::process::abort();
        }
    }
}

#[cfg(feature = "failpoints")]
pub use armed::{arm, hit};

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}

/// Without the `failpoints` feature: nothing to arm.
#[cfg(not(feature = "failpoints"))]
pub fn arm(_seed: u64, _per_million: u32) {}

/// True when this build has failpoints compiled in.
pub const COMPILED_IN: bool = cfg!(feature = "failpoints");
