//! The simulated endpoints, one file each (the same split as the adapters' endpoints). Each
//! handler receives an admitted [`Exchange`] and the state, applies WeChat's rules for that
//! endpoint, and returns the business fields of a success or a rejection.

mod close_order;
mod download_bill;
mod order_query;
mod refund;
mod refund_query;
mod sign_key;
mod unified_order;

use cashier_adapters::Fields;

use crate::config::SimConfig;
use crate::exchange::{self, Exchange, Rejection};
use crate::state::{SimResponse, SimState};

/// Everything an endpoint handler may use: the state (under the simulator's lock), the world,
/// the admitted exchange, and now. Every handler has the one shape `fn(&mut Call) -> Outcome`.
pub(crate) struct Call<'c, 'x> {
    /// The simulator's state.
    pub(crate) state: &'c mut SimState,
    /// The simulated world.
    pub(crate) config: &'c SimConfig,
    /// The admitted request.
    pub(crate) exchange: &'c Exchange<'x>,
    /// Virtual now.
    pub(crate) now_ms: i64,
}

/// An endpoint handler.
type Handler = fn(&mut Call<'_, '_>) -> Outcome;

/// What an endpoint handler produced.
pub(crate) enum Outcome {
    /// A signed XML reply: success fields or a rejection.
    Signed(Result<Fields, Rejection>),
    /// A reply that is not signed XML (bills, the sandbox key).
    Raw(SimResponse),
}

/// Runs the endpoint named by the exchange.
pub(crate) fn dispatch(
    state: &mut SimState,
    config: &SimConfig,
    exchange: &Exchange<'_>,
    now_ms: i64,
) -> SimResponse {
    let handler: Handler = match exchange.endpoint {
        "unifiedorder" => unified_order::handle,
        "orderquery" => order_query::handle,
        "closeorder" => close_order::handle,
        "refund" => refund::handle,
        "refundquery" => refund_query::handle,
        "downloadbill" => download_bill::handle,
        "getsignkey" => sign_key::handle,
        _ => |_: &mut Call<'_, '_>| Outcome::Signed(Err(Rejection::protocol("unknown endpoint"))),
    };
    let outcome = handler(&mut Call {
        state: &mut *state,
        config,
        exchange,
        now_ms,
    });
    match outcome {
        Outcome::Raw(response) => response,
        Outcome::Signed(Err(Rejection::Protocol(message))) => {
            xml_reply(exchange::protocol_failure(&message))
        }
        Outcome::Signed(result) => {
            let nonce = state.nonce();
            let result = result.map_err(|rejection| match rejection {
                Rejection::Business(code, description) => (code, description),
                Rejection::Protocol(message) => ("PARAM_ERROR", message),
            });
            xml_reply(exchange::signed_reply(exchange, &nonce, result))
        }
    }
}

pub(crate) fn xml_reply(body: Vec<u8>) -> SimResponse {
    SimResponse::Reply {
        status: 200,
        content_type: "text/xml; charset=utf-8",
        body,
        delay_ms: 0,
    }
}

/// A required field, or the protocol failure WeChat gives for a missing one.
pub(crate) fn required<'a>(exchange: &'a Exchange<'_>, name: &str) -> Result<&'a str, Rejection> {
    exchange
        .field(name)
        .ok_or_else(|| Rejection::protocol(format!("缺少参数{name}")))
}

/// Checks a field's length in bytes.
pub(crate) fn check_length(name: &str, value: &str, max_bytes: usize) -> Result<(), Rejection> {
    if value.len() > max_bytes {
        return Err(Rejection::protocol(format!("{name}参数长度有误")));
    }
    Ok(())
}

/// Parses a positive integer-fen field.
pub(crate) fn fen(exchange: &Exchange<'_>, name: &str) -> Result<u64, Rejection> {
    let text = required(exchange, name)?;
    match cashier_adapters::AmountFen::parse_fen(text) {
        Ok(amount) if amount.fen() > 0 => Ok(amount.fen()),
        _ => Err(Rejection::protocol(format!(
            "{name}参数格式错误，请确认请求参数是否正确{name}"
        ))),
    }
}

/// Checks a merchant number's charset (`out_trade_no`, `out_refund_no`).
pub(crate) fn check_number(
    name: &str,
    value: &str,
    max_len: usize,
    extra: &[u8],
) -> Result<(), Rejection> {
    let valid_charset = value.bytes().all(|byte| {
        byte.is_ascii_alphanumeric()
            || matches!(byte, b'_' | b'-' | b'|' | b'*')
            || extra.contains(&byte)
    });
    if !valid_charset {
        return Err(Rejection::protocol(format!("{name}参数格式错误")));
    }
    check_length(name, value, max_len)
}
