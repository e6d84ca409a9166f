//! The served directory and the one way to turn a caller's path into a real
//! path: [`Root::resolve`], which refuses anything that leaves the root.
//!
//! A path is taken relative to the root (`""` and `"."` are the root
//! itself); an absolute path is accepted only when it lies under the root
//! (so `/etc/passwd` is refused, not read as `ROOT/etc/passwd`).
//! `..` is applied lexically and may not climb above the root. The result is
//! then resolved through the file system (`canonicalize`): a symlink whose
//! target lies outside the root is refused, as is a dangling one. For a path
//! that does not exist yet (`write_file`), its deepest existing ancestor is
//! checked the same way and the missing components are plain names.

use std::{
    io,
    path::{Component, Path, PathBuf},
};

/// The root directory, canonical.
#[derive(Debug)]
pub struct Root {
    dir: PathBuf,
    /// The root as given (made absolute): absolute paths may use this
    /// spelling even when it is not canonical (e.g. `/data` → `/mnt/data`).
    given: PathBuf,
}

impl Root {
    /// Opens `dir`, which must be an existing directory.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let given = std::path::absolute(dir)
            .map_err(|err| anyhow::anyhow!("root {}: {err}", dir.display()))?;
        let canonical = dir
            .canonicalize()
            .map_err(|err| anyhow::anyhow!("root {}: {err}", dir.display()))?;
        if !canonical.is_dir() {
            anyhow::bail!("root {} is not a directory", dir.display());
        }
        Ok(Self {
            dir: canonical,
            given,
        })
    }

    /// The canonical root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `real` (a path under the root) relative to the root, `/`-separated;
    /// `"."` for the root itself.
    pub fn relative(&self, real: &Path) -> String {
        match real.strip_prefix(&self.dir) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => real.to_string_lossy().into_owned(),
        }
    }

    /// Resolves a caller's path to a real path under the root (which may not
    /// exist yet), or explains why it is refused.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        if path.contains('\0') {
            return Err("path contains a NUL byte".to_owned());
        }
        let requested = Path::new(path);
        let relative = if requested.is_absolute() {
            requested
                .strip_prefix(&self.dir)
                .or_else(|_| requested.strip_prefix(&self.given))
                .map_err(|_| {
                    let relative = path.trim_start_matches('/');
                    let example = if relative.is_empty() { "." } else { relative };
                    format!(
                        "{path} is outside the root {}: give a path relative to the root \
                         (e.g. \"{example}\") or an absolute path under it",
                        self.dir.display()
                    )
                })?
        } else {
            requested
        };
        let mut normal = PathBuf::new();
        for component in relative.components() {
            match component {
                Component::Normal(name) => normal.push(name),
                Component::CurDir | Component::RootDir => {}
                Component::ParentDir => {
                    if !normal.pop() {
                        return Err(format!(
                            "{path} leaves the root {} through \"..\": paths must stay under the root",
                            self.dir.display()
                        ));
                    }
                }
                Component::Prefix(_) => return Err(format!("{path}: unsupported path prefix")),
            }
        }
        let joined = self.dir.join(&normal);
        match joined.canonicalize() {
            Ok(real) => self.inside(path, real),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.resolve_missing(path, &joined)
            }
            Err(err) => Err(format!("{path}: {err}")),
        }
    }

    /// `joined` does not exist (or is a dangling symlink): check its deepest
    /// existing ancestor and append the missing names.
    fn resolve_missing(&self, path: &str, joined: &Path) -> Result<PathBuf, String> {
        for ancestor in joined.ancestors() {
            if ancestor.symlink_metadata().is_err() {
                continue;
            }
            let real = ancestor.canonicalize().map_err(|err| {
                if err.kind() == io::ErrorKind::NotFound {
                    format!("{path}: {} is a dangling symlink", self.relative(ancestor))
                } else {
                    format!("{path}: {err}")
                }
            })?;
            let real = self.inside(path, real)?;
            let rest = joined.strip_prefix(ancestor).unwrap_or(Path::new(""));
            return Ok(real.join(rest));
        }
        Err(format!("{path}: the root {} is gone", self.dir.display()))
    }

    fn inside(&self, path: &str, real: PathBuf) -> Result<PathBuf, String> {
        if real.starts_with(&self.dir) {
            Ok(real)
        } else {
            Err(format!(
                "{path} resolves through a symlink to {}, outside the root {}: refused",
                real.display(),
                self.dir.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn setup() -> anyhow::Result<(tempfile::TempDir, tempfile::TempDir, Root)> {
        let dir = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("sub"))?;
        std::fs::write(dir.path().join("sub/a.txt"), "a")?;
        std::fs::write(outside.path().join("secret"), "s")?;
        symlink("sub/a.txt", dir.path().join("inner-link"))?;
        symlink(outside.path().join("secret"), dir.path().join("outer-link"))?;
        symlink(outside.path(), dir.path().join("outer-dir"))?;
        symlink("nowhere", dir.path().join("dangling"))?;
        let root = Root::new(dir.path())?;
        Ok((dir, outside, root))
    }

    #[test]
    fn resolves_paths_under_the_root() -> anyhow::Result<()> {
        let (_dir, _outside, root) = setup()?;
        let base = root.dir().to_path_buf();
        for path in ["", ".", "./", "sub/.."] {
            assert_eq!(
                root.resolve(path).map_err(anyhow::Error::msg)?,
                base,
                "{path:?}"
            );
        }
        let a = base.join("sub/a.txt");
        for path in [
            "sub/a.txt",
            "./sub//a.txt",
            "sub/../sub/a.txt",
            "inner-link",
        ] {
            assert_eq!(
                root.resolve(path).map_err(anyhow::Error::msg)?,
                a,
                "{path:?}"
            );
        }
        let absolute = base.join("sub/a.txt").to_string_lossy().into_owned();
        assert_eq!(root.resolve(&absolute).map_err(anyhow::Error::msg)?, a);
        // Not existing yet: fine, under an existing ancestor.
        assert_eq!(
            root.resolve("sub/new/deep.txt")
                .map_err(anyhow::Error::msg)?,
            base.join("sub/new/deep.txt")
        );
        assert_eq!(root.relative(&a), "sub/a.txt");
        assert_eq!(root.relative(&base), ".");
        Ok(())
    }

    #[test]
    fn refuses_escapes() -> anyhow::Result<()> {
        let (_dir, outside, root) = setup()?;
        let secret = outside.path().join("secret").to_string_lossy().into_owned();
        for (path, needle) in [
            ("..", "\"..\""),
            ("sub/../../x", "\"..\""),
            ("/etc/passwd", "outside the root"),
            ("/sub/a.txt", "(e.g. \"sub/a.txt\")"),
            (secret.as_str(), "outside the root"),
            ("outer-link", "symlink"),
            ("outer-dir/secret", "symlink"),
            ("outer-dir/new-file", "symlink"),
            ("dangling", "dangling"),
            ("a\0b", "NUL"),
        ] {
            match root.resolve(path) {
                Ok(real) => anyhow::bail!("{path:?} resolved to {}", real.display()),
                Err(err) => assert!(err.contains(needle), "{path:?}: {err}"),
            }
        }
        Ok(())
    }
}
