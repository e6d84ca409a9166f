//! `${env:NAME}` and `${polyclaw:…}` references in config values, resolved host-side before
//! anything starts: `bin_dir` (the running polyclaw binary's folder), `cwd` (the folder polyclaw
//! was started in), `state_dir` (where polyclaw keeps its state) and `user` (polyclaw's own
//! `UID:GID`, e.g. for a container that writes into a mounted folder of the user's). A missing variable is an error that names it; nothing is ever
//! resolved to an empty string silently.

use std::collections::BTreeMap;

/// Resolves references against a snapshot of variables.
#[derive(Debug, Clone, Default)]
pub struct Interpolator {
    /// Environment variables visible to `${env:NAME}`.
    env: BTreeMap<String, String>,
    /// The folder of the running polyclaw binary, for `${polyclaw:bin_dir}`.
    bin_dir: Option<String>,
    /// Secrets from the `secrets_file`, looked up after the environment.
    secrets: BTreeMap<String, String>,
    /// `${polyclaw:cwd}`, `${polyclaw:state_dir}`, `${polyclaw:user}`.
    places: BTreeMap<&'static str, String>,
}

impl Interpolator {
    /// Uses the process environment and the current executable's folder.
    #[must_use]
    pub fn from_env() -> Self {
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_string_lossy().into_owned()));
        let mut places = BTreeMap::new();
        if let Ok(cwd) = std::env::current_dir() {
            places.insert("cwd", cwd.to_string_lossy().into_owned());
        }
        if let Some(user) = own_user() {
            places.insert("user", user);
        }
        Self {
            env: std::env::vars().collect(),
            bin_dir,
            secrets: BTreeMap::new(),
            places,
        }
    }

    /// For a server definition that comes from an MCP client (`polyclaw__add_server`): no
    /// `${env:..}` (the client must not read polyclaw's environment into a server it
    /// controls), no secrets; only polyclaw's places.
    #[must_use]
    pub fn for_clients() -> Self {
        Self {
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            ..Self::from_env()
        }
    }

    /// Sets `${polyclaw:state_dir}`.
    #[must_use]
    pub fn with_state_dir(mut self, dir: String) -> Self {
        self.places.insert("state_dir", dir);
        self
    }

    /// Whether `${polyclaw:state_dir}` is set.
    #[must_use]
    pub fn has_state_dir(&self) -> bool {
        self.places.contains_key("state_dir")
    }

    /// Uses the given variables (tests).
    #[must_use]
    pub fn with_vars(env: BTreeMap<String, String>, bin_dir: Option<String>) -> Self {
        Self {
            env,
            bin_dir,
            secrets: BTreeMap::new(),
            places: BTreeMap::from([
                ("cwd", "/work".to_string()),
                ("user", "1000:1000".to_string()),
            ]),
        }
    }

    /// Adds secrets read from a secrets file.
    #[must_use]
    pub fn with_secrets(mut self, secrets: BTreeMap<String, String>) -> Self {
        self.secrets = secrets;
        self
    }

    /// A secret's value: the environment first, then the secrets file.
    #[must_use]
    pub fn secret(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .or_else(|| self.secrets.get(name))
            .cloned()
    }

    /// Replaces every reference in `value`. `$$` stands for a literal `$`.
    ///
    /// # Errors
    /// A sentence naming the missing variable or the malformed reference and the fix.
    pub fn resolve(&self, value: &str) -> Result<String, String> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$$") {
                out.push('$');
                rest = after;
                continue;
            }
            let Some(body) = tail.strip_prefix("${") else {
                out.push('$');
                rest = &tail[1..];
                continue;
            };
            let Some(end) = body.find('}') else {
                return Err(format!(
                    "`{tail}` opens a reference with `${{` but never closes it with `}}`"
                ));
            };
            let reference = &body[..end];
            out.push_str(&self.lookup(reference)?);
            rest = &body[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(&self, reference: &str) -> Result<String, String> {
        if let Some(name) = reference.strip_prefix("env:") {
            return self.env.get(name).cloned().ok_or_else(|| {
                format!(
                    "uses `${{env:{name}}}` but the environment variable {name} is not set; \
                     export it before starting polyclaw"
                )
            });
        }
        if reference == "polyclaw:bin_dir" {
            return self.bin_dir.clone().ok_or_else(|| {
                "uses `${polyclaw:bin_dir}` but the polyclaw binary's folder is unknown".to_string()
            });
        }
        if let Some(place) = reference.strip_prefix("polyclaw:")
            && let Some(key) = ["cwd", "state_dir", "user"]
                .into_iter()
                .find(|k| *k == place)
        {
            return self.places.get(key).cloned().ok_or_else(|| {
                format!("uses `${{polyclaw:{key}}}` but polyclaw cannot tell its {key} here")
            });
        }
        Err(format!(
            "`${{{reference}}}` is not a known reference; use `${{env:NAME}}` or `${{polyclaw:bin_dir}}`, \
             `${{polyclaw:cwd}}`, `${{polyclaw:state_dir}}`, `${{polyclaw:user}}` (write `$$` for a literal `$`)"
        ))
    }
}

/// `UID:GID` of this process, read from `/proc/self/status`.
fn own_user() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    };
    Some(format!("{}:{}", field("Uid:")?, field("Gid:")?))
}
