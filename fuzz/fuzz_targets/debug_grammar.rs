//! The DEBUG grammar (`config::debug::parse`) on any text.
//!
//! Properties:
//! - `parse` never panics;
//! - its error and its notice are one line when the value is (the value of an environment
//!   variable may hold a newline; then the message may too, since it quotes the value);
//! - an error names no source (the caller puts `DEBUG:`, `HOOKINIT_DEBUG:`... in front);
//! - round trip: a parsed spec written back as DEBUG text parses to the same spec.
#![no_main]

use hookinit_init::config::debug::{self, DebugOption, DebugSpec};
use hookinit_init::config::plan::PluginSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The environment reaches the parser through `to_string_lossy`: any bytes are possible.
    let value = String::from_utf8_lossy(data);
    let one_line = !value.contains(['\n', '\r']);
    match debug::parse(&value) {
        Ok(spec) => {
            if let Some(notice) = spec.ignored_notice()
                && one_line
            {
                assert!(!notice.contains('\n'), "notice: {notice:?}");
            }
            let text = write(&spec);
            let again = debug::parse(&text)
                .unwrap_or_else(|e| panic!("{value:?} parsed, its rewrite {text:?} did not: {e}"));
            assert_eq!(again, spec, "{value:?} -> {text:?}");
        }
        Err(e) => {
            let message = e.to_string();
            if one_line {
                assert!(!message.contains('\n'), "error: {message:?}");
            }
            assert!(!message.starts_with("DEBUG"), "{message:?}");
        }
    }
});

/// The DEBUG text of a spec: words that are not ours first (they stay not ours wherever they
/// stand, and first they cannot be glued onto a value), then the options in order.
fn write(spec: &DebugSpec) -> String {
    let mut words: Vec<String> = spec.ignored.clone();
    for option in &spec.options {
        match option {
            DebugOption::Verbose => words.push("verbose".into()),
            DebugOption::StayAlive(stay) => words.push(match (stay.after_success, stay.limit) {
                (false, None) => "stayalive".into(),
                (true, None) => "stayalive=always".into(),
                (false, Some(limit)) => {
                    format!("stayalive={}s{}ns", limit.as_secs(), limit.subsec_nanos())
                }
                (true, Some(_)) => panic!("DEBUG cannot say stayalive always with a limit"),
            }),
            DebugOption::Fstree(plugin) => {
                for (key, value) in &plugin.config {
                    words.push(match key.as_str() {
                        "source" => format!("fstree={value}"),
                        // Kept in milliseconds, written as a duration.
                        "timeout" => format!("timeout={value}ms"),
                        _ => format!("{key}={value}"),
                    });
                }
            }
            DebugOption::Plugin(plugin) => {
                words.push(match &plugin.source {
                    PluginSource::Path(path) => format!("plugin={}", path.display()),
                    PluginSource::Url(url) => format!("plugin={url}"),
                    PluginSource::Builtin(b) => panic!("plugin= made a built-in {b:?}"),
                });
                if let Some(sha) = &plugin.sha256 {
                    words.push(format!("sha256={sha}"));
                }
                if plugin.allow_unpinned {
                    words.push("unpinned".into());
                }
                let grants = &plugin.grants;
                words.extend(grants.read.iter().map(|d| format!("read={}", d.display())));
                words.extend(
                    grants
                        .write
                        .iter()
                        .map(|d| format!("write={}", d.display())),
                );
                words.extend(grants.fetch.iter().map(|h| format!("fetch={h}")));
                words.extend(grants.env.iter().map(|n| format!("env={n}")));
                words.extend(plugin.config.iter().map(|(k, v)| format!("config.{k}={v}")));
            }
        }
    }
    words.join(",")
}
