//! Safe extraction of tar (plain, gzip, xz, zstd) and zip archives over a root filesystem.
//!
//! This is what `fstree=URL` and operator plugins (through their grants) use to patch a
//! container's filesystem, so the archive is treated as hostile. [`unpack()`] reads it in two
//! passes: the first applies every rule that needs no filesystem, so that an archive breaking
//! one is refused before anything is written; the second writes, all or nothing (a failure
//! leaves the destination as it was, but for directory times), and never outside it.
//!
//! The modules, in the order an unpack meets them:
//!
//! - `unpack`: [`unpack()`] itself, and what its passes share.
//! - `options`: [`UnpackOptions`] and its defaults.
//! - `sha256`: the pin, checked before anything is written, or the hash taken alongside.
//! - `file`: opening the archive (a regular file only) and reading it by position.
//! - `format`: [`Format`] detection by content.
//! - `untar`, `unzip`: the two readers, each with its checking and its writing pass;
//!   `read_ahead` decompresses on the other core while the tar writing pass writes.
//! - `entry`: an entry as both readers describe it.
//! - `limits`: the rules that need no filesystem: names, kinds, the entry, size and metadata
//!   caps ([`metadata_cap`]).
//! - `strip`: the automatic strip of a GitHub-style top folder.
//! - `tree`: the destination, and path resolution that never leaves it.
//! - `extract`: the writing pass, which replaces what is in the way instead of following it.
//! - `meta`: owner, mode and mtime; setuid and setgid only with the owner they were meant for.
//! - `undo`: the record that lets a failed unpack put the destination back as it was.
//! - `report`, `error`: [`UnpackReport`] and [`UnpackError`].

mod entry;
mod error;
mod extract;
mod file;
mod format;
mod limits;
mod meta;
mod options;
mod read_ahead;
mod report;
mod sha256;
mod strip;
mod tree;
mod undo;
mod unpack;
mod untar;
mod unzip;

#[cfg(test)]
mod test_support;

pub use error::UnpackError;
pub use format::Format;
pub use limits::metadata_cap;
pub use options::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, UnpackOptions};
pub use report::UnpackReport;
pub use unpack::unpack;
