//! The grammar's words: each option and sub-option with its name for the parser, how it is
//! written and what it does, for `hookinit --help`, and where a sub-option belongs.

/// A word of the grammar: its name for the parser, how it is written and what it does for
/// `hookinit --help` ([`help`]), so that the two cannot drift apart.
pub struct Word {
    pub name: &'static str,
    pub form: &'static str,
    pub help: &'static str,
}

const fn word(name: &'static str, form: &'static str, help: &'static str) -> Word {
    Word { name, form, help }
}

pub const OPTIONS: [Word; 4] = [
    word(
        "verbose",
        "verbose",
        "trace entrypoint scripts (set -x) and log every lifecycle step",
    ),
    word(
        "stayalive",
        "stayalive[=always|=DURATION]",
        "stay up after the main process fails, for `docker exec`; always: after a success too; DURATION: that long at most",
    ),
    word(
        "fstree",
        "fstree=SOURCE",
        "unpack a tar (gz, xz, zst) or zip over / before the main process starts; SOURCE: an http, https or file URL, or a path",
    ),
    word(
        "plugin",
        "plugin=SOURCE",
        "run an operator's WebAssembly plugin; SOURCE: a path or an http/https URL",
    ),
];
pub const FSTREE_SUBS: [Word; 5] = [
    word(
        "strip",
        "strip=N",
        "drop N leading folders of every entry (without it, a single top folder holding everything is dropped)",
    ),
    word(
        "sha256",
        "sha256=HEX",
        "refuse the archive unless its sha256 is HEX",
    ),
    word("dest", "dest=DIR", "unpack under DIR instead of /"),
    word(
        "max-size",
        "max-size=SIZE",
        "refuse an archive that unpacks to more than SIZE (512K, 2G; default 1G)",
    ),
    word(
        "timeout",
        "timeout=DURATION",
        "give up a download that takes longer (default 5m)",
    ),
];
pub const PLUGIN_SUBS: [Word; 7] = [
    word(
        "sha256",
        "sha256=HEX",
        "the component's sha256: required for a URL, checked for a path",
    ),
    word(
        "unpinned",
        "unpinned",
        "run whatever the URL serves, without a sha256",
    ),
    word(
        "required",
        "required",
        "do not start the main process unless this plugin loads and its pre-exec succeeds",
    ),
    word(
        "read",
        "read=DIR",
        "let the plugin read DIR (repeatable, like the grants below)",
    ),
    word("write", "write=DIR", "let the plugin read and write DIR"),
    word(
        "fetch",
        "fetch=HOST[:PORT]",
        "let the plugin download from HOST (any port; with :PORT that one, 443 matching https:// URLs without a port); *.DOMAIN grants DOMAIN's subdomains",
    ),
    word(
        "env",
        "env=NAME",
        "let the plugin see the environment variable NAME",
    ),
];
pub(super) const CONFIG_PREFIX: &str = "config.";
/// `config.KEY=VALUE`, for `--help`: not in [`PLUGIN_SUBS`] as its name is a prefix.
const CONFIG_WORD: Word = word(
    "config.",
    "config.KEY=VALUE",
    "hand KEY=VALUE to the plugin's init (repeatable)",
);

pub(super) fn is_one_of(words: &[Word], name: &str) -> bool {
    words.iter().any(|w| w.name == name)
}

/// The DEBUG options and sub-options with what each does, for `hookinit --help`.
pub fn help() -> String {
    // Wrapped here, to under clap's 100 columns, with the description column kept.
    const FORM: usize = 32;
    const WIDTH: usize = 96 - FORM - 3;
    let mut text = String::new();
    let mut line = |indent: usize, w: &Word| {
        let mut form = format!("{:indent$}{}", "", w.form);
        let mut current = String::new();
        for word in w.help.split(' ') {
            if !current.is_empty() && current.len() + 1 + word.len() > WIDTH {
                text.push_str(&format!("  {form:<FORM$} {current}\n"));
                form.clear();
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        text.push_str(&format!("  {form:<FORM$} {current}\n"));
    };
    for option in &OPTIONS {
        line(0, option);
        let subs: &[Word] = match option.name {
            "fstree" => &FSTREE_SUBS,
            "plugin" => &PLUGIN_SUBS,
            _ => &[],
        };
        for sub in subs {
            line(2, sub);
        }
        if option.name == "plugin" {
            line(2, &CONFIG_WORD);
        }
    }
    text
}

/// Where a sub-option belongs, when `name` is one: (parent, example).
pub(super) fn sub_option_home(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "sha256" => Some((
            "`fstree=SOURCE` or `plugin=SOURCE`",
            "plugin=https://host/x.wasm,sha256=HEX",
        )),
        "strip" => Some(("`fstree=SOURCE`", "fstree=https://host/tree.tgz,strip=1")),
        "dest" => Some(("`fstree=SOURCE`", "fstree=https://host/tree.tgz,dest=/srv")),
        "max-size" => Some((
            "`fstree=SOURCE`",
            "fstree=https://host/tree.tgz,max-size=2G",
        )),
        "timeout" => Some((
            "`fstree=SOURCE`",
            "fstree=https://host/tree.tgz,timeout=30s",
        )),
        "read" => Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,read=/etc")),
        "write" => Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,write=/cores")),
        "fetch" => Some((
            "`plugin=SOURCE`",
            "plugin=/debug/x.wasm,fetch=example.com:443",
        )),
        "env" => Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,env=HOME")),
        "unpinned" => Some(("`plugin=SOURCE`", "plugin=https://host/x.wasm,unpinned")),
        "required" => Some(("`plugin=SOURCE`", "plugin=/debug/guard.wasm,required")),
        _ if name.starts_with(CONFIG_PREFIX) => {
            Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,config.limit=1G"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_word_within_100_columns_and_every_sub_option_has_a_home() {
        let text = help();
        for word in OPTIONS.iter().chain(&FSTREE_SUBS).chain(&PLUGIN_SUBS) {
            assert!(text.contains(word.form), "{}", word.form);
        }
        // Out of its place, every sub-option is told where it belongs.
        for sub in FSTREE_SUBS.iter().chain(&PLUGIN_SUBS) {
            assert!(sub_option_home(sub.name).is_some(), "{}", sub.name);
        }
        assert!(text.contains(CONFIG_WORD.form));
        assert!(text.lines().all(|l| l.chars().count() < 100), "{text}");
    }
}
