//! stayalive: when the main process crashed (and nobody asked the container to stop), PID 1 stays
//! up so that `docker exec -it CTR sh` can look at the crash state.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::config::plan::StayAlive;

use super::status::Ended;

/// The seed's rule, with its bugs fixed: stay after a failure unless a stop was requested;
/// `stayalive=always` stays after success too; a stop request never stays.
pub fn should_stay(policy: Option<&StayAlive>, ended: Ended, stop_requested: bool) -> bool {
    match policy {
        Some(policy) if !stop_requested => ended.failed() || policy.after_success,
        _ => false,
    }
}

/// Prints the banner. Always printed, whatever the verbosity: it is the reason stayalive exists.
/// `ctl` says whether `hookinit ctl` is served (then the banner says how to try again).
pub fn banner(what: &str, code: i32, limit: Option<Duration>, env_file: Option<&Path>, ctl: bool) {
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    // The id the runtime knows the container by; the host name only when there is none to be
    // found (it is the id's prefix unless `--hostname` changed it).
    let host = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|mounts| container_id(&mounts))
        .or_else(|| nix::unistd::gethostname().ok()?.into_string().ok())
        .unwrap_or_else(|| "CONTAINER".into());
    let mut lines = vec![
        format!("{what} at {when}"),
        "stayalive: staying up so that you can look around; processes are still reaped".to_string(),
        format!("  get a shell:  docker exec -it {host} sh    (kubectl exec -it POD -- sh)"),
    ];
    if let Some(env_file) = env_file {
        lines.push(format!("  its environment:  . {}", env_file.display()));
    }
    if ctl {
        // The path inside the container: the image may not have hookinit on PATH.
        let me = std::env::current_exe().unwrap_or_else(|_| "hookinit".into());
        lines.push(format!(
            "  try again once fixed:  docker exec {host} {} ctl restart",
            me.display()
        ));
    }
    let end = match limit {
        Some(limit) => format!(" (or wait {})", humantime::format_duration(limit)),
        None => String::new(),
    };
    lines.push(format!(
        "  end it:  docker stop {host}{end}; hookinit then exits with status {code}"
    ));
    let mut out = String::new();
    for line in lines {
        out.push_str("hookinit: ");
        out.push_str(&line);
        out.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// The container's id as Docker and podman show it (12 hex digits), from the source of the
/// `/etc/hostname` they bind-mount: `.../containers/<64 hex>/hostname` (Docker),
/// `.../overlay-containers/<64 hex>/userdata/hostname` (podman).
fn container_id(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.get(4) != Some(&"/etc/hostname") {
            return None;
        }
        let root = fields.get(3)?;
        root.split('/')
            .find(|part| part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|id| id[..12].to_owned())
    })
}

/// Quotes a value for a POSIX shell: single quotes, with embedded `'` written as `'\''`.
pub fn shell_quote(value: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'\'');
    for &b in value.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

fn is_shell_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Renders `export NAME='value'` lines. Names a shell cannot export are left out, with a comment.
/// Variables that bash sets itself and refuses to have assigned.
const BASH_READONLY: [&str; 6] = [
    "SHELLOPTS",
    "BASHOPTS",
    "BASH_VERSINFO",
    "EUID",
    "PPID",
    "UID",
];

pub fn render_env(env: &[(OsString, OsString)]) -> Vec<u8> {
    let mut out =
        b"# written by hookinit: the environment the main process was started with\n".to_vec();
    for (name, value) in env {
        if BASH_READONLY
            .iter()
            .any(|r| name.as_bytes() == r.as_bytes())
        {
            // `verbose` traces bash through SHELLOPTS: assigning it when the file is sourced
            // would fail in bash ("readonly variable").
            out.extend_from_slice(b"# skipped ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": bash keeps it read-only\n");
        } else if is_shell_name(name) {
            out.extend_from_slice(b"export ");
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(&shell_quote(value));
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"# skipped a variable whose name is not a shell name\n");
        }
    }
    out
}

/// Writes the environment file, readable by its owner only (it may hold secrets), into the run
/// directory ([`crate::run_dir`]): created with `O_EXCL|O_NOFOLLOW` beside the directory's fd,
/// then renamed.
pub fn write_env_file(path: &Path, env: &[(OsString, OsString)]) -> std::io::Result<()> {
    use nix::fcntl::{OFlag, openat, renameat};
    use nix::sys::stat::Mode;
    use nix::unistd::{UnlinkatFlags, unlinkat};
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::other("not a file path"));
    };
    let dir_fd = crate::run_dir::open(dir)?;
    let tmp = format!("{}.tmp", name.to_string_lossy());
    let file_flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let create = || {
        openat(
            &dir_fd,
            tmp.as_str(),
            file_flags,
            Mode::from_bits_truncate(0o600),
        )
    };
    let fd = match create() {
        // Left by an earlier write that did not finish: ours, since the directory is.
        Err(nix::errno::Errno::EEXIST) => {
            unlinkat(&dir_fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir)?;
            create()?
        }
        other => other?,
    };
    let mut file = std::fs::File::from(fd);
    file.write_all(&render_env(env))?;
    drop(file);
    renameat(&dir_fd, tmp.as_str(), &dir_fd, name)?;
    Ok(())
}

/// Writes the failure reason where Kubernetes looks for it, if the file is there.
pub fn write_termination_log(path: &Path, what: &str) {
    if !path.exists() {
        return;
    }
    let reason = format!("hookinit: {what}\n");
    if let Err(err) = std::fs::write(path, reason) {
        crate::warn!("could not write {}: {err}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn stay_only_after_an_unrequested_failure() {
        let policy = StayAlive::default();
        let crash = Ended::Exited(3);
        assert!(should_stay(Some(&policy), crash, false));
        assert!(!should_stay(Some(&policy), crash, true));
        assert!(!should_stay(Some(&policy), Ended::Exited(0), false));
        assert!(!should_stay(None, crash, false));
        let always = StayAlive {
            after_success: true,
            limit: None,
        };
        assert!(should_stay(Some(&always), Ended::Exited(0), false));
        assert!(!should_stay(Some(&always), Ended::Exited(0), true));
    }

    #[test]
    fn the_banner_names_the_container_by_its_id() {
        let id = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f";
        let docker = format!(
            "612 590 254:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id(&docker).as_deref(), Some("3f4e5a6b7c8d"));
        let podman = format!(
            "1 2 0:5 /containers/storage/overlay-containers/{id}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n"
        );
        assert_eq!(container_id(&podman).as_deref(), Some("3f4e5a6b7c8d"));
        assert_eq!(container_id("1 2 0:5 / / rw - ext4 /dev/vda1 rw\n"), None);
    }

    #[test]
    fn env_file_is_written_only_into_a_directory_of_hookinits_own() {
        use std::os::unix::fs::PermissionsExt;
        let vars = env(&[("A", "1")]);
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("canary");
        std::fs::write(&canary, "untouched").unwrap();
        // Ours, with a link planted at the temporary name: replaced, never followed.
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&canary, run.join("env.tmp")).unwrap();
        write_env_file(&run.join("env"), &vars).unwrap();
        assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
        assert!(
            std::fs::read_to_string(run.join("env"))
                .unwrap()
                .contains("export A='1'")
        );
        // Writable by others, owned by someone else, or a symlink: refused, nothing written.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = write_env_file(&open.join("env"), &vars)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode 1777"), "{e}");
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(4242)), None).unwrap();
        let e = write_env_file(&theirs.join("env"), &vars)
            .unwrap_err()
            .to_string();
        assert!(e.contains("owned by uid 4242"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        let e = write_env_file(&link.join("env"), &vars)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a symlink"), "{e}");
        assert!(!open.join("env").exists());
    }

    #[test]
    fn env_file_round_trips_through_a_shell() {
        let vars = env(&[
            ("PLAIN", "x"),
            ("SPACES", "a b  c"),
            ("QUOTES", "it's \"q\" $HOME `id` \\n"),
            ("NEWLINE", "line1\nline2"),
            ("1BAD", "skipped"),
            ("PS4", "+${BASH_SOURCE}:${LINENO}: "),
            ("SHELLOPTS", "xtrace"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/env");
        write_env_file(&path, &vars).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        for (name, value) in &vars[..4] {
            let script = format!(
                ". {}; printf '%s' \"${}\"",
                path.display(),
                name.to_str().unwrap()
            );
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert_eq!(out.stdout, value.as_bytes(), "{name:?}");
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(". {}; printf '%s' \"$PS4\"", path.display()))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"+${BASH_SOURCE}:${LINENO}: ");
        // bash sources it without complaint although SHELLOPTS (set by verbose) is read-only.
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(". {} && echo sourced", path.display()))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"sourced\n");
        assert_eq!(out.stderr, b"", "{}", String::from_utf8_lossy(&out.stderr));
    }
}
