//! Archives to serve to `fstree=` from the loopback HTTP server.

/// A gzip-compressed tarball of `files` (path inside the archive, contents, mode), owned by root,
/// as an operator would serve to `fstree=`.
pub fn tar_gz(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *contents)
            .unwrap_or_else(|e| panic!("tar {path}: {e}"));
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish the tarball")
}
