//! What the sysroot and libc++ builds take from the build machine: where a
//! host tool is, and copies of directory trees. Kept apart so that the
//! build steps (`sysroot`, `libcxx`) share them without importing each
//! other.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// Where `tool` is on PATH (`command -v`), if it is.
pub(crate) fn host_tool_path(sh: &Shell, tool: &str) -> Option<String> {
    cmd!(sh, "sh -c 'command -v \"$1\"' sh {tool}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
}

/// Copies the tree `from` into `to` (created): directories, files, and
/// symlinks as symlinks; a file that exists already is an error, not
/// overwritten.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            if dst.exists() {
                bail!(
                    "copying {}: {} already exists",
                    src.display(),
                    dst.display()
                );
            }
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}
