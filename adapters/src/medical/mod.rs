//! WeChat medical-insurance pay (医保支付) 1.0, sans-IO, beside `wechat/`: the payer's
//! 医保电子凭证 authorisation (`user_query.rs`), the NHSA mobile-payment centre with its SM4/SM2
//! envelope (`nhsa/`), and WeChat's payinsurance order, query, refund and notification
//! (`payinsurance/`). Amounts are `AmountFen`; NHSA's yuan strings are converted exactly
//! (`amount.rs`); 国密 primitives are in `sm.rs`. Where the sources are silent the choice is
//! named in the file and in ARCHITECTURE.md.

pub mod amount;
pub mod nhsa;
pub mod payinsurance;
pub mod sm;
pub mod user_query;
