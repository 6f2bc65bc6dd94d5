//! Filesystem: host directories mounted read-only or read-write. wasmtime's
//! WASI implementation opens each as a cap-std `Dir`, so nothing outside a
//! mount is reachable: `..`, absolute paths and symlinks that leave it fail.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::policy::{MountMode, Policy};

#[derive(Debug)]
pub(super) struct Grant {
    mounts: Vec<(PathBuf, String, FsPerms)>,
}

impl Grant {
    /// Resolves each host directory (relative to the policy's base) and
    /// checks that it is a directory and that guest paths are distinct.
    /// Errors name the policy's origin, the line and the field
    /// (`policy.toml:7: mounts[1].guest: ...`).
    pub(super) fn configure(policy: &Policy) -> Result<Self> {
        let mut mounts = Vec::with_capacity(policy.mounts.len());
        for (index, mount) in policy.mounts.iter().enumerate() {
            let at = |field: &str| policy.origin.locate(&format!("mounts[{index}].{field}"));
            let host = match &policy.base_dir {
                Some(base) if mount.host.is_relative() => base.join(&mount.host),
                _ => mount.host.clone(),
            };
            let host = host
                .canonicalize()
                .map_err(|error| Error::io(format!("{}{}", at("host"), host.display()), error))?;
            if !host.is_dir() {
                return Err(Error::new(
                    ErrorKind::InvalidPolicy,
                    format!("{}{} is not a directory", at("host"), host.display()),
                ));
            }
            if !mount.guest.starts_with('/') {
                return Err(Error::new(
                    ErrorKind::InvalidPolicy,
                    format!("{}`{}` must be absolute", at("guest"), mount.guest),
                ));
            }
            if mounts.iter().any(|(_, guest, _)| *guest == mount.guest) {
                return Err(Error::new(
                    ErrorKind::InvalidPolicy,
                    format!("{}`{}` is mounted twice", at("guest"), mount.guest),
                ));
            }
            let perms = match mount.mode {
                MountMode::ReadOnly => FsPerms::ReadOnly,
                MountMode::ReadWrite => FsPerms::ReadWrite,
            };
            mounts.push((host, mount.guest.clone(), perms));
        }
        Ok(Self { mounts })
    }

    pub(super) fn grant(&self, builder: &mut WasiCtxBuilder) -> Result<()> {
        for (host, guest, perms) in &self.mounts {
            builder
                .preopened_dir(host, guest, *perms)
                .map_err(|error| {
                    Error::new(
                        ErrorKind::Io,
                        format!("opening mount {guest} ({})", host.display()),
                    )
                    .with_wasmtime(error)
                })?;
        }
        Ok(())
    }
}
