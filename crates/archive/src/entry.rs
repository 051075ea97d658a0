//! One archive entry, as both readers describe it: name, kind, metadata, and the size of the data
//! that follows it.

/// One archive entry, independent of the archive format.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) name: Vec<u8>,
    pub(crate) kind: Kind,
    pub(crate) meta: Meta,
    /// Declared size of the entry's data: a file's content, or data that another kind of entry
    /// carries (read through and dropped, but decompressed all the same, so it counts too).
    pub(crate) size: u64,
}

impl Head {
    pub(crate) fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

#[derive(Debug)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    /// Device nodes, fifos and sockets: refused.
    Special(&'static str),
    /// Anything else we will not unpack (sparse files, unknown types, encrypted zip entries).
    Unsupported(String),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) mode: u32,
    pub(crate) mtime: Option<i64>,
    pub(crate) owner: Option<(u32, u32)>,
}
