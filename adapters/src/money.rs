//! Money as integer fen (1/100 CNY) in a checked newtype.
//!
//! WeChat Pay v2 carries amounts as integer fen (`total_fee=888`), and bills carry them as yuan
//! with two decimals (`8.88`). Floats never appear: `9.8 * 100` is `980.0000000000001`, a classic
//! source of rejected orders (wechatpay-v2.md §10.3).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of money in fen. Arithmetic is checked and returns [`MoneyError`] on overflow or
/// underflow, so a refund can never silently exceed what was paid.
///
/// ```
/// use cashier_adapters::AmountFen;
/// let paid = AmountFen::from_fen(1_000);
/// let refunded = paid.checked_sub(AmountFen::from_fen(250)).unwrap();
/// assert_eq!(refunded.fen(), 750);
/// assert_eq!(AmountFen::parse_yuan("8.88").unwrap().fen(), 888);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AmountFen(u64);

/// Why an amount could not be built or computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a plain non-negative integer of fen (no sign, no decimal point).
    #[error("not an integer amount of fen: {text:?}")]
    NotIntegerFen {
        /// The rejected text.
        text: String,
    },
    /// The text is not a yuan amount with at most two significant decimals.
    #[error("not a yuan amount with at most two decimals: {text:?}")]
    NotYuan {
        /// The rejected text.
        text: String,
    },
    /// The result does not fit in the amount type.
    #[error("amount overflow")]
    Overflow,
    /// A subtraction would go below zero.
    #[error("amount underflow: {minuend_fen} - {subtrahend_fen}")]
    Underflow {
        /// The amount subtracted from.
        minuend_fen: u64,
        /// The amount subtracted.
        subtrahend_fen: u64,
    },
}

/// The largest amount accepted from text: WeChat's `Int` fields are 32-bit signed integers, so
/// anything above this is malformed input rather than money.
pub const MAX_WIRE_FEN: u64 = i32::MAX as u64;

impl AmountFen {
    /// Zero fen.
    pub const ZERO: AmountFen = AmountFen(0);

    /// Wraps a number of fen.
    pub const fn from_fen(fen: u64) -> Self {
        AmountFen(fen)
    }

    /// The number of fen.
    pub const fn fen(self) -> u64 {
        self.0
    }

    /// True when the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Adds, failing on overflow.
    pub fn checked_add(self, other: AmountFen) -> Result<AmountFen, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(AmountFen)
            .ok_or(MoneyError::Overflow)
    }

    /// Subtracts, failing when the result would be negative.
    pub fn checked_sub(self, other: AmountFen) -> Result<AmountFen, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(AmountFen)
            .ok_or(MoneyError::Underflow {
                minuend_fen: self.0,
                subtrahend_fen: other.0,
            })
    }

    /// Parses WeChat's wire form: ASCII digits only, at most [`MAX_WIRE_FEN`].
    pub fn parse_fen(text: &str) -> Result<AmountFen, MoneyError> {
        let error = || MoneyError::NotIntegerFen {
            text: text.to_owned(),
        };
        if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        let fen: u64 = text.parse().map_err(|_| error())?;
        if fen > MAX_WIRE_FEN {
            return Err(error());
        }
        Ok(AmountFen(fen))
    }

    /// Parses a yuan amount as printed in bills (`0.01`, `12`, `12.3`, `1.50000`): digits, an
    /// optional point and decimals, where every decimal after the second must be zero.
    pub fn parse_yuan(text: &str) -> Result<AmountFen, MoneyError> {
        let error = || MoneyError::NotYuan {
            text: text.to_owned(),
        };
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || !all_digits(whole) || !all_digits(fraction) {
            return Err(error());
        }
        if text.ends_with('.') {
            return Err(error());
        }
        let (significant, rest) = fraction.split_at(fraction.len().min(2));
        if rest.bytes().any(|b| b != b'0') {
            return Err(error());
        }
        let yuan: u64 = whole.parse().map_err(|_| error())?;
        let mut fen_part: u64 = 0;
        for (position, digit) in significant.bytes().enumerate() {
            let scale = if position == 0 { 10 } else { 1 };
            fen_part += u64::from(digit - b'0') * scale;
        }
        yuan.checked_mul(100)
            .and_then(|fen| fen.checked_add(fen_part))
            .map(AmountFen)
            .ok_or(MoneyError::Overflow)
    }

    /// Formats as yuan with exactly two decimals, as bills print it.
    pub fn to_yuan_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Display for AmountFen {
    /// Displays the wire form: the integer number of fen.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_amounts_are_integer_fen_only() {
        assert_eq!(AmountFen::parse_fen("888"), Ok(AmountFen(888)));
        for bad in [
            "",
            "8.88",
            "-1",
            "+1",
            " 1",
            "1e3",
            "99999999999",
            "2147483648",
        ] {
            assert!(
                AmountFen::parse_fen(bad).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn bill_amounts_are_yuan_with_two_decimals() {
        assert_eq!(AmountFen::parse_yuan("0.01").map(AmountFen::fen), Ok(1));
        assert_eq!(AmountFen::parse_yuan("12.3").map(AmountFen::fen), Ok(1230));
        assert_eq!(AmountFen::parse_yuan("12").map(AmountFen::fen), Ok(1200));
        assert_eq!(
            AmountFen::parse_yuan("1.50000").map(AmountFen::fen),
            Ok(150)
        );
        for bad in ["", ".5", "1.", "1.005", "-1.00", "1,00", "a"] {
            assert!(
                AmountFen::parse_yuan(bad).is_err(),
                "{bad:?} must be rejected"
            );
        }
        assert_eq!(AmountFen(123_456).to_yuan_string(), "1234.56");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(
            AmountFen(1).checked_sub(AmountFen(2)),
            Err(MoneyError::Underflow {
                minuend_fen: 1,
                subtrahend_fen: 2
            })
        );
        assert_eq!(
            AmountFen(u64::MAX).checked_add(AmountFen(1)),
            Err(MoneyError::Overflow)
        );
    }
}
