//! Power cuts for `cashier chaos --power-cuts`: the store lives on the power-cut disk
//! (`cashier-powercut`, FUSE), and after some SIGKILLs the disk also loses everything never
//! synced, as a machine losing power would. Needs the `chaos` feature; without it, asking for
//! power cuts is an error that says so.

use std::path::PathBuf;

/// The mounted disk and what its cuts dropped.
pub struct PowerCuts {
    #[cfg(feature = "chaos")]
    disk: cashier_powercut::PowerCutDisk,
    #[cfg(feature = "chaos")]
    _mount_point: tempfile::TempDir,
    /// Cuts made.
    pub cuts: u32,
    /// Bytes written but never synced that the cuts dropped.
    pub dropped_bytes: u64,
}

impl PowerCuts {
    /// Mounts an empty power-cut disk on a temporary mount point.
    #[cfg(feature = "chaos")]
    pub fn mount() -> Result<PowerCuts, String> {
        let mount_point = tempfile::tempdir().map_err(|error| error.to_string())?;
        let disk = cashier_powercut::PowerCutDisk::mount(mount_point.path())
            .map_err(|error| format!("cannot mount the power-cut disk (FUSE): {error}"))?;
        Ok(PowerCuts {
            disk,
            _mount_point: mount_point,
            cuts: 0,
            dropped_bytes: 0,
        })
    }

    /// Without the `chaos` feature there is no power-cut disk.
    #[cfg(not(feature = "chaos"))]
    pub fn mount() -> Result<PowerCuts, String> {
        Err("--power-cuts needs a build with the chaos feature (cargo run --features chaos)".into())
    }

    /// The engine's data directory on the disk.
    pub fn store_dir(&self) -> PathBuf {
        #[cfg(feature = "chaos")]
        return self.disk.path().join("store");
        #[cfg(not(feature = "chaos"))]
        PathBuf::new()
    }

    /// Cuts the power (the engine must be dead: its files must be closed).
    pub fn cut(&mut self) -> Result<(), String> {
        #[cfg(feature = "chaos")]
        {
            self.dropped_bytes += self
                .disk
                .cut()
                .map_err(|error| format!("power cut: {error}"))?;
        }
        self.cuts += 1;
        Ok(())
    }
}
