//! A payinsurance (医保) notification body from anyone: parsed, then verified against a
//! merchant and a split; never panics.
#![no_main]

use cashier_adapters::medical::payinsurance::notify::{ExpectedAmounts, UnverifiedMedicalNotification};
use cashier_adapters::AmountFen;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (Ok(notification), Some(merchant)) = (
        UnverifiedMedicalNotification::parse(data),
        cashier_fuzz::merchant("wx1f1e2d3c4b5a6978"),
    ) else {
        return;
    };
    let expected = ExpectedAmounts {
        total: AmountFen::from_fen(60_000),
        cash: AmountFen::from_fen(4_600),
        insurance: AmountFen::from_fen(55_400),
    };
    let _ = notification.verify(&merchant, expected);
});
