//! The automatic strip: one level, only for the shape of a source archive as GitHub and GitLab
//! serve it, a single top folder named `NAME-REF` (`hookinit-main/`, `app-v1.2.0/`,
//! `tool-0a1b2c3/`) holding everything. Any other single folder is kept: an archive of `app/x`
//! unpacks to `/app/x`, of `etc/hosts` to `/etc/hosts`. `strip=N` says otherwise explicitly.

/// Watches entry names for a single shared top folder.
#[derive(Default)]
pub(crate) struct TopDir {
    name: Option<Vec<u8>>,
    several: bool,
    nested: bool,
}

/// The strip level an unpack applies, and whether it was decided here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Strip {
    pub(crate) levels: u32,
    /// The top folder stripped automatically (`None`: `strip=N` was given, or nothing stripped).
    pub(crate) wrapper: Option<String>,
}

impl Strip {
    /// `explicit` if given, else what the archive's names call for.
    pub(crate) fn decide(explicit: Option<u32>, top: &TopDir) -> Strip {
        match (explicit, top.wrapper()) {
            (Some(levels), _) => Strip {
                levels,
                wrapper: None,
            },
            (None, Some(name)) => Strip {
                levels: 1,
                wrapper: Some(String::from_utf8_lossy(name).into_owned()),
            },
            (None, None) => Strip {
                levels: 0,
                wrapper: None,
            },
        }
    }
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

    /// The one top folder, if it holds everything and is named like a source archive's.
    fn wrapper(&self) -> Option<&[u8]> {
        let name = self.name.as_deref()?;
        (!self.several && self.nested && is_name_ref(name)).then_some(name)
    }
}

/// `NAME-REF`: a name and a ref (branch, tag or commit) joined by a hyphen, both non-empty.
/// No directory of a root filesystem (`etc`, `usr`, ...) has that shape.
fn is_name_ref(name: &[u8]) -> bool {
    let text = String::from_utf8_lossy(name);
    text.split_once('-')
        .is_some_and(|(name, reference)| !name.is_empty() && !reference.is_empty())
        && !text.ends_with('-')
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
    fn a_top_folder_not_named_like_a_source_archive_is_kept() {
        // Issue 19: a fix archive of `app/hello.txt` landed at `/hello.txt`.
        let sb = Sandbox::new();
        let items = [Dir("app/"), File("app/hello.txt", b"hi", 0o644)];
        let report = sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        assert!(sb.dest.join("app/hello.txt").is_file());
        assert_eq!((report.strip, &report.auto_stripped), (0, &None));
        assert!(report.to_string().contains("strip 0,"), "{report}");
    }

    #[test]
    fn the_automatic_strip_is_named_in_the_summary() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&tar_of(&github_items()), &defaults())
            .expect("unpack");
        assert_eq!(report.auto_stripped.as_deref(), Some("repo-main"));
        let line = report.to_string();
        assert!(
            line.contains("strip 1: the archive's one top folder `repo-main/`"),
            "{line}"
        );
    }

    #[test]
    fn name_ref_shapes() {
        for yes in [
            "repo-main",
            "hookinit-v1.2.0",
            "tool-0a1b2c3",
            "my-app-feature-x",
        ] {
            assert!(super::is_name_ref(yes.as_bytes()), "{yes}");
        }
        for no in ["app", "etc", "-main", "repo-", "usr", ""] {
            assert!(!super::is_name_ref(no.as_bytes()), "{no}");
        }
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
