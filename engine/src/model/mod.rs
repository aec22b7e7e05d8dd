//! The engine's records: a business [`OrderRecord`] with its [`PaymentAttempt`]s (each with
//! the channel context it was made with) and [`RefundRecord`]s, the [`Event`]s that drive them,
//! and the [`Effect`]s a transition asks the shell to run. Plain, typed data: amounts are
//! [`AmountFen`](cashier_adapters::AmountFen), ids are validated newtypes, and nothing here does
//! IO. These are the types of stored format 3 (`store/format.rs` migrates older formats).

mod attempt;
mod event;
mod medical;
mod order;
mod refund;
pub mod text;

pub use attempt::*;
pub use event::*;
pub use medical::*;
pub use order::*;
pub use refund::*;
pub use text::{
    ClientLink, Description, EntryName, MedicalId, MedicalText, NotifyUrl, PayUrl, RefundReason,
    RequestKey, TextError, UnionId,
};
