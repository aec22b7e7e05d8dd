//! Engine tests, one binary: data-driven transitions, property tests, end-to-end flows against
//! the simulator, and the crash-recovery test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod end_to_end;
mod support;
