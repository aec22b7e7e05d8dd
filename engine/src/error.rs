//! The engine's error enum: every variant carries what a caller needs to act, and
//! [`EngineError::is_transient`] says whether trying again later can succeed.

use cashier_adapters::{MchId, OutTradeNo};

use crate::keys::KeyError;
use crate::machine::Rejection;
use crate::model::Refusal;
use crate::order_number::OrderNumberError;
use crate::store::StoreError;

/// Errors of the engine's API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The machine refused the request (a business rule; nothing changed).
    #[error("refused: {0}")]
    Rejected(#[from] Rejection),
    /// Storage failed; nothing was acknowledged or sent after the failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No order under this number (or attempt, refund or transaction number).
    #[error("unknown order {key}")]
    UnknownOrder {
        /// The number looked up.
        key: String,
    },
    /// No such entry point in the configuration.
    #[error("unknown entry point {entry}")]
    UnknownEntry {
        /// The name asked for.
        entry: String,
    },
    /// The merchant a record names has no transport in this configuration.
    #[error("mch_id {mch_id} is not configured")]
    NotConfigured {
        /// The merchant.
        mch_id: MchId,
    },
    /// A request parameter is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The parameter.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The unified order has not succeeded yet (WeChat failing or outcome unknown); the engine
    /// keeps retrying and querying on its own.
    #[error("payment {out_trade_no} is not ready yet ({state})")]
    PaymentNotReady {
        /// The attempt.
        out_trade_no: OutTradeNo,
        /// Its state.
        state: &'static str,
    },
    /// WeChat refused the payment for good.
    #[error("payment {out_trade_no} refused: {refusal}")]
    PaymentRefused {
        /// The attempt.
        out_trade_no: OutTradeNo,
        /// Why.
        refusal: Refusal,
    },
    /// An order number could not be issued.
    #[error("order number: {0}")]
    OrderNumber(#[from] OrderNumberError),
    /// Keys could not be had.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The payer's 医保 authorisation (authCode) was refused, had expired or was used; nothing
    /// changed: the payer authorises again.
    #[error("医保 authorisation failed: {reason}")]
    MedicalAuthorisation {
        /// What userQuery said.
        reason: String,
    },
    /// WeChat's bill of the day cannot be had yet (it exists from 09:00 the next day) or failed.
    #[error("the bill of {day} is not available: {reason}")]
    BillNotReady {
        /// The day (`yyyymmdd`).
        day: u32,
        /// What WeChat said.
        reason: String,
    },
}

impl EngineError {
    /// True when the same call may succeed later without the caller changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Store(error) => error.is_transient(),
            EngineError::PaymentNotReady { .. } | EngineError::Keys(KeyError::Provider { .. }) => {
                true
            }
            EngineError::OrderNumber(OrderNumberError::Reservation(_)) => true,
            _ => false,
        }
    }
}
