//! NHSA amounts: yuan as decimal strings with exactly two decimals (`"12.30"`), converted to
//! and from [`AmountFen`] exactly, by integer arithmetic; anything else (`"12.3"`, `"12"`,
//! `"1e2"`, `"-1.00"`, `" 1.00"`) is refused rather than rounded (yibao-pay.md §4.1, §10).

use crate::money::{AmountFen, MAX_WIRE_FEN};

/// Why a yuan string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a yuan amount with exactly two decimals: {text:?}")]
pub struct YuanError {
    /// The refused text.
    pub text: String,
}

/// Reads `"123.45"` as 12345 fen: ASCII digits (no sign, no leading zeros beyond a single
/// `0`), a point, exactly two digits, at most WeChat's 32-bit maximum.
pub fn parse_yuan(text: &str) -> Result<AmountFen, YuanError> {
    let refuse = || YuanError {
        text: text.to_owned(),
    };
    let (whole, cents) = text.split_once('.').ok_or_else(refuse)?;
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(whole)
        || cents.len() != 2
        || !digits(cents)
        || (whole.len() > 1 && whole.starts_with('0'))
    {
        return Err(refuse());
    }
    if whole.len() > 12 {
        return Err(refuse());
    }
    let value = |part: &str| {
        part.bytes()
            .fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0'))
    };
    let fen = value(whole)
        .checked_mul(100)
        .and_then(|fen| fen.checked_add(value(cents)))
        .filter(|fen| *fen <= MAX_WIRE_FEN)
        .ok_or_else(refuse)?;
    Ok(AmountFen::from_fen(fen))
}

/// Writes an amount as NHSA wants it: `"123.45"`, `"0.05"`.
pub fn format_yuan(amount: AmountFen) -> String {
    let fen = amount.fen();
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_two_decimals_are_accepted_and_nothing_else() {
        assert_eq!(parse_yuan("12.30").map(AmountFen::fen), Ok(1230));
        assert_eq!(parse_yuan("0.05").map(AmountFen::fen), Ok(5));
        assert_eq!(
            parse_yuan("21474836.47").map(AmountFen::fen),
            Ok(2_147_483_647)
        );
        for bad in [
            "12.3",
            "12",
            "12.345",
            ".50",
            "1e2",
            "-1.00",
            "+1.00",
            " 1.00",
            "1.00 ",
            "01.00",
            "1,00",
            "",
            "21474836.48",
            "１.00",
        ] {
            assert!(parse_yuan(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_yuan(AmountFen::from_fen(5)), "0.05");
        assert_eq!(format_yuan(AmountFen::from_fen(123_456)), "1234.56");
    }
}
