//! The stored format: every value is one version byte and a bincode body. Format 3 is the
//! current model (`crate::model`, with 医保 attempts); format 2 (`v2.rs`) and format 1 (`v1.rs`,
//! `v1_events.rs`) are read and migrated. To change the model: freeze the current types into
//! `v3.rs`, bump [`CURRENT_FORMAT`], and add the migration from 3, so every store ever written
//! still opens (a fixture store per format is tested).

use crate::feed::FeedEntry;
use crate::model::{LoggedEvent, OrderRecord};
use crate::store::{v1, v1_events, v2, StoreError};

/// The format this build writes.
pub const CURRENT_FORMAT: u8 = 3;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value in the current format.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![CURRENT_FORMAT];
    let body = bincode::serde::encode_to_vec(value, config())
        .map_err(|error| StoreError::Decode(error.to_string()))?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

fn body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice(body, config())
        .map(|(value, _)| value)
        .map_err(|error| StoreError::Decode(error.to_string()))
}

fn split(bytes: &[u8]) -> Result<(u8, &[u8]), StoreError> {
    bytes
        .split_first()
        .map(|(version, rest)| (*version, rest))
        .ok_or_else(|| StoreError::Decode("empty value".into()))
}

/// Reads an order record of any known format, migrated to the current model.
pub fn decode_record(bytes: &[u8]) -> Result<OrderRecord, StoreError> {
    match split(bytes)? {
        (1, rest) => v1::migrate_record(body(rest)?),
        (2, rest) => Ok(v2::migrate_record(body(rest)?)),
        (CURRENT_FORMAT, rest) => body(rest),
        (version, _) => Err(StoreError::UnknownFormat(version)),
    }
}

/// Reads an audit line of any known format, migrated to the current model.
pub fn decode_event(bytes: &[u8]) -> Result<LoggedEvent, StoreError> {
    match split(bytes)? {
        (1, rest) => v1_events::migrate_event(body(rest)?),
        // Format 3 appended variants only: a format-2 line reads as it is.
        (2 | CURRENT_FORMAT, rest) => body(rest),
        (version, _) => Err(StoreError::UnknownFormat(version)),
    }
}

/// Reads a feed entry (the feed exists from format 2 on).
pub fn decode_feed(bytes: &[u8]) -> Result<FeedEntry, StoreError> {
    match split(bytes)? {
        (2 | CURRENT_FORMAT, rest) => body(rest),
        (version, _) => Err(StoreError::UnknownFormat(version)),
    }
}

/// The format of a stored value.
pub fn version_of(bytes: &[u8]) -> Option<u8> {
    bytes.first().copied()
}
