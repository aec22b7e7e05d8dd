//! A payment notification body from anyone: parsed, then verified against a merchant and an
//! amount; never panics, and nothing without the key's sign verifies.
#![no_main]

use cashier_adapters::notify::payment::UnverifiedPaymentNotification;
use cashier_adapters::AmountFen;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (Ok(notification), Some(merchant)) = (
        UnverifiedPaymentNotification::parse(data),
        cashier_fuzz::merchant("wxd930ea5d5a258f4f"),
    ) else {
        return;
    };
    let _ = notification.verify(&merchant, AmountFen::from_fen(1));
});
