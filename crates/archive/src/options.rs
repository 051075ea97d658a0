//! How to unpack: [`UnpackOptions`] and its defaults.

use hookinit_values::Sha256Pin;

/// Default cap on unpacked content: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// Default cap on the number of entries.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;

/// How to unpack. `Default` gives the `fstree` behaviour.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Leading path components removed from every entry (`strip=N`). `None` strips one level
    /// only for a source archive's shape: one top folder named `NAME-REF` holding everything
    /// (GitHub's and GitLab's `repo-ref/`; see strip.rs).
    pub strip: Option<u32>,
    /// Expected sha256 of the archive file, checked before anything is written.
    pub sha256: Option<Sha256Pin>,
    /// Cap on the unpacked content (the sum of regular file sizes).
    pub max_bytes: u64,
    /// Cap on the number of entries.
    pub max_entries: u64,
    /// Give entries the archive's uid/gid, as tar does when run as root. Defaults to whether the
    /// process runs as root. Where the kernel refuses (EPERM, or EINVAL for an id a user
    /// namespace does not map), or the archive's id is 4294967295 (chown's "no change"), the
    /// entry keeps our ownership and is counted in [`UnpackReport::owner_not_kept`]: a patch
    /// should not fail over ownership. setuid survives only where the archive's uid was
    /// applied, setgid only where its gid was; without `same_owner` both are dropped.
    ///
    /// [`UnpackReport::owner_not_kept`]: crate::UnpackReport::owner_not_kept
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            strip: None,
            sha256: None,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            same_owner: nix::unistd::geteuid().is_root(),
        }
    }
}
