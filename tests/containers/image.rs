//! podman images: imported from a root filesystem or built from a Containerfile.

use std::path::Path;
use std::process::Stdio;

use super::commands::{podman, run_ok};
use super::json::json_array;
use super::names::unique_name;
use super::rootfs::{HOOKINIT_IN_IMAGE, Rootfs};

/// A podman image, removed on drop.
pub struct Image {
    pub name: String,
}

impl Image {
    /// `podman import` of the root filesystem, with hookinit as ENTRYPOINT (like
    /// examples/Dockerfile.add-to-image) and `cmd` as CMD (none if empty).
    pub fn import(rootfs: &Rootfs, tag: &str, cmd: &[&str]) -> Image {
        let mut changes = vec![format!(
            "ENTRYPOINT {}",
            json_array(&[HOOKINIT_IN_IMAGE, "--"])
        )];
        if !cmd.is_empty() {
            changes.push(format!("CMD {}", json_array(cmd)));
        }
        Image::import_with(rootfs, tag, &changes)
    }

    /// `podman import` with Dockerfile instructions (`--change "CMD [...]"`).
    pub fn import_with(rootfs: &Rootfs, tag: &str, changes: &[String]) -> Image {
        let name = format!("localhost/{}:latest", unique_name(tag));
        let tar = rootfs.tarball();
        let mut import = podman();
        import.arg("import");
        for change in changes {
            import.args(["--change", change]);
        }
        import.arg(&tar).arg(&name);
        let image = Image { name };
        run_ok(&mut import);
        image
    }

    /// `podman image inspect --format FORMAT` (trimmed).
    pub fn inspect(&self, format: &str) -> String {
        run_ok(podman().args(["image", "inspect", "--format", format, &self.name]))
            .trim()
            .to_string()
    }

    /// `podman build -f CONTAINERFILE CONTEXT` with `--build-arg`s.
    pub fn build(containerfile: &Path, context: &Path, args: &[(&str, &str)], tag: &str) -> Image {
        let name = format!("localhost/{}:latest", unique_name(tag));
        let mut build = podman();
        build.arg("build").arg("-f").arg(containerfile);
        for (key, value) in args {
            build.args(["--build-arg", &format!("{key}={value}")]);
        }
        build.args(["-t", &name]).arg(context);
        let image = Image { name };
        run_ok(&mut build);
        image
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rmi", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
