//! The power-cut model, pure: two trees of inodes, what the kernel sees (`live`) and what would
//! survive a power cut (`durable`). Writes change `live` only; `fsync` and `fsyncdir` copy parts
//! of `live` into `durable`; a cut throws `live` away and starts again from `durable`.
//!
//! The rules are a journaling file system's, taken conservatively (nothing is durable that a
//! POSIX program did not ask to be):
//! - a file's bytes and length become durable only on `fsync`/`fdatasync` of that file;
//! - that sync also makes the file's own names durable in directories that are themselves
//!   durable (ext4 and XFS commit a new file's entry with its inode);
//! - creating, removing and renaming entries is otherwise durable only on `fsync` of the
//!   directory, which makes all its entries durable (a new entry's file arrives empty unless its
//!   data was synced too).
//!
//! Not modelled: torn or reordered writes within one file (a cut keeps a file's last synced
//! bytes whole), metadata other than names and lengths, hard links, and `sync_file_range`,
//! which never reaches a FUSE file system.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};

/// An inode number.
pub type Ino = u64;

/// The root directory's inode.
pub const ROOT: Ino = 1;

/// An inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A file and its bytes.
    File(Vec<u8>),
    /// A directory: name → inode.
    Dir(BTreeMap<OsString, Ino>),
}

/// Why an operation failed (each maps to one errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// No such file or directory.
    NotFound,
    /// The name exists.
    Exists,
    /// A directory was expected.
    NotADirectory,
    /// A file was expected.
    IsADirectory,
    /// The directory is not empty.
    NotEmpty,
}

/// The two trees.
#[derive(Clone, Debug)]
pub struct Disk {
    live: BTreeMap<Ino, Node>,
    durable: BTreeMap<Ino, Node>,
    next_ino: Ino,
    /// Per file, the bytes written since its last sync (start, end): what the next sync copies,
    /// so syncing an appended log costs what was appended, not the whole file.
    dirty: BTreeMap<Ino, (usize, usize)>,
}

impl Default for Disk {
    fn default() -> Disk {
        let root = BTreeMap::from([(ROOT, Node::Dir(BTreeMap::new()))]);
        Disk {
            live: root.clone(),
            durable: root,
            next_ino: ROOT + 1,
            dirty: BTreeMap::new(),
        }
    }
}

impl Disk {
    /// The inode as the kernel sees it.
    pub fn node(&self, ino: Ino) -> Option<&Node> {
        self.live.get(&ino)
    }

    fn entries(&self, dir: Ino) -> Result<&BTreeMap<OsString, Ino>, DiskError> {
        match self.live.get(&dir) {
            Some(Node::Dir(entries)) => Ok(entries),
            Some(Node::File(_)) => Err(DiskError::NotADirectory),
            None => Err(DiskError::NotFound),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<OsString, Ino>, DiskError> {
        match self.live.get_mut(&dir) {
            Some(Node::Dir(entries)) => Ok(entries),
            Some(Node::File(_)) => Err(DiskError::NotADirectory),
            None => Err(DiskError::NotFound),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut Vec<u8>, DiskError> {
        match self.live.get_mut(&ino) {
            Some(Node::File(bytes)) => Ok(bytes),
            Some(Node::Dir(_)) => Err(DiskError::IsADirectory),
            None => Err(DiskError::NotFound),
        }
    }

    /// The inode `name` names in `dir`.
    pub fn lookup(&self, dir: Ino, name: &OsStr) -> Result<Ino, DiskError> {
        self.entries(dir)?
            .get(name)
            .copied()
            .ok_or(DiskError::NotFound)
    }

    /// The names in `dir`, in order.
    pub fn list(&self, dir: Ino) -> Result<Vec<(OsString, Ino)>, DiskError> {
        Ok(self
            .entries(dir)?
            .iter()
            .map(|(name, ino)| (name.clone(), *ino))
            .collect())
    }

    /// Creates an empty file or directory.
    pub fn create(&mut self, dir: Ino, name: &OsStr, directory: bool) -> Result<Ino, DiskError> {
        let ino = self.next_ino;
        let entries = self.entries_mut(dir)?;
        if entries.contains_key(name) {
            return Err(DiskError::Exists);
        }
        entries.insert(name.to_owned(), ino);
        self.next_ino += 1;
        let node = if directory {
            Node::Dir(BTreeMap::new())
        } else {
            Node::File(Vec::new())
        };
        self.live.insert(ino, node);
        Ok(ino)
    }

    /// Removes a name (a directory only when empty, and only with `directory`).
    pub fn remove(&mut self, dir: Ino, name: &OsStr, directory: bool) -> Result<(), DiskError> {
        let ino = self.lookup(dir, name)?;
        match (self.live.get(&ino), directory) {
            (Some(Node::Dir(entries)), true) if !entries.is_empty() => {
                return Err(DiskError::NotEmpty)
            }
            (Some(Node::Dir(_)), false) => return Err(DiskError::IsADirectory),
            (Some(Node::File(_)), true) => return Err(DiskError::NotADirectory),
            _ => {}
        }
        // The inode stays: open handles may still use it, and the durable tree may name it.
        self.entries_mut(dir)?.remove(name);
        Ok(())
    }

    /// Moves a name, replacing a file at the destination.
    pub fn rename(
        &mut self,
        dir: Ino,
        name: &OsStr,
        new_dir: Ino,
        new_name: &OsStr,
    ) -> Result<(), DiskError> {
        let ino = self.lookup(dir, name)?;
        if let Ok(existing) = self.lookup(new_dir, new_name) {
            if let Some(Node::Dir(entries)) = self.live.get(&existing) {
                if !entries.is_empty() {
                    return Err(DiskError::NotEmpty);
                }
            }
        }
        self.entries(new_dir)?;
        self.entries_mut(dir)?.remove(name);
        self.entries_mut(new_dir)?.insert(new_name.to_owned(), ino);
        Ok(())
    }

    /// Writes `data` at `offset`, growing the file with zeros as needed.
    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize, DiskError> {
        let bytes = self.file_mut(ino)?;
        let start = usize::try_from(offset).map_err(|_| DiskError::NotFound)?;
        let end = start.saturating_add(data.len());
        // A write past the end also changes the zeros between the old end and it.
        let changed_from = start.min(bytes.len());
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        let start = changed_from;
        let range = self.dirty.entry(ino).or_insert((start, end));
        *range = (range.0.min(start), range.1.max(end));
        Ok(data.len())
    }

    /// Sets a file's length.
    pub fn truncate(&mut self, ino: Ino, length: u64) -> Result<(), DiskError> {
        let bytes = self.file_mut(ino)?;
        let old = bytes.len();
        let new = usize::try_from(length).map_err(|_| DiskError::NotFound)?;
        bytes.resize(new, 0);
        // What lies between the two lengths changed (cut off, or zeros now).
        let (start, end) = (old.min(new), old.max(new));
        let range = self.dirty.entry(ino).or_insert((start, end));
        *range = (range.0.min(start), range.1.max(end));
        Ok(())
    }

    /// `fsync`/`fdatasync` of a file: its bytes, length and names become durable.
    pub fn sync_file(&mut self, ino: Ino) -> Result<(), DiskError> {
        let Some(Node::File(bytes)) = self.live.get(&ino) else {
            return self.sync_dir(ino);
        };
        let written = self.dirty.remove(&ino);
        match (self.durable.get_mut(&ino), written) {
            (Some(Node::File(durable)), written) => {
                // Truncation and growth by `truncate` leave zeros on both sides alike.
                durable.resize(bytes.len(), 0);
                if let Some((start, end)) = written {
                    let end = end.min(bytes.len());
                    let start = start.min(end);
                    durable[start..end].copy_from_slice(&bytes[start..end]);
                }
            }
            _ => {
                self.durable.insert(ino, Node::File(bytes.clone()));
            }
        }
        for (dir, node) in &self.live {
            let Node::Dir(entries) = node else { continue };
            if let Some(Node::Dir(durable_entries)) = self.durable.get_mut(dir) {
                for (name, _) in entries.iter().filter(|(_, named)| **named == ino) {
                    durable_entries.insert(name.clone(), ino);
                }
            }
        }
        Ok(())
    }

    /// `fsync` of a directory: its entries become durable, exactly as they are now.
    pub fn sync_dir(&mut self, dir: Ino) -> Result<(), DiskError> {
        let entries = self.entries(dir)?.clone();
        for ino in entries.values() {
            if !self.durable.contains_key(ino) {
                let empty = match self.live.get(ino) {
                    Some(Node::Dir(_)) => Node::Dir(BTreeMap::new()),
                    _ => Node::File(Vec::new()),
                };
                self.durable.insert(*ino, empty);
            }
        }
        self.durable.insert(dir, Node::Dir(entries));
        Ok(())
    }

    /// Bytes a cut would change: in every file, the bytes that differ from the durable copy
    /// and the difference in length (a file never synced counts whole). A file differs from its
    /// durable copy only within its written range, so only that range is compared.
    pub fn unsynced_bytes(&self) -> u64 {
        self.live
            .iter()
            .map(|(ino, node)| match (node, self.durable.get(ino)) {
                (Node::File(live), Some(Node::File(durable))) => match self.dirty.get(ino) {
                    Some(&(start, end)) => {
                        differing_bytes(within(live, start, end), within(durable, start, end))
                    }
                    None => 0,
                },
                (Node::File(live), _) => live.len() as u64,
                (Node::Dir(_), _) => 0,
            })
            .sum()
    }

    /// The power cut: everything never synced is gone. Returns the bytes dropped. Inodes no
    /// durable directory names are dropped too (nothing can be open across a cut, and a removed
    /// file's bytes would otherwise stay in memory for the disk's life). Files go back to their
    /// durable bytes within their written ranges only, so a cut costs what changed.
    pub fn cut(&mut self) -> u64 {
        let dropped = self.unsynced_bytes();
        let mut reachable = BTreeSet::from([ROOT]);
        let mut pending = vec![ROOT];
        while let Some(dir) = pending.pop() {
            if let Some(Node::Dir(entries)) = self.durable.get(&dir) {
                for ino in entries.values() {
                    if reachable.insert(*ino) {
                        pending.push(*ino);
                    }
                }
            }
        }
        self.durable.retain(|ino, _| reachable.contains(ino));
        let durable = &self.durable;
        self.live.retain(|ino, _| durable.contains_key(ino));
        let dirty = std::mem::take(&mut self.dirty);
        for (ino, node) in &self.durable {
            match (node, self.live.get_mut(ino)) {
                (Node::File(synced), Some(Node::File(live))) => {
                    if let Some(&(start, end)) = dirty.get(ino) {
                        live.resize(synced.len(), 0);
                        let end = end.min(synced.len());
                        let start = start.min(end);
                        live[start..end].copy_from_slice(&synced[start..end]);
                    }
                }
                _ => {
                    self.live.insert(*ino, node.clone());
                }
            }
        }
        dropped
    }
}

/// The part of `bytes` in `start..end` (clamped to its length).
fn within(bytes: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(bytes.len());
    bytes.get(start.min(end)..end).unwrap_or_default()
}

fn differing_bytes(live: &[u8], durable: &[u8]) -> u64 {
    let changed = live
        .iter()
        .zip(durable)
        .filter(|(now, synced)| now != synced)
        .count();
    changed as u64 + live.len().abs_diff(durable.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> &OsStr {
        OsStr::new(text)
    }

    #[test]
    fn unsynced_writes_and_names_are_lost_in_a_cut() {
        let mut disk = Disk::default();
        let file = disk.create(ROOT, name("log"), false).unwrap();
        disk.write(file, 0, b"acked").unwrap();
        assert_eq!(disk.cut(), 5);
        assert_eq!(disk.lookup(ROOT, name("log")), Err(DiskError::NotFound));
    }

    #[test]
    fn a_synced_file_keeps_its_bytes_and_its_name_later_writes_do_not() {
        let mut disk = Disk::default();
        let file = disk.create(ROOT, name("log"), false).unwrap();
        disk.write(file, 0, b"acked").unwrap();
        disk.sync_file(file).unwrap();
        disk.write(file, 5, b" then lost").unwrap();
        disk.write(file, 0, b"A").unwrap();
        assert_eq!(disk.unsynced_bytes(), 1 + 10);
        disk.cut();
        let file = disk.lookup(ROOT, name("log")).unwrap();
        assert_eq!(disk.node(file), Some(&Node::File(b"acked".to_vec())));
    }

    #[test]
    fn a_name_in_an_unsynced_directory_needs_the_directory_synced() {
        let mut disk = Disk::default();
        let dir = disk.create(ROOT, name("store"), true).unwrap();
        let file = disk.create(dir, name("db"), false).unwrap();
        disk.write(file, 0, b"x").unwrap();
        disk.sync_file(file).unwrap();
        disk.cut();
        assert_eq!(disk.lookup(ROOT, name("store")), Err(DiskError::NotFound));
        let dir = disk.create(ROOT, name("store"), true).unwrap();
        let file = disk.create(dir, name("db"), false).unwrap();
        disk.sync_dir(ROOT).unwrap();
        disk.write(file, 0, b"x").unwrap();
        disk.sync_file(file).unwrap();
        disk.cut();
        let dir = disk.lookup(ROOT, name("store")).unwrap();
        assert!(disk.lookup(dir, name("db")).is_ok());
    }

    #[test]
    fn a_removal_or_rename_is_undone_by_a_cut_unless_the_directory_was_synced() {
        let mut disk = Disk::default();
        let file = disk.create(ROOT, name("a"), false).unwrap();
        disk.sync_dir(ROOT).unwrap();
        disk.rename(ROOT, name("a"), ROOT, name("b")).unwrap();
        disk.cut();
        assert!(disk.lookup(ROOT, name("a")).is_ok());
        disk.rename(ROOT, name("a"), ROOT, name("b")).unwrap();
        disk.sync_dir(ROOT).unwrap();
        disk.remove(ROOT, name("b"), false).unwrap();
        disk.cut();
        assert_eq!(disk.lookup(ROOT, name("b")), Ok(file));
        assert_eq!(disk.lookup(ROOT, name("a")), Err(DiskError::NotFound));
    }

    #[test]
    fn directories_refuse_what_posix_refuses() {
        let mut disk = Disk::default();
        let dir = disk.create(ROOT, name("d"), true).unwrap();
        disk.create(dir, name("f"), false).unwrap();
        assert_eq!(disk.create(ROOT, name("d"), false), Err(DiskError::Exists));
        assert_eq!(disk.remove(ROOT, name("d"), true), Err(DiskError::NotEmpty));
        assert_eq!(
            disk.remove(ROOT, name("d"), false),
            Err(DiskError::IsADirectory)
        );
        assert_eq!(disk.write(dir, 0, b"x"), Err(DiskError::IsADirectory));
    }

    /// Syncing copies, and a cut restores, only what was written since the last sync; they must
    /// give the same bytes as whole-file copies, and the unsynced count the same as comparing
    /// whole files, whatever mix of writes, truncations, syncs and cuts came before (checked on
    /// seeded random sequences).
    #[test]
    fn a_sync_of_the_written_range_keeps_what_a_whole_copy_would() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        for _ in 0..200 {
            let mut disk = Disk::default();
            let file = disk.create(ROOT, name("log"), false).unwrap();
            disk.sync_dir(ROOT).unwrap();
            let mut synced: Vec<u8> = Vec::new();
            for step in 0..60u8 {
                match next(5) {
                    0 | 1 => {
                        let data = vec![step; next(9) as usize + 1];
                        disk.write(file, next(40), &data).unwrap();
                    }
                    2 => disk.truncate(file, next(40)).unwrap(),
                    3 => {
                        disk.sync_file(file).unwrap();
                        if let Some(Node::File(bytes)) = disk.node(file) {
                            synced = bytes.clone();
                        }
                    }
                    _ => {
                        let Some(Node::File(live)) = disk.node(file) else {
                            panic!("the file is gone")
                        };
                        assert_eq!(disk.unsynced_bytes(), differing_bytes(live, &synced));
                        disk.cut();
                        assert_eq!(disk.node(file), Some(&Node::File(synced.clone())));
                    }
                }
            }
            disk.cut();
            assert_eq!(disk.node(file), Some(&Node::File(synced)));
        }
    }

    #[test]
    fn a_cut_forgets_inodes_no_durable_directory_names() {
        let mut disk = Disk::default();
        let old = disk.create(ROOT, name("wal.1"), false).unwrap();
        disk.write(old, 0, b"checkpointed").unwrap();
        disk.sync_file(old).unwrap();
        disk.remove(ROOT, name("wal.1"), false).unwrap();
        disk.sync_dir(ROOT).unwrap();
        assert!(disk.node(old).is_some(), "an open handle may still read it");
        disk.cut();
        assert_eq!(disk.node(old), None);
    }
}
