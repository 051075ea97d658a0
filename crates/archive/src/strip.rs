//! The automatic strip: one level when every entry lives in a single top folder (GitHub's
//! `repo-ref/`) that is not a root-filesystem directory such as `etc`.

/// Top folders that are part of a root filesystem and therefore never stripped automatically:
/// an archive of just `etc/` means `/etc`, not the contents of etc at `/`.
const ROOTFS_DIRS: &[&[u8]] = &[
    b"bin", b"boot", b"dev", b"etc", b"home", b"lib", b"lib32", b"lib64", b"libx32", b"media",
    b"mnt", b"opt", b"proc", b"root", b"run", b"sbin", b"srv", b"sys", b"tmp", b"usr", b"var",
];

/// Watches entry names for a single shared top folder (GitHub's `repo-ref/`).
#[derive(Default)]
pub(crate) struct TopDir {
    name: Option<Vec<u8>>,
    several: bool,
    nested: bool,
}

impl TopDir {
    pub(crate) fn observe(&mut self, comps: &[&[u8]], is_dir: bool) {
        let Some(first) = comps.first() else { return };
        match &self.name {
            None => self.name = Some(first.to_vec()),
            Some(name) if name.as_slice() != *first => self.several = true,
            Some(_) => {}
        }
        // A file at the top level means there is no folder to strip.
        self.several |= comps.len() == 1 && !is_dir;
        self.nested |= comps.len() > 1;
    }

    pub(crate) fn strip(&self) -> u32 {
        match &self.name {
            Some(name)
                if !self.several && self.nested && !ROOTFS_DIRS.contains(&name.as_slice()) =>
            {
                1
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{Format, UnpackOptions};
    use std::fs;

    #[test]
    fn tar_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&tar_of(&github_items()), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::Tar);
    }

    #[test]
    fn tar_gz_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&gz(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::TarGz);
    }

    #[test]
    fn tar_xz_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&xz(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::TarXz);
    }

    #[test]
    fn tar_zst_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&zst(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::TarZst);
    }

    #[test]
    fn zip_strips_github_top_folder() {
        let sb = Sandbox::new();
        let items: Vec<_> = github_items()
            .into_iter()
            .filter(|i| !matches!(i, GlobalPax(_)))
            .collect();
        let report = sb.unpack(&zip_of(&items), &defaults()).expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::Zip);
    }

    #[test]
    fn explicit_strip_removes_that_many_levels() {
        let sb = Sandbox::new();
        let items = [
            Dir("a/"),
            File("a/top", b"gone", 0o644),
            File("a/b/etc/hosts", b"h", 0o644),
        ];
        let opts = UnpackOptions {
            strip: Some(2),
            ..defaults()
        };
        let report = sb.unpack(&tar_of(&items), &opts).expect("unpack");
        assert_eq!(fs::read(sb.dest.join("etc/hosts")).expect("hosts"), b"h");
        assert!(!sb.dest.join("top").exists() && !sb.dest.join("a").exists());
        assert_eq!((report.strip, report.files), (2, 1));
    }

    #[test]
    fn strip_zero_keeps_the_top_folder() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            strip: Some(0),
            ..defaults()
        };
        sb.unpack(&tar_of(&github_items()), &opts).expect("unpack");
        assert!(sb.dest.join("repo-main/etc/app.conf").is_file());
    }

    #[test]
    fn a_rootfs_top_folder_is_not_stripped() {
        let sb = Sandbox::new();
        let items = [Dir("etc/"), File("etc/hosts", b"127.0.0.1 x\n", 0o644)];
        let report = sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        assert!(sb.dest.join("etc/hosts").is_file());
        assert_eq!(report.strip, 0);
    }

    #[test]
    fn several_top_folders_are_not_stripped() {
        let sb = Sandbox::new();
        let items = [File("app/x", b"x", 0o644), File("more/y", b"y", 0o644)];
        let report = sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        assert!(sb.dest.join("app/x").is_file() && sb.dest.join("more/y").is_file());
        assert_eq!(report.strip, 0);
    }
}
