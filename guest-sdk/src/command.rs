//! Helpers on [`Command`]: environment, arguments and resource limits of the main process.

use crate::{Command, ResourceLimit, RlimitResource};

impl Command {
    /// The value of environment variable `name`.
    ///
    /// ```
    /// # let cmd = hookinit_sdk::Command { program: "app".into(), args: vec![], env: vec![("HOME".into(), "/root".into())], cwd: "/".into(), limits: vec![] };
    /// assert_eq!(cmd.env("HOME"), Some("/root"));
    /// ```
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, replacing any previous value (the variable keeps its position).
    ///
    /// ```
    /// # let mut cmd = hookinit_sdk::Command { program: "app".into(), args: vec![], env: vec![], cwd: "/".into(), limits: vec![] };
    /// cmd.set_env("RUST_LOG", "debug");
    /// assert_eq!(cmd.env("RUST_LOG"), Some("debug"));
    /// ```
    pub fn set_env(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match self.env.iter().position(|(k, _)| *k == name) {
            Some(i) => {
                self.env[i].1 = value;
                let mut seen = false;
                self.env.retain(|(k, _)| {
                    let dup = *k == name && seen;
                    seen |= *k == name;
                    !dup
                });
            }
            None => self.env.push((name, value)),
        }
        self
    }

    /// Removes `name` from the environment; returns its value if it was set.
    ///
    /// ```
    /// # let mut cmd = hookinit_sdk::Command { program: "app".into(), args: vec![], env: vec![("TOKEN".into(), "x".into())], cwd: "/".into(), limits: vec![] };
    /// assert_eq!(cmd.remove_env("TOKEN").as_deref(), Some("x"));
    /// assert_eq!(cmd.env("TOKEN"), None);
    /// ```
    pub fn remove_env(&mut self, name: &str) -> Option<String> {
        let old = self.env(name).map(str::to_string);
        self.env.retain(|(k, _)| k != name);
        old
    }

    /// Adds `arg` after the existing arguments.
    pub fn push_arg(&mut self, arg: impl Into<String>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// The full argument vector, `program` first (`argv`).
    ///
    /// ```
    /// # let cmd = hookinit_sdk::Command { program: "ls".into(), args: vec!["-l".into()], env: vec![], cwd: "/".into(), limits: vec![] };
    /// assert_eq!(cmd.argv(), ["ls", "-l"]);
    /// ```
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// Runs the command through another program: `wrap("sh", ["-x"])` turns `script a b` into
    /// `sh -x script a b`.
    ///
    /// ```
    /// # let mut cmd = hookinit_sdk::Command { program: "/entry.sh".into(), args: vec!["run".into()], env: vec![], cwd: "/".into(), limits: vec![] };
    /// cmd.wrap("sh", ["-x"]);
    /// assert_eq!(cmd.argv(), ["sh", "-x", "/entry.sh", "run"]);
    /// ```
    pub fn wrap<I, S>(&mut self, program: impl Into<String>, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let old = std::mem::replace(&mut self.program, program.into());
        let mut new_args: Vec<String> = args.into_iter().map(Into::into).collect();
        new_args.push(old);
        new_args.append(&mut self.args);
        self.args = new_args;
        self
    }

    /// Sets a resource limit for the main process (replacing an earlier one for the same
    /// resource). `u64::MAX` means unlimited.
    ///
    /// ```
    /// # use hookinit_sdk::RlimitResource;
    /// # let mut cmd = hookinit_sdk::Command { program: "app".into(), args: vec![], env: vec![], cwd: "/".into(), limits: vec![] };
    /// cmd.set_limit(RlimitResource::Core, u64::MAX, u64::MAX); // allow core dumps
    /// ```
    pub fn set_limit(&mut self, kind: RlimitResource, soft: u64, hard: u64) -> &mut Self {
        self.limits.retain(|l| l.kind != kind);
        self.limits.push(ResourceLimit { kind, soft, hard });
        self
    }
}
