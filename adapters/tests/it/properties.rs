//! Property tests (wechatpay-v2.md §1, §5): the signature ignores parameter order and empty
//! values; any value round-trips through the XML writer and reader; the reader never panics and
//! returns a typed error on arbitrary bytes; `req_info` encryption round-trips.

use cashier_adapters::notify::payment::UnverifiedPaymentNotification;
use cashier_adapters::notify::refund::{
    decrypt_req_info, encrypt_req_info, UnverifiedRefundNotification,
};
use cashier_adapters::xml::{self, is_xml_char};
use cashier_adapters::{sign_pairs, ApiKey, Fields, SignType};
use proptest::prelude::*;

fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,15}".prop_filter("sign is excluded by rule", |name| name != "sign")
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>()
            .prop_map(|text| text.chars().filter(|c| is_xml_char(*c)).collect::<String>()),
        "[a-zA-Z0-9 <>&\"'\\]\\[\\r\\n中文]{0,20}",
        Just("]]>".to_owned()),
        Just("a]]>b]]]]>c\r\nd".to_owned()),
    ]
}

fn params_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(name_strategy(), value_strategy(), 0..24)
        .prop_map(|map| map.into_iter().collect())
}

fn sign_type_strategy() -> impl Strategy<Value = SignType> {
    prop_oneof![Just(SignType::Md5), Just(SignType::HmacSha256)]
}

/// A deterministic shuffle from the seed (xorshift).
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed | 1;
    for index in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(index, (state % (index as u64 + 1)) as usize);
    }
    items
}

fn key() -> ApiKey {
    ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn section_1_1_fields_keep_byte_order_and_find_every_name(
        names in prop::collection::vec(
            prop_oneof![
                name_strategy(),
                // Names sharing their first eight bytes or more, and prefixes of each other.
                "coupon_(fee|type|id)(_[0-9]{1,2})?",
                "cash_fee(_type)?",
                "[ab]{1,10}",
            ],
            0..30,
        ),
        shuffle_seed in any::<u64>(),
    ) {
        let shuffled = shuffled(names.clone(), shuffle_seed);
        let mut fields = Fields::new();
        let mut expected = std::collections::BTreeMap::new();
        for (index, name) in shuffled.iter().enumerate() {
            let value = index.to_string();
            fields.insert(name, &value);
            expected.insert(name.clone(), value);
        }
        let listed: Vec<(String, String)> =
            fields.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        let wanted: Vec<(String, String)> = expected.clone().into_iter().collect();
        prop_assert_eq!(listed, wanted);
        for (name, value) in &expected {
            prop_assert_eq!(fields.get(name), Some(value.as_str()));
        }
        prop_assert_eq!(fields.get("zz_not_there"), None);
    }

    #[test]
    fn section_1_1_signature_is_unchanged_under_parameter_order(
        params in params_strategy(),
        seed in any::<u64>(),
        sign_type in sign_type_strategy(),
    ) {
        let mut sorted: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut shuffled = shuffled(sorted.clone(), seed);
        prop_assert_eq!(sign_pairs(sign_type, &key(), &mut sorted), sign_pairs(sign_type, &key(), &mut shuffled));
    }

    #[test]
    fn section_1_1_empty_values_never_affect_the_signature(
        params in params_strategy(),
        empty_names in prop::collection::vec(name_strategy(), 0..6),
        sign_type in sign_type_strategy(),
    ) {
        let base: Fields = params.iter().filter(|(_, v)| !v.is_empty()).cloned().collect();
        let mut with_empty = base.clone();
        for name in empty_names {
            if with_empty.get(&name).is_none() {
                with_empty.insert(name, "");
            }
        }
        prop_assert_eq!(base.sign(sign_type, &key()), with_empty.sign(sign_type, &key()));
        // And the `sign` field itself is never signed.
        let mut with_sign = base.clone();
        with_sign.insert("sign", "ANYTHING");
        prop_assert_eq!(base.sign(sign_type, &key()), with_sign.sign(sign_type, &key()));
    }

    #[test]
    fn section_1_3_any_value_round_trips_through_xml(params in params_strategy()) {
        let fields: Fields = params.into_iter().collect();
        let text = xml::write(&fields).unwrap();
        prop_assert_eq!(xml::read(text.as_bytes()).unwrap(), fields);
    }

    #[test]
    fn section_0_reader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::read(&bytes);
        let _ = UnverifiedPaymentNotification::parse(&bytes);
        let _ = UnverifiedRefundNotification::parse(&bytes);
    }

    #[test]
    fn section_0_reader_never_panics_on_mutated_messages(
        params in params_strategy(),
        cut in any::<prop::sample::Index>(),
        insert in "[<>&;!\\[\\]/?a-z\\-]{0,6}",
    ) {
        let fields: Fields = params.into_iter().collect();
        let text = xml::write(&fields).unwrap();
        let mut position = cut.index(text.len() + 1);
        while !text.is_char_boundary(position) { position -= 1; }
        let mutated = format!("{}{}{}", &text[..position], insert, &text[position..]);
        let _ = xml::read(mutated.as_bytes());
        let _ = xml::read(&text.as_bytes()[..position]);
    }

    #[test]
    fn section_5_req_info_encrypt_then_decrypt_round_trips(plaintext in prop::collection::vec(any::<u8>(), 0..600)) {
        let key = key();
        let encrypted = encrypt_req_info(&plaintext, &key);
        prop_assert_eq!(decrypt_req_info(&encrypted, &key).unwrap(), plaintext);
    }

    #[test]
    fn section_5_req_info_never_panics_on_garbage(text in "[A-Za-z0-9+/=]{0,200}") {
        let _ = decrypt_req_info(&text, &key());
    }
}
