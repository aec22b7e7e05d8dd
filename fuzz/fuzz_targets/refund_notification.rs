//! A refund notification body from anyone: parsed, then `req_info` decrypted (AES-256-ECB with
//! the key's MD5) and read; never panics.
#![no_main]

use cashier_adapters::notify::refund::UnverifiedRefundNotification;
use cashier_adapters::ApiKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(notification) = UnverifiedRefundNotification::parse(data) else {
        return;
    };
    if let Ok(key) = ApiKey::new("192006250b4c09247ec02edce69f6a2d") {
        let _ = notification.decrypt_with_key(&key);
    }
});
