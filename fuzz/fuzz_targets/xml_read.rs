//! The XML reader on arbitrary bytes: never panics, and what it accepts writes back to XML that
//! reads as the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = cashier_adapters::xml::read(data) {
        if let Ok(written) = cashier_adapters::xml::write(&fields) {
            let again = cashier_adapters::xml::read(written.as_bytes());
            assert_eq!(again.ok(), Some(fields), "a written message must read back the same");
        }
    }
});
