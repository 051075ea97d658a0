//! The configuration file (`config::file::parse`), its grant syntax and `parse_rewrite`.
//!
//! The first byte picks what the rest of the input is:
//! - a whole TOML file (most inputs);
//! - one string value, TOML-escaped into a key of a known-good file: a plugin's grants (`read`,
//!   `write`, `fetch`, `env`), its `path`/`url`/`sha256`/`name`, a `config` value, or the
//!   top-level `debug`, `rewrite`, `pdeathsig`, `grace`, `[stayalive] limit`; this reaches the
//!   validators behind a valid TOML layer at once;
//! - a signal rewrite `FROM:TO` for `parse_rewrite` (`-r` and HOOKINIT_REWRITE).
//!
//! Properties: nothing panics; an error is one line that starts with the file's path (the file
//! may hold newlines, its message never does); a rewrite's error is one line when the value is.
#![no_main]

use std::fmt::Write as _;
use std::path::Path;

use hookinit_init::config::file::{self, FileError};
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "/etc/hookinit.toml";

/// (template, where the fuzzed string goes). `{}` is replaced by a TOML basic string.
const TEMPLATES: &[&str] = &[
    "[[plugin]]\npath = \"/p.wasm\"\nread = [{}]\n",
    "[[plugin]]\npath = \"/p.wasm\"\nwrite = [\"/ok\", {}]\n",
    "[[plugin]]\npath = \"/p.wasm\"\nfetch = [{}]\n",
    "[[plugin]]\npath = \"/p.wasm\"\nenv = [{}]\n",
    "[[plugin]]\npath = {}\n",
    "[[plugin]]\nurl = {}\nallow-unpinned = true\n",
    "[[plugin]]\nurl = \"https://h.example/p.wasm\"\nsha256 = {}\n",
    "[[plugin]]\nname = {}\npath = \"/p.wasm\"\n",
    "[[plugin]]\npath = \"/p.wasm\"\n[plugin.config]\nkey = {}\n",
    "debug = {}\n",
    "rewrite = [{}]\n",
    "pdeathsig = {}\n",
    "grace = {}\n",
    "[stayalive]\nlimit = {}\n",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // `file::load` reads with `read_to_string`: only UTF-8 reaches the parser.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mode = usize::from(mode);
    if mode < 128 {
        check_file(text);
    } else if mode - 128 < TEMPLATES.len() {
        let toml = TEMPLATES[mode - 128].replace("{}", &basic_string(text));
        check_file(&toml);
    } else {
        match file::parse_rewrite(text) {
            Ok(_) => {}
            Err(message) => {
                if !text.contains(['\n', '\r']) {
                    assert!(!message.contains('\n'), "{message:?}");
                }
            }
        }
    }
});

fn check_file(text: &str) {
    let Err(e) = file::parse(text, Path::new(ORIGIN)) else {
        return;
    };
    let message = e.to_string();
    assert!(!message.contains('\n'), "not one line: {message:?}");
    assert!(message.starts_with(ORIGIN), "{message:?}");
    if let FileError::At { line, column, .. } = e {
        // The place is in the file (a column may point just past the last character).
        let lines = text.split('\n').count();
        assert!(
            (1..=lines).contains(&line),
            "line {line} of {lines}: {message:?}"
        );
        let width = text
            .split('\n')
            .nth(line - 1)
            .map_or(0, |l| l.chars().count());
        assert!(
            (1..=width + 1).contains(&column),
            "column {column} of {width}: {message:?}"
        );
    }
}

/// `text` as a TOML basic string, every character kept.
fn basic_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
