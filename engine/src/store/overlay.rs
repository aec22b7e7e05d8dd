//! The store's hot layer: commits since the last checkpoint, in memory, in front of sled. A
//! commit goes here (and into the log's pending bytes), never straight into sled, so sled only
//! ever holds what a synced log also holds: a crash that tears sled's own writes is repaired by
//! replaying the log, with no partial commit left behind and no sled transaction needed
//! (a sled 0.34 transaction seals and writes sled's IO buffer twice, which cost more than
//! the commit itself).
//!
//! At a checkpoint the active layer is frozen, applied to sled, sled is synced, and the frozen
//! layer is dropped. Reads see active, then frozen, then sled; a removal is a tombstone.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::wal::{Frame, TreeId, TreeWrite};
use crate::store::StoreError;

/// One tree's changes: a value, or `None` for a removal.
pub(crate) type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Changes per tree, indexed by [`TreeId`].
pub(crate) type Layer = [Changes; TreeId::COUNT];

/// A key range.
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

#[derive(Default)]
struct Hot {
    active: Layer,
    frozen: Option<Arc<Layer>>,
    /// Frames committed and not yet written to the log.
    pending: Vec<u8>,
}

/// The hot layer, shared by committers, readers, the flusher and the checkpointer.
#[derive(Default)]
pub(crate) struct Overlay {
    hot: Mutex<Hot>,
}

impl Overlay {
    fn lock(&self) -> Result<MutexGuard<'_, Hot>, StoreError> {
        self.hot.lock().map_err(|_| StoreError::Closed)
    }

    /// Records one commit: its frame for the log, its writes for readers.
    pub(crate) fn commit(&self, writes: Vec<TreeWrite>) -> Result<(), StoreError> {
        let mut hot = self.lock()?;
        let frame = Frame { writes };
        frame.append_to(&mut hot.pending);
        for write in frame.writes {
            hot.active[write.tree as usize].insert(write.key, write.value);
        }
        Ok(())
    }

    /// The frames committed since the last take, for the log.
    pub(crate) fn take_pending(&self) -> Result<Vec<u8>, StoreError> {
        Ok(std::mem::take(&mut self.lock()?.pending))
    }

    /// Freezes the active layer for a checkpoint and takes the pending frames, in one step, so
    /// the frames go to the file the frozen layer's checkpoint removes. After a failed
    /// checkpoint the layer it froze is still there: the active layer is merged into it, so the
    /// next checkpoint covers every file it removes.
    pub(crate) fn freeze(&self) -> Result<(Arc<Layer>, Vec<u8>), StoreError> {
        let mut hot = self.lock()?;
        let pending = std::mem::take(&mut hot.pending);
        let active = std::mem::take(&mut hot.active);
        let frozen = match hot.frozen.take() {
            None => active,
            Some(earlier) => {
                let mut merged = (*earlier).clone();
                for (changes, newer) in merged.iter_mut().zip(active) {
                    changes.extend(newer);
                }
                merged
            }
        };
        let frozen = Arc::new(frozen);
        hot.frozen = Some(frozen.clone());
        Ok((frozen, pending))
    }

    /// Drops the frozen layer once sled holds it, synced.
    pub(crate) fn thaw(&self) -> Result<(), StoreError> {
        self.lock()?.frozen = None;
        Ok(())
    }

    /// A key's value in the hot layer: `Some(None)` when removed there, `None` when the hot
    /// layer does not know it (read sled).
    pub(crate) fn get(
        &self,
        tree: TreeId,
        key: &[u8],
    ) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let hot = self.lock()?;
        if let Some(value) = hot.active[tree as usize].get(key) {
            return Ok(Some(value.clone()));
        }
        Ok(hot
            .frozen
            .as_ref()
            .and_then(|frozen| frozen[tree as usize].get(key).cloned()))
    }

    /// A copy of the hot layer's changes in `range` (active over frozen).
    pub(crate) fn range(&self, tree: TreeId, range: &KeyRange) -> Result<Changes, StoreError> {
        let mut changes = Changes::new();
        if is_empty(range) {
            return Ok(changes);
        }
        let hot = self.lock()?;
        let layers = hot.frozen.iter().map(|frozen| &frozen[tree as usize]);
        for layer in layers.chain([&hot.active[tree as usize]]) {
            for (key, value) in layer.range(range.clone()) {
                changes.insert(key.clone(), value.clone());
            }
        }
        Ok(changes)
    }
}

/// True for a range with nothing in it (which `BTreeMap::range` would panic on).
pub(crate) fn is_empty(range: &KeyRange) -> bool {
    match range {
        (Bound::Included(start), Bound::Included(end)) => start > end,
        (Bound::Included(start) | Bound::Excluded(start), Bound::Excluded(end))
        | (Bound::Excluded(start), Bound::Included(end)) => start >= end,
        _ => false,
    }
}

/// sled's entries in a range, with the hot layer's changes over them: a changed key takes the
/// hot value, a removed one is skipped. Keys come out in order.
pub(crate) struct Merged {
    hot: Peekable<std::collections::btree_map::IntoIter<Vec<u8>, Option<Vec<u8>>>>,
    cold: Peekable<sled::Iter>,
}

impl Merged {
    pub(crate) fn new(hot: Changes, cold: sled::Iter) -> Merged {
        Merged {
            hot: hot.into_iter().peekable(),
            cold: cold.peekable(),
        }
    }
}

impl Iterator for Merged {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let cold_key = match self.cold.peek() {
                Some(Ok((key, _))) => Some(key.clone()),
                Some(Err(_)) => {
                    return self
                        .cold
                        .next()
                        .and_then(Result::err)
                        .map(|error| Err(StoreError::Storage(error.to_string())))
                }
                None => None,
            };
            let hot_first = match (self.hot.peek(), &cold_key) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((hot_key, _)), Some(cold_key)) => hot_key.as_slice() <= cold_key.as_ref(),
            };
            if !hot_first {
                return self.cold.next().map(|entry| {
                    entry
                        .map(|(key, value)| (key.to_vec(), value.to_vec()))
                        .map_err(|error| StoreError::Storage(error.to_string()))
                });
            }
            let (key, value) = self.hot.next()?;
            if cold_key.as_deref() == Some(key.as_slice()) {
                self.cold.next();
            }
            if let Some(value) = value {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(tree: TreeId, key: &str, value: &str) -> TreeWrite {
        TreeWrite {
            tree,
            key: key.as_bytes().to_vec(),
            value: Some(value.as_bytes().to_vec()),
        }
    }

    fn remove(tree: TreeId, key: &str) -> TreeWrite {
        TreeWrite {
            tree,
            key: key.as_bytes().to_vec(),
            value: None,
        }
    }

    fn merged(overlay: &Overlay, cold: &sled::Tree) -> Vec<(String, String)> {
        let range: KeyRange = (Bound::Unbounded, Bound::Unbounded);
        Merged::new(overlay.range(TreeId::Index, &range).unwrap(), cold.iter())
            .map(|entry| {
                let (key, value) = entry.unwrap();
                (
                    String::from_utf8(key).unwrap(),
                    String::from_utf8(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_see_active_over_frozen_over_sled_and_removals_hide_keys() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let cold = db.open_tree("index").unwrap();
        for key in ["a", "c", "e"] {
            cold.insert(key, "cold").unwrap();
        }
        let overlay = Overlay::default();
        overlay
            .commit(vec![
                put(TreeId::Index, "b", "frozen"),
                remove(TreeId::Index, "c"),
            ])
            .unwrap();
        let (frozen, pending) = overlay.freeze().unwrap();
        assert!(!pending.is_empty());
        assert_eq!(frozen[TreeId::Index as usize].len(), 2);
        overlay
            .commit(vec![
                put(TreeId::Index, "b", "active"),
                put(TreeId::Index, "f", "active"),
            ])
            .unwrap();
        let expected = [
            ("a", "cold"),
            ("b", "active"),
            ("e", "cold"),
            ("f", "active"),
        ]
        .map(|(key, value)| (key.to_string(), value.to_string()));
        assert_eq!(merged(&overlay, &cold), expected);
        assert_eq!(overlay.get(TreeId::Index, b"c").unwrap(), Some(None));
        assert_eq!(overlay.get(TreeId::Index, b"a").unwrap(), None);
        assert_eq!(overlay.get(TreeId::Orders, b"b").unwrap(), None);
        // A second freeze before the first was thawed (its checkpoint failed) covers both.
        let (again, _) = overlay.freeze().unwrap();
        assert_eq!(again[TreeId::Index as usize].len(), 3);
        assert_eq!(
            again[TreeId::Index as usize].get(b"b".as_slice()),
            Some(&Some(b"active".to_vec()))
        );
        assert_eq!(merged(&overlay, &cold), expected);
        overlay.thaw().unwrap();
        assert_eq!(overlay.get(TreeId::Index, b"c").unwrap(), None);
    }

    #[test]
    fn an_empty_or_reversed_range_is_empty_not_a_panic() {
        let overlay = Overlay::default();
        overlay.commit(vec![put(TreeId::Feed, "k", "v")]).unwrap();
        let reversed: KeyRange = (
            Bound::Included(b"z".to_vec()),
            Bound::Included(b"a".to_vec()),
        );
        let empty: KeyRange = (
            Bound::Excluded(b"k".to_vec()),
            Bound::Excluded(b"k".to_vec()),
        );
        assert!(overlay.range(TreeId::Feed, &reversed).unwrap().is_empty());
        assert!(overlay.range(TreeId::Feed, &empty).unwrap().is_empty());
    }
}
