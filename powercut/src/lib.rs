//! A disk that loses power on command, for tests: a FUSE file system (see [`disk`] for the
//! rules) that keeps every write in memory with what has been synced, and on [`PowerCutDisk::cut`]
//! unmounts, drops everything never synced and mounts the durable state again, so the kernel has
//! nothing of the old state cached. A program whose data lives under the mount point and which
//! claims "synced before acknowledged" can then be checked for the claim, not only for its
//! system calls.
//!
//! Needs `/dev/fuse` and the right to mount (root here; otherwise `fusermount3`). Callers should
//! treat a failing [`PowerCutDisk::mount`] as "cannot test here" and say so.

pub mod disk;
mod fuse;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fuser::{BackgroundSession, Config, MountOption};

use crate::disk::Disk;

/// A mounted power-cut disk.
pub struct PowerCutDisk {
    mount_point: PathBuf,
    disk: Arc<Mutex<Disk>>,
    session: Option<BackgroundSession>,
}

fn mount_at(mount_point: &Path, disk: &Arc<Mutex<Disk>>) -> io::Result<BackgroundSession> {
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("cashier-powercut".into()),
        MountOption::RW,
        MountOption::NoAtime,
    ];
    fuser::spawn_mount(
        fuse::PowerCutFs { disk: disk.clone() },
        mount_point,
        &config,
    )
}

impl PowerCutDisk {
    /// Mounts an empty disk at `mount_point` (an existing empty directory).
    pub fn mount(mount_point: &Path) -> io::Result<PowerCutDisk> {
        let disk = Arc::new(Mutex::new(Disk::default()));
        let session = mount_at(mount_point, &disk)?;
        Ok(PowerCutDisk {
            mount_point: mount_point.to_path_buf(),
            disk,
            session: Some(session),
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Bytes written but not synced.
    pub fn unsynced_bytes(&self) -> u64 {
        self.disk
            .lock()
            .map(|disk| disk.unsynced_bytes())
            .unwrap_or(0)
    }

    /// The power cut: unmounts (every file must be closed, or this fails with `EBUSY` and
    /// nothing changes), drops what was never synced, mounts the durable state. Returns the
    /// bytes dropped.
    pub fn cut(&mut self) -> io::Result<u64> {
        if let Some(session) = self.session.take() {
            session.umount_and_join()?;
        }
        let dropped = self
            .disk
            .lock()
            .map_err(|_| io::Error::other("the disk model's lock is poisoned"))?
            .cut();
        self.session = Some(mount_at(&self.mount_point, &self.disk)?);
        Ok(dropped)
    }

    /// Unmounts (also done on drop).
    pub fn unmount(mut self) -> io::Result<()> {
        match self.session.take() {
            Some(session) => session.umount_and_join(),
            None => Ok(()),
        }
    }
}

impl Drop for PowerCutDisk {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}
