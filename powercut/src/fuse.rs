//! The FUSE side: each kernel request becomes one call on the [`Disk`] model. Every TTL is zero
//! and nothing is cached here, so the kernel asks again for every lookup and attribute, and a
//! remount after a cut shows exactly the durable tree.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::disk::{Disk, DiskError, Ino, Node};

const TTL: Duration = Duration::ZERO;

/// The file system the kernel talks to, over the shared model.
pub(crate) struct PowerCutFs {
    pub(crate) disk: Arc<Mutex<Disk>>,
}

fn errno(error: DiskError) -> Errno {
    match error {
        DiskError::NotFound => Errno::ENOENT,
        DiskError::Exists => Errno::EEXIST,
        DiskError::NotADirectory => Errno::ENOTDIR,
        DiskError::IsADirectory => Errno::EISDIR,
        DiskError::NotEmpty => Errno::ENOTEMPTY,
    }
}

fn attributes(ino: Ino, node: &Node) -> FileAttr {
    let (kind, size, perm, nlink) = match node {
        Node::File(bytes) => (FileType::RegularFile, bytes.len() as u64, 0o644, 1),
        Node::Dir(_) => (FileType::Directory, 0, 0o755, 2),
    };
    let now = SystemTime::UNIX_EPOCH;
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind,
        perm,
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl PowerCutFs {
    fn disk(&self) -> Result<MutexGuard<'_, Disk>, Errno> {
        self.disk.lock().map_err(|_| Errno::EIO)
    }

    fn attr_of(&self, ino: Ino) -> Result<FileAttr, Errno> {
        let disk = self.disk()?;
        let node = disk.node(ino).ok_or(Errno::ENOENT)?;
        Ok(attributes(ino, node))
    }

    fn entry(
        &self,
        parent: INodeNo,
        name: &OsStr,
        directory: Option<bool>,
    ) -> Result<FileAttr, Errno> {
        let mut disk = self.disk()?;
        let ino = match directory {
            Some(directory) => disk.create(parent.0, name, directory),
            None => disk.lookup(parent.0, name),
        }
        .map_err(errno)?;
        let node = disk.node(ino).ok_or(Errno::ENOENT)?;
        Ok(attributes(ino, node))
    }

    fn empty(&self, reply: ReplyEmpty, change: impl FnOnce(&mut Disk) -> Result<(), DiskError>) {
        match self.disk() {
            Ok(mut disk) => match change(&mut disk) {
                Ok(()) => reply.ok(),
                Err(error) => reply.error(errno(error)),
            },
            Err(error) => reply.error(error),
        }
    }
}

fn answer_entry(reply: ReplyEntry, attr: Result<FileAttr, Errno>) {
    match attr {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(error) => reply.error(error),
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        answer_entry(reply, self.entry(parent, name, None));
    }

    fn getattr(&self, _request: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(error) => reply.error(error),
        }
    }

    fn setattr(
        &self,
        _request: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let truncated = match (size, self.disk()) {
            (Some(size), Ok(mut disk)) => disk.truncate(ino.0, size).map_err(errno),
            (Some(_), Err(error)) => Err(error),
            (None, _) => Ok(()),
        };
        match truncated.and_then(|()| self.attr_of(ino.0)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(error) => reply.error(error),
        }
    }

    fn mkdir(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        answer_entry(reply, self.entry(parent, name, Some(true)));
    }

    fn create(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.entry(parent, name, Some(false)) {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(error) => reply.error(error),
        }
    }

    fn unlink(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(reply, |disk| disk.remove(parent.0, name, false));
    }

    fn rmdir(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(reply, |disk| disk.remove(parent.0, name, true));
    }

    fn rename(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |disk| {
            disk.rename(parent.0, name, new_parent.0, new_name)
        });
    }

    fn read(
        &self,
        _request: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let disk = match self.disk() {
            Ok(disk) => disk,
            Err(error) => return reply.error(error),
        };
        match disk.node(ino.0) {
            Some(Node::File(bytes)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let end = start.saturating_add(size as usize).min(bytes.len());
                reply.data(&bytes[start..end]);
            }
            Some(Node::Dir(_)) => reply.error(Errno::EISDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn write(
        &self,
        _request: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self
            .disk()
            .and_then(|mut disk| disk.write(ino.0, offset, data).map_err(errno));
        match written {
            Ok(count) => reply.written(u32::try_from(count).unwrap_or(u32::MAX)),
            Err(error) => reply.error(error),
        }
    }

    fn flush(
        &self,
        _request: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) is not a durability point.
        reply.ok();
    }

    fn fsync(
        &self,
        _request: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |disk| disk.sync_file(ino.0));
    }

    fn fsyncdir(
        &self,
        _request: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |disk| disk.sync_dir(ino.0));
    }

    fn readdir(
        &self,
        _request: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listed = self.disk().and_then(|disk| disk.list(ino.0).map_err(errno));
        let entries = match listed {
            Ok(entries) => entries,
            Err(error) => return reply.error(error),
        };
        let dots = [
            (OsStr::new(".").to_owned(), ino.0, FileType::Directory),
            (OsStr::new("..").to_owned(), ino.0, FileType::Directory),
        ];
        let kinds = self.disk().map(|disk| {
            entries
                .into_iter()
                .map(|(name, child)| {
                    let kind = match disk.node(child) {
                        Some(Node::Dir(_)) => FileType::Directory,
                        _ => FileType::RegularFile,
                    };
                    (name, child, kind)
                })
                .collect::<Vec<_>>()
        });
        let Ok(kinds) = kinds else {
            return reply.error(Errno::EIO);
        };
        let all = dots.into_iter().chain(kinds);
        for (index, (name, child, kind)) in all
            .enumerate()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        {
            if reply.add(INodeNo(child), index as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn access(
        &self,
        _request: &Request,
        _ino: INodeNo,
        _mask: fuser::AccessFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }
}
