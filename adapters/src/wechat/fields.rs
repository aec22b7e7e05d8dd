//! [`Fields`]: the flat name → value content of one v2 message (request, reply, notification),
//! kept sorted by name in byte order so that signing streams it without sorting or allocating.

use crate::money::AmountFen;
use crate::secret::ApiKey;
use crate::wechat::sign::{sign_contiguous, sign_pieces, SignType, Signature};

/// The parameters of one v2 message. Names are unique and kept in byte order; every field
/// received is kept, known or not, because the signature covers all of them (§1.1).
///
/// Each field is stored as its piece of the canonical sign string, `&name=value`, in one
/// allocation: signing then feeds one slice per field to the hasher, and reading a message costs
/// one allocation per field.
///
/// ```
/// use cashier_adapters::{Fields, SignType, ApiKey};
/// let mut fields = Fields::new();
/// fields.insert("mch_id", "10000100");
/// fields.insert("appid", "wxd930ea5d5a258f4f");
/// assert_eq!(fields.iter().next(), Some(("appid", "wxd930ea5d5a258f4f")));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    entries: Vec<Entry>,
}

/// One field as `&name=value`, with the name's length to split it again, and the name's first
/// eight bytes as a number: lookups compare that first and touch the text only on a tie
/// (comparing names through `memcmp` was 40% of a notification's parse and verify).
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    text: String,
    name_len: usize,
    name_prefix: u64,
}

/// The first eight bytes of a name, big-endian and zero-padded, so that numbers compare as the
/// names do: a shorter name pads with the smallest byte, and names that differ only after
/// their eighth byte tie and are compared whole.
fn name_prefix(name: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    for (slot, byte) in bytes.iter_mut().zip(name) {
        *slot = *byte;
    }
    u64::from_be_bytes(bytes)
}

impl Entry {
    fn new(name: &str, value: &str) -> Entry {
        let mut text = String::with_capacity(name.len() + value.len() + 2);
        text.push('&');
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        Entry::from_piece(text, name.len())
    }

    fn from_piece(text: String, name_len: usize) -> Entry {
        let mut entry = Entry {
            text,
            name_len,
            name_prefix: 0,
        };
        entry.name_prefix = name_prefix(entry.name_bytes());
        entry
    }

    /// This entry's name against `name` (whose prefix is `prefix`), in byte order.
    fn compare(&self, prefix: u64, name: &[u8]) -> std::cmp::Ordering {
        self.name_prefix
            .cmp(&prefix)
            .then_with(|| self.name_bytes().cmp(name))
    }

    fn name(&self) -> &str {
        self.text.get(1..1 + self.name_len).unwrap_or("")
    }

    /// The name as bytes: lookups compare bytes, which skips `str`'s char-boundary checks
    /// (names are ASCII-delimited, so byte order is the sign order).
    fn name_bytes(&self) -> &[u8] {
        self.text
            .as_bytes()
            .get(1..1 + self.name_len)
            .unwrap_or_default()
    }

    fn value(&self) -> &str {
        self.text.get(self.name_len + 2..).unwrap_or("")
    }

    /// True when the field takes part in the signature (not `sign`, not empty), decided on
    /// bytes: this runs once per field on every signature.
    fn is_signed(&self) -> bool {
        let bytes = self.text.as_bytes();
        let empty_value = bytes.len() == self.name_len + 2;
        let is_sign = self.name_len == 4 && bytes.get(1..5) == Some(b"sign".as_slice());
        !empty_value && !is_sign
    }

    /// `name=value` for the first field of a sign string, `&name=value` for the others.
    fn sign_piece(&self, first: bool) -> &str {
        if first {
            self.text.get(1..).unwrap_or("")
        } else {
            &self.text
        }
    }
}

/// A field name appeared twice in one message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("duplicate field <{name}>")]
pub struct DuplicateField {
    /// The repeated name.
    pub name: String,
}

impl Fields {
    /// An empty message.
    pub fn new() -> Fields {
        Fields::default()
    }

    /// An empty message with room for `capacity` fields.
    pub fn with_capacity(capacity: usize) -> Fields {
        Fields {
            entries: Vec::with_capacity(capacity),
        }
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        let name = name.as_bytes();
        let prefix = name_prefix(name);
        self.entries
            .binary_search_by(|entry| entry.compare(prefix, name))
    }

    /// Sets a field, replacing and returning any previous value.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Option<String> {
        let (name, value) = (name.as_ref(), value.as_ref());
        let entry = Entry::new(name, value);
        match self.position(name) {
            Ok(index) => self.entries.get_mut(index).map(|slot| {
                let previous = slot.value().to_owned();
                *slot = entry;
                previous
            }),
            Err(index) => {
                self.entries.insert(index, entry);
                None
            }
        }
    }

    /// Sets a field only when `value` is present.
    pub fn insert_optional(&mut self, name: &str, value: Option<impl AsRef<str>>) {
        if let Some(value) = value {
            self.insert(name, value);
        }
    }

    /// Adds a field that must not exist yet (the XML reader's rule for received messages).
    pub fn insert_new(&mut self, name: &str, value: &str) -> Result<(), DuplicateField> {
        self.insert_new_piece(Entry::new(name, value).text, name.len())
    }

    /// Adds a field given as its sign piece `&name=value`, where the name is `name_len` bytes;
    /// the XML reader builds pieces directly to save a copy.
    pub(crate) fn insert_new_piece(
        &mut self,
        text: String,
        name_len: usize,
    ) -> Result<(), DuplicateField> {
        let entry = Entry::from_piece(text, name_len);
        // Messages mostly arrive sorted (WeChat's are): appending needs no search.
        let after_last = self.entries.last().is_none_or(|last| {
            last.compare(entry.name_prefix, entry.name_bytes()) == std::cmp::Ordering::Less
        });
        if after_last {
            self.entries.push(entry);
            return Ok(());
        }
        match self.position(entry.name()) {
            Ok(_) => Err(DuplicateField {
                name: entry.name().to_owned(),
            }),
            Err(index) => {
                self.entries.insert(index, entry);
                Ok(())
            }
        }
    }

    /// Removes a field, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.position(name).ok()?;
        Some(self.entries.remove(index).value().to_owned())
    }

    /// The value of a field, empty or not.
    pub fn get(&self, name: &str) -> Option<&str> {
        let index = self.position(name).ok()?;
        self.entries.get(index).map(Entry::value)
    }

    /// The value of a field when present and not empty: WeChat treats an empty element as absent.
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.is_empty())
    }

    /// True when the field is present and not empty.
    pub fn contains(&self, name: &str) -> bool {
        self.get_nonempty(name).is_some()
    }

    /// All fields in byte order of their names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone + '_ {
        self.entries
            .iter()
            .map(|entry| (entry.name(), entry.value()))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Signs every field except `sign` and empty ones. For HMAC-SHA256 the canonical string of
    /// a typical message is gathered into a stack buffer and hashed in one call: the hasher pays
    /// a fixed cost per update, a large share of an HMAC-SHA256 that SHA-NI makes cheap. MD5,
    /// several times slower per byte, gains nothing from the copy, so it streams one update per
    /// field, as do messages longer than the buffer (measured in `benches/sign.rs`).
    pub fn sign(&self, sign_type: SignType, key: &ApiKey) -> Signature {
        if sign_type == SignType::Md5 {
            return self.sign_streamed(sign_type, key);
        }
        let mut buffer = [0u8; 1024];
        let mut length = 0;
        let mut first = true;
        let suffix = key.sign_suffix().as_bytes();
        let pieces = self.entries.iter().filter(|entry| entry.is_signed());
        for entry in pieces.clone() {
            let piece = entry.sign_piece(first).as_bytes();
            first = false;
            let Some(slot) = buffer.get_mut(length..length + piece.len()) else {
                return self.sign_streamed(sign_type, key);
            };
            slot.copy_from_slice(piece);
            length += piece.len();
        }
        // With no field at all the string is `key=KEY`, without the leading `&`.
        let suffix = if first {
            suffix.get(1..).unwrap_or_default()
        } else {
            suffix
        };
        match buffer.get_mut(length..length + suffix.len()) {
            Some(slot) => {
                slot.copy_from_slice(suffix);
                length += suffix.len();
                sign_contiguous(sign_type, key, buffer.get(..length).unwrap_or_default())
            }
            None => self.sign_streamed(sign_type, key),
        }
    }

    fn sign_streamed(&self, sign_type: SignType, key: &ApiKey) -> Signature {
        let mut first = true;
        let pieces = self
            .entries
            .iter()
            .filter(|entry| entry.is_signed())
            .map(|entry| {
                let piece = entry.sign_piece(first);
                first = false;
                piece
            });
        sign_pieces(sign_type, key, pieces)
    }

    /// Signs and stores the result in `sign`.
    pub fn sign_in_place(&mut self, sign_type: SignType, key: &ApiKey) {
        let signature = self.sign(sign_type, key);
        self.insert("sign", signature.as_str());
    }

    /// Verifies `sign` over every other field in constant time. The algorithm is the message's
    /// own `sign_type` when present, else `default_sign_type` (HMAC orders receive notifications
    /// without `sign_type`, §4).
    pub fn verify(&self, default_sign_type: SignType, key: &ApiKey) -> Result<SignType, SignCheck> {
        let received = self.get_nonempty("sign").ok_or(SignCheck::Missing)?;
        let sign_type = match self.get_nonempty("sign_type") {
            Some(text) => SignType::parse(text).ok_or(SignCheck::UnknownSignType)?,
            None => default_sign_type,
        };
        if self.sign(sign_type, key).matches(received) {
            Ok(sign_type)
        } else {
            Err(SignCheck::Mismatch)
        }
    }

    /// The members of an indexed family such as `coupon_id_$n`: `(n, value)` for each
    /// non-empty `prefix_<n>` whose suffix is a plain decimal index, in index order (an empty
    /// element counts as absent, as everywhere in v2).
    pub fn indexed(&self, prefix: &str) -> Vec<(usize, &str)> {
        // Names sharing the prefix are contiguous in byte order: start at the first one.
        let start = self
            .entries
            .partition_point(|entry| entry.name_bytes() < prefix.as_bytes());
        let mut members: Vec<(usize, &str)> = self
            .entries
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|entry| entry.name_bytes().starts_with(prefix.as_bytes()))
            .filter(|entry| !entry.value().is_empty())
            .filter_map(|entry| {
                let index = entry.name().strip_prefix(prefix)?.strip_prefix('_')?;
                Some((parse_index(index)?, entry.value()))
            })
            .collect();
        members.sort_unstable_by_key(|(index, _)| *index);
        members
    }

    /// The value of `prefix_<n>`.
    pub fn nth(&self, prefix: &str, index: usize) -> Option<&str> {
        self.get_nonempty(&format!("{prefix}_{index}"))
    }

    /// The value of `prefix_<n>_<m>` (two-level families such as `coupon_type_$n_$m`).
    pub fn nth_nth(&self, prefix: &str, outer: usize, inner: usize) -> Option<&str> {
        self.get_nonempty(&format!("{prefix}_{outer}_{inner}"))
    }

    /// Parses an integer-fen field when present: `Ok(None)` when absent, an error when malformed.
    pub fn amount(&self, name: &'static str) -> Result<Option<AmountFen>, FieldError> {
        match self.get_nonempty(name) {
            None => Ok(None),
            Some(text) => AmountFen::parse_fen(text)
                .map(Some)
                .map_err(|_| FieldError::invalid(name, text, "an integer number of fen")),
        }
    }

    /// Parses a required integer-fen field.
    pub fn required_amount(&self, name: &'static str) -> Result<AmountFen, FieldError> {
        self.amount(name)?.ok_or(FieldError::Missing { name })
    }

    /// A required non-empty field.
    pub fn required(&self, name: &'static str) -> Result<&str, FieldError> {
        self.get_nonempty(name).ok_or(FieldError::Missing { name })
    }

    /// A required field parsed by `parse` (for validated identifiers).
    pub fn required_as<T, E>(
        &self,
        name: &'static str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<T, FieldError> {
        let text = self.required(name)?;
        parse(text.to_owned()).map_err(|_| FieldError::invalid(name, text, "a valid identifier"))
    }

    /// An optional field parsed by `parse`.
    pub fn optional_as<T, E>(
        &self,
        name: &'static str,
        parse: impl FnOnce(String) -> Result<T, E>,
    ) -> Result<Option<T>, FieldError> {
        match self.get_nonempty(name) {
            None => Ok(None),
            Some(text) => parse(text.to_owned())
                .map(Some)
                .map_err(|_| FieldError::invalid(name, text, "a valid identifier")),
        }
    }

    /// An optional count such as `coupon_count`.
    pub fn count(&self, name: &'static str) -> Result<Option<usize>, FieldError> {
        match self.get_nonempty(name) {
            None => Ok(None),
            Some(text) => parse_index(text)
                .map(Some)
                .ok_or_else(|| FieldError::invalid(name, text, "a count")),
        }
    }
}

fn parse_index(text: &str) -> Option<usize> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl std::fmt::Debug for Fields {
    /// Shows names and values except `sign`, which is shortened: messages never contain the key,
    /// but a signature is still a credential-derived value that logs do not need in full.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = formatter.debug_map();
        for (name, value) in self.iter() {
            if name == "sign" {
                map.entry(&name, &format_args!("{}…", value.get(..6).unwrap_or(value)));
            } else {
                map.entry(&name, &value);
            }
        }
        map.finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Fields {
        let mut fields = Fields::new();
        for (name, value) in pairs {
            fields.insert(name, value);
        }
        fields
    }
}

/// The outcome of checking a received `sign`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignCheck {
    /// No `sign` element, or an empty one.
    #[error("the message carries no sign")]
    Missing,
    /// `sign_type` names neither MD5 nor HMAC-SHA256.
    #[error("the message names an unknown sign_type")]
    UnknownSignType,
    /// The sign does not match.
    #[error("the sign does not match")]
    Mismatch,
}

/// A required field is missing or malformed in a received message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The field is absent or empty.
    #[error("missing field {name}")]
    Missing {
        /// The field name.
        name: &'static str,
    },
    /// The field does not hold what it should.
    #[error("field {name} = {value:?} is not {expected}")]
    Invalid {
        /// The field name.
        name: &'static str,
        /// The received text.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

impl FieldError {
    pub(crate) fn invalid(name: &'static str, value: &str, expected: &'static str) -> FieldError {
        FieldError::Invalid {
            name,
            value: value.to_owned(),
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stay_sorted_in_byte_order() {
        let fields: Fields = [("b", "2"), ("B", "1"), ("a", "3")].into_iter().collect();
        let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["B", "a", "b"]);
    }

    #[test]
    fn indexed_families_parse_in_index_order_and_ignore_other_suffixes() {
        let fields: Fields = [
            ("coupon_id_10", "c10"),
            ("coupon_id_1", "c1"),
            ("coupon_id_0", "c0"),
            ("coupon_id_x", "no"),
            ("coupon_id_1_0", "two-level"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            fields.indexed("coupon_id"),
            vec![(0, "c0"), (1, "c1"), (10, "c10")]
        );
        assert_eq!(fields.nth_nth("coupon_id", 1, 0), Some("two-level"));
    }

    #[test]
    fn long_messages_sign_like_short_ones() {
        // Over the 1 KiB buffer the streamed path must give the same signature as sign_sorted.
        let key = ApiKey::new_for_diagnostics("k");
        let long: Fields = (0..60)
            .map(|index| (format!("field{index:02}"), "v".repeat(30)))
            .collect();
        let pairs: Vec<(String, String)> = long
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let expected = crate::wechat::sign::sign_sorted(
                sign_type,
                &key,
                pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            );
            assert_eq!(long.sign(sign_type, &key), expected);
            assert_eq!(
                Fields::new().sign(sign_type, &key),
                crate::wechat::sign::sign_sorted(sign_type, &key, [])
            );
        }
    }

    #[test]
    fn duplicate_insert_new_is_rejected() {
        let mut fields = Fields::new();
        assert!(fields.insert_new("a", "1").is_ok());
        assert!(fields.insert_new("a", "2").is_err());
        assert_eq!(fields.insert("a", "3"), Some("1".to_owned()));
        assert_eq!(fields.get("a"), Some("3"));
        assert_eq!(fields.remove("a"), Some("3".to_owned()));
        assert!(fields.is_empty());
    }
}
