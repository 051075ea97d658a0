//! The configuration handed to [`Plugin::init`](crate::Plugin::init).

/// The plugin's `config.KEY=VALUE` options (DEBUG or the TOML file), in the order given.
///
/// ```
/// use hookinit_sdk::Config;
/// let config = Config::new(vec![("mode".into(), "strict".into()), ("limit".into(), "5".into())]);
/// assert_eq!(config.get("mode"), Some("strict"));
/// assert_eq!(config.parse::<u32>("limit"), Ok(Some(5)));
/// assert!(config.require("missing").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// Wraps key/value pairs (the host hands them to `init` this way).
    pub fn new(entries: Vec<(String, String)>) -> Config {
        Config { entries }
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `key`, in order (for options that may repeat).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error that says which key is missing.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("missing configuration `config.{key}=...`"))
    }

    /// The value of `key` parsed as `T`; `Ok(None)` when absent, an error naming the key when
    /// it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| format!("config.{key}={v}: {e}")),
        }
    }

    /// All pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// No configuration at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
