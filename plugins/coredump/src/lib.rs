//! coredump: collects the main process's core file, an example of an operator's plugin.
//!
//! ```text
//! DEBUG=plugin=/debug/coredump.wasm,write=/cores               # cores land in /cores
//! DEBUG=plugin=/debug/coredump.wasm,write=/cores,read=/app     # core_pattern `core`, cwd /app
//! ```
//!
//! - pre-exec: raises the main process's core size limit (`RLIMIT_CORE`), as far as the hard
//!   limit allows without privileges (`config.limit=SIZE` to cap it, e.g. `512M`).
//! - on-exit: when the main process was killed with a core dump, finds the core where the
//!   kernel's `core_pattern` put it, copies it into the granted directory with a summary
//!   (signal, program, pid, size, sha256, time) beside it, and says where they are.
//!
//! Where cores go is the kernel's business, not the container's: `core_pattern` is one setting
//! for the whole machine. A pattern that is a file name (`core`, `/var/crash/core.%e.%p`) puts
//! the core in the container's file system (a relative one in the process's working directory),
//! which this plugin can read when the operator grants that directory (`read=DIR`, or a
//! `write=DIR` that is both). A pattern starting with `|` (systemd-coredump, apport, ...) hands
//! every core to a program on the host: nothing can be collected from inside; the plugin says so
//! at start and after a crash, and still writes the summary.
//!
//! The output directory is the plugin's writable grant (`write=DIR`; the first, if several) or
//! `config.dir=DIR`. Copies go through the host's `fetch` service (a native copy, so large cores
//! are fast); the on-exit deadline (5 s by default) bounds the time a copy may take.

use std::time::{SystemTime, UNIX_EPOCH};

use hookinit_sdk::prelude::*;
use hookinit_sdk::{CoreDumpSettings, FetchOptions, RlimitResource};

#[derive(Default)]
struct Coredump {
    dir: String,
    limit: u64,
    settings: Option<CoreDumpSettings>,
}

impl Plugin for Coredump {
    const HOOKS: Hooks = Hooks::PRE_EXEC.union(Hooks::ON_EXIT);

    fn init(&mut self, config: &Config) -> Result<Hooks, String> {
        self.limit = match config.get("limit") {
            Some(v) => parse_size(v).map_err(|e| format!("config.limit={v}: {e}"))?,
            None => u64::MAX,
        };
        self.dir = match config.get("dir") {
            Some(dir) => dir.to_string(),
            None => writable_grant().ok_or(
                "no directory to write cores to: grant one with `write=DIR` \
                 (plugin=/debug/coredump.wasm,write=/cores)",
            )?,
        };
        let settings = host::core_settings();
        if let Some(helper) = settings.pattern.strip_prefix('|') {
            warn!(
                "the kernel's core_pattern sends cores to a program on the host ({}): they never \
                 reach the container and cannot be collected here; look for them on the host \
                 (coredumpctl, or that program's storage)",
                helper.split_whitespace().next().unwrap_or(helper)
            );
        } else {
            info!(
                "cores: core_pattern `{}`; collected into {}",
                settings.pattern, self.dir
            );
        }
        self.settings = Some(settings);
        Ok(Self::HOOKS)
    }

    fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
        let settings = self.settings.as_ref().ok_or("init did not run")?;
        let soft = self.limit.min(settings.limit_hard);
        cmd.set_limit(RlimitResource::Core, soft, settings.limit_hard);
        if soft < self.limit {
            warn!(
                "core size limited to the hard limit of {} bytes (raise it with \
                 `docker run --ulimit core=-1`)",
                settings.limit_hard
            );
        } else {
            info!("core size limit of the main process: {}", human_limit(soft));
        }
        Ok(cmd)
    }

    fn on_exit(&mut self, status: ExitStatus) -> ExitAction {
        if status.core_dumped()
            && let Err(e) = self.collect(&status)
        {
            error!("{e}");
        }
        ExitAction::Propagate
    }
}

export_plugin!(Coredump);

impl Coredump {
    fn collect(&self, status: &ExitStatus) -> Result<(), String> {
        let settings = self.settings.as_ref().ok_or("init did not run")?;
        let pid = host::main_pid().unwrap_or(0);
        let cmd = host::main_command();
        let program = cmd.as_ref().map_or("?".to_string(), |c| c.program.clone());
        let argv = cmd.as_ref().map_or(String::new(), |c| c.argv().join(" "));
        let cwd = cmd.as_ref().map_or("/".to_string(), |c| c.cwd.clone());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let short = basename(&program);
        let stem = format!("{}/core.{short}.{pid}.{now}", self.dir);
        let mut summary = vec![
            format!("program: {program}"),
            format!("argv: {argv}"),
            format!("pid: {pid}"),
            format!("status: {status}"),
            format!("signal: {}", status.signal().map_or(0, |s| s.0)),
            format!("time: {} ({now})", rfc3339(now)),
            format!("core_pattern: {}", settings.pattern),
        ];
        let result = if let Some(helper) = settings.pattern.strip_prefix('|') {
            let helper = helper.split_whitespace().next().unwrap_or(helper);
            summary.push(format!(
                "core: not collected: the kernel piped it to {helper} on the host"
            ));
            println!(
                "main process {status}: the core went to {helper} on the host (core_pattern is a \
                 pipe) and cannot be collected from the container; summary in {stem}.txt"
            );
            Ok(())
        } else {
            match self.copy_core(settings, pid, status, &cwd, &stem) {
                Ok(line) => {
                    summary.extend(line.lines().map(str::to_string));
                    Ok(())
                }
                Err(e) => {
                    summary.push(format!("core: not collected: {e}"));
                    Err(format!(
                        "main process {status}, but its core was not collected: {e}"
                    ))
                }
            }
        };
        summary.push(String::new());
        let file = format!("{stem}.txt");
        std::fs::write(&file, summary.join("\n"))
            .map_err(|e| format!("cannot write {file}: {e}"))?;
        result
    }

    /// Finds the core and copies it to `STEM.core`; returns the summary lines about it.
    fn copy_core(
        &self,
        settings: &CoreDumpSettings,
        pid: u32,
        status: &ExitStatus,
        cwd: &str,
        stem: &str,
    ) -> Result<String, String> {
        let signal = status.signal().map_or(0, |s| s.0);
        let mut pattern = expand(&settings.pattern, pid, signal);
        if settings.uses_pid && !settings.pattern.contains("%p") {
            pattern.push_str(&format!(".{pid}"));
        }
        let full = if pattern.starts_with('/') {
            pattern
        } else {
            format!("{}/{pattern}", cwd.trim_end_matches('/'))
        };
        let (dir, name) = full.rsplit_once('/').unwrap_or(("/", &full));
        let dir = if dir.is_empty() { "/" } else { dir };
        if dir.contains('\0') {
            return Err(format!(
                "core_pattern `{}` puts cores in a directory named after the process; \
                 look for it there",
                settings.pattern
            ));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| {
            format!(
                "cannot look for it in {dir} ({e}); grant that directory to the plugin with \
                 `read={dir}`"
            )
        })?;
        let mut best: Option<(SystemTime, String, u64)> = None;
        for entry in entries.flatten() {
            let Some(file) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !glob(name, &file) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(UNIX_EPOCH);
            if meta.is_file() && best.as_ref().is_none_or(|(t, _, _)| modified > *t) {
                best = Some((modified, file, meta.len()));
            }
        }
        let (_, file, size) = best.ok_or_else(|| {
            format!(
                "no file matching `{}` in {dir} (core_pattern `{}`; was the process's working \
                 directory writable?)",
                name.replace('\0', "*"),
                settings.pattern
            )
        })?;
        let source = format!("{}/{file}", dir.trim_end_matches('/'));
        let dest = format!("{stem}.core");
        let options = FetchOptions {
            sha256: None,
            timeout_ms: None,
            max_bytes: Some(u64::MAX),
        };
        let report = host::fetch_to_file(&source, &dest, &options)
            .map_err(|e| format!("copying {source}: {e}"))?;
        println!(
            "main process {status}: core ({} bytes) copied from {source} to {dest}, summary in \
             {stem}.txt",
            report.bytes
        );
        Ok(format!(
            "core: {dest}\ncore_source: {source}\ncore_size: {size}\ncore_sha256: {}",
            report.sha256
        ))
    }
}

/// The first directory the plugin may write to (a WASI preopen opened for writing).
fn writable_grant() -> Option<String> {
    use wasi::filesystem::types::DescriptorFlags;
    wasi::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(dir, _)| {
            dir.get_flags().is_ok_and(|f| {
                f.contains(DescriptorFlags::MUTATE_DIRECTORY) || f.contains(DescriptorFlags::WRITE)
            })
        })
        .map(|(_, path)| path)
}

/// A core_pattern with what is known substituted and what is not (`%t`, `%e`, `%h`, ...) as a
/// NUL, the wildcard of [`glob`].
pub fn expand(pattern: &str, pid: u32, signal: u8) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('p') => out.push_str(&pid.to_string()),
            Some('s') => out.push_str(&signal.to_string()),
            Some(_) => out.push('\0'),
            None => {}
        }
    }
    out
}

/// Whether `name` matches `pattern`, where NUL matches any run of characters.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('\0').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    name.len() >= first.len() + last.len()
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `1024`, `512K`, `64M`, `2G`, or `unlimited`.
pub fn parse_size(v: &str) -> Result<u64, String> {
    if v.eq_ignore_ascii_case("unlimited") {
        return Ok(u64::MAX);
    }
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a size such as 512M, or `unlimited`".to_string())?;
    let shift = match v[digits.len()..].to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KIB" => 10,
        "M" | "MIB" => 20,
        "G" | "GIB" => 30,
        _ => return Err("unknown unit: use K, M or G".into()),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_string())
}

fn human_limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".to_string()
    } else {
        format!("{v} bytes")
    }
}

/// `2024-05-01T12:00:00Z` for a Unix time.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(expand("core", 7, 6), "core");
        assert_eq!(expand("/c/core.%e.%p.%s.%%", 7, 6), "/c/core.\0.7.6.%");
        assert!(glob("core.\0.7", "core.sh.7"));
        assert!(!glob("core.\0.7", "core.sh.77"));
        assert!(glob("core", "core"));
        assert!(!glob("core", "core.1"));
        assert!(glob("\0", "anything"));
    }

    #[test]
    fn times_and_sizes() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("unlimited"), Ok(u64::MAX));
        assert!(parse_size("x").is_err());
    }
}
