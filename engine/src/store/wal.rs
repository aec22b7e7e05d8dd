//! The store's write-ahead log: what makes a commit durable. Each commit's writes to sled's
//! trees are also appended to the log as one frame (length, CRC-32, body); a group flush writes
//! the frames committed since the last one and calls `fdatasync` on the log once. sled's own
//! files are flushed and synced only at checkpoints, after which the log files they cover are
//! removed.
//!
//! sled receives a commit only at a checkpoint, after the log holding it was synced
//! (`overlay.rs`), so replaying the remaining files' frames in order over sled, whatever part of
//! a checkpoint sled had written, gives every key its last committed value.
//!
//! Files are `wal.<number>` in the store directory, numbered upwards. A file is complete and
//! synced before the next is created, so only the last may end in a torn frame (the part a
//! power cut took, never acknowledged); a damaged frame in an earlier file is an error. Files
//! are removed oldest first, so the ones left are consecutive; a file older than a gap was
//! checkpointed (and is ignored).

use std::fs::File;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use crate::store::durability::sync_directory;
use crate::store::StoreError;

const FILE_PREFIX: &str = "wal.";
const MAGIC: &[u8; 8] = b"cshwal1\n";
/// No frame is larger (a record, its audit line and feed notices take a few KB).
const MAX_FRAME_BYTES: u32 = 64 * 1024 * 1024;

/// The tree a write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TreeId {
    Orders = 0,
    Index = 1,
    Events = 2,
    Deadlines = 3,
    Feed = 4,
}

impl TreeId {
    pub(crate) const COUNT: usize = 5;

    fn from_byte(byte: u8) -> Option<TreeId> {
        [
            TreeId::Orders,
            TreeId::Index,
            TreeId::Events,
            TreeId::Deadlines,
            TreeId::Feed,
        ]
        .into_iter()
        .find(|tree| *tree as u8 == byte)
    }
}

/// One insert (a value) or removal (none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TreeWrite {
    pub(crate) tree: TreeId,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Option<Vec<u8>>,
}

/// One commit's writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) writes: Vec<TreeWrite>,
}

impl Frame {
    /// Appends the frame, framed: body length, CRC-32 of the body, body.
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(self.writes.len() as u32).to_le_bytes());
        for write in &self.writes {
            out.push(write.tree as u8);
            put_bytes(out, &write.key);
            match &write.value {
                Some(value) => {
                    out.push(1);
                    put_bytes(out, value);
                }
                None => out.push(0),
            }
        }
        let body = out.get(start + 8..).unwrap_or_default();
        let length = (body.len() as u32).to_le_bytes();
        let crc = crc32fast::hash(body).to_le_bytes();
        if let Some(header) = out.get_mut(start..start + 8) {
            header[..4].copy_from_slice(&length);
            header[4..].copy_from_slice(&crc);
        }
    }

    fn decode(body: &[u8]) -> Option<Frame> {
        let mut reader = Reader { rest: body };
        let count = u32::from_le_bytes(reader.array()?);
        let mut writes = Vec::new();
        for _ in 0..count {
            let tree = TreeId::from_byte(reader.array::<1>()?[0])?;
            let key = reader.bytes()?.to_vec();
            let value = match reader.array::<1>()?[0] {
                0 => None,
                1 => Some(reader.bytes()?.to_vec()),
                _ => return None,
            };
            writes.push(TreeWrite { tree, key, value });
        }
        reader.rest.is_empty().then_some(Frame { writes })
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.rest.len() < count {
            return None;
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|bytes| bytes.try_into().ok())
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let length = u32::from_le_bytes(self.array()?);
        self.take(length as usize)
    }
}

/// What one log file holds: its frames, and whether it ended cleanly (false: a torn or
/// damaged frame, and everything after it, was dropped).
pub(crate) struct FileContents {
    pub(crate) frames: Vec<Frame>,
    pub(crate) clean: bool,
}

/// Reads a log file's frames up to its end or its first damaged frame.
pub(crate) fn read(path: &Path) -> Result<FileContents, StoreError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(|error| io("reading", path, error))?;
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Ok(FileContents {
            frames: Vec::new(),
            clean: bytes.is_empty(),
        });
    };
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let mut reader = Reader { rest };
        let frame = reader
            .array::<4>()
            .map(u32::from_le_bytes)
            .filter(|length| *length <= MAX_FRAME_BYTES)
            .and_then(|length| {
                let crc = u32::from_le_bytes(reader.array()?);
                let body = reader.take(length as usize)?;
                (crc32fast::hash(body) == crc).then_some(body)
            })
            .and_then(Frame::decode);
        match frame {
            Some(frame) => frames.push(frame),
            None => {
                return Ok(FileContents {
                    frames,
                    clean: false,
                })
            }
        }
        rest = reader.rest;
    }
    Ok(FileContents {
        frames,
        clean: true,
    })
}

/// The log files in `dir`, oldest first.
pub(crate) fn files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|error| io("listing", dir, error))?;
    let mut files: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let number = name.to_str()?.strip_prefix(FILE_PREFIX)?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The files to replay: the consecutive run ending at the newest (an older file before a gap
/// was checkpointed, and its removal did not survive).
pub(crate) fn replayable(files: &[(u64, PathBuf)]) -> &[(u64, PathBuf)] {
    let mut start = files.len().saturating_sub(1);
    while start > 0 && files[start - 1].0 + 1 == files[start].0 {
        start -= 1;
    }
    files.get(start..).unwrap_or_default()
}

/// Removes the log files numbered below `number`, oldest first (sled's synced files now hold
/// what they did), and syncs the directory so no removed file comes back.
pub(crate) fn remove_before(dir: &Path, number: u64) -> Result<(), StoreError> {
    let mut removed = false;
    for (old, path) in files(dir)? {
        if old < number {
            std::fs::remove_file(&path).map_err(|error| io("removing", &path, error))?;
            removed = true;
        }
    }
    if removed {
        sync_directory(dir)?;
    }
    Ok(())
}

/// The log file being appended to.
pub(crate) struct LogFile {
    file: File,
}

impl LogFile {
    /// Creates log file `number` in `dir`, durably (its header and its name are synced). A file
    /// of that number is one a failed checkpoint began, never written to: it starts again.
    pub(crate) fn create(dir: &Path, number: u64) -> Result<LogFile, StoreError> {
        let path = dir.join(format!("{FILE_PREFIX}{number:012}"));
        let mut file = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|error| io("creating", &path, error))?;
        file.write_all(MAGIC)
            .and_then(|()| file.sync_all())
            .map_err(|error| io("writing", &path, error))?;
        sync_directory(dir)?;
        Ok(LogFile { file })
    }

    /// Appends `bytes` and calls `fdatasync` (nothing, for nothing).
    pub(crate) fn append_and_sync(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|error| {
                StoreError::Storage(format!("appending to the write-ahead log: {error}"))
            })?;
        Ok(())
    }
}

fn io(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Storage(format!("{what} {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(revision: u8) -> Frame {
        Frame {
            writes: vec![
                TreeWrite {
                    tree: TreeId::Orders,
                    key: b"key".to_vec(),
                    value: Some(vec![revision; 300]),
                },
                TreeWrite {
                    tree: TreeId::Deadlines,
                    key: b"old".to_vec(),
                    value: None,
                },
            ],
        }
    }

    #[test]
    fn frames_read_back_in_order_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::create(dir.path(), 1).unwrap();
        let mut bytes = Vec::new();
        frame(1).append_to(&mut bytes);
        frame(2).append_to(&mut bytes);
        log.append_and_sync(&bytes).unwrap();
        let whole = read(&dir.path().join("wal.000000000001")).unwrap();
        assert!(whole.clean);
        assert_eq!(whole.frames, vec![frame(1), frame(2)]);

        // Every cut inside the second frame keeps the first and reports the tear.
        let first_len = {
            let mut one = Vec::new();
            frame(1).append_to(&mut one);
            one.len()
        };
        let path = dir.path().join("cut");
        for cut in first_len + 1..bytes.len() {
            let mut file = MAGIC.to_vec();
            file.extend_from_slice(&bytes[..cut]);
            std::fs::write(&path, &file).unwrap();
            let contents = read(&path).unwrap();
            assert!(!contents.clean, "cut at {cut}");
            assert_eq!(contents.frames, vec![frame(1)]);
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_log_at_that_frame() {
        let mut bytes = MAGIC.to_vec();
        frame(1).append_to(&mut bytes);
        let second = bytes.len();
        frame(2).append_to(&mut bytes);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped");
        for position in second..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            std::fs::write(&path, &damaged).unwrap();
            let contents = read(&path).unwrap();
            assert!(!contents.clean);
            assert_eq!(contents.frames, vec![frame(1)], "flip at {position}");
        }
    }

    #[test]
    fn files_are_listed_oldest_first_and_removed_below_a_number() {
        let dir = tempfile::tempdir().unwrap();
        for number in [3, 1, 2] {
            LogFile::create(dir.path(), number).unwrap();
        }
        std::fs::write(dir.path().join("db"), b"sled").unwrap();
        let numbers: Vec<u64> = files(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        remove_before(dir.path(), 3).unwrap();
        let numbers: Vec<u64> = files(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(numbers, vec![3]);
        assert!(dir.path().join("db").exists());
    }

    #[test]
    fn only_the_consecutive_files_ending_at_the_newest_are_replayed() {
        let numbered = |numbers: &[u64]| -> Vec<(u64, PathBuf)> {
            numbers
                .iter()
                .map(|n| (*n, PathBuf::from(n.to_string())))
                .collect()
        };
        let kept = |numbers: &[u64]| -> Vec<u64> {
            replayable(&numbered(numbers)).iter().map(|f| f.0).collect()
        };
        assert_eq!(kept(&[]), Vec::<u64>::new());
        assert_eq!(kept(&[4]), vec![4]);
        assert_eq!(kept(&[4, 5, 6]), vec![4, 5, 6]);
        assert_eq!(kept(&[1, 4, 5]), vec![4, 5]);
        assert_eq!(kept(&[1, 2, 5]), vec![5]);
    }
}
