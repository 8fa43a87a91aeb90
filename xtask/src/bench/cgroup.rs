//! A real memory limit for one run: a child cgroup of the memory
//! controller with a hard limit, the workload moved into it before it
//! starts, and what the kernel counted read back — the peak charge, how
//! often the charge hit the limit (each time the kernel had to reclaim
//! before it could give a page), and whether it OOM-killed the program.
//!
//! cgroup v1 (`/sys/fs/cgroup/memory`, this kind of machine and its CI):
//! `memory.limit_in_bytes`, `memory.max_usage_in_bytes`, `memory.failcnt`,
//! `memory.swappiness` 0 so that a host with swap kills instead of swapping,
//! as a pod without swap does. cgroup v2 (`memory.max`): `memory.peak`,
//! `memory.events` (`max`, `oom_kill`), `memory.swap.max` 0.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
    time::Instant,
};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

const V1_ROOT: &str = "/sys/fs/cgroup/memory";
const V2_ROOT: &str = "/sys/fs/cgroup";

/// What the kernel counted for one run under the limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LimitedRun {
    pub limit_kib: u64,
    pub wall_s: f64,
    /// The cgroup's peak charge (anonymous memory and page cache alike).
    pub max_usage_kib: u64,
    /// Times the charge reached the limit.
    pub failcnt: u64,
    /// The kernel's OOM killer ended the program.
    pub oom_killed: bool,
}

enum Version {
    V1,
    V2,
}

/// A child memory cgroup, removed again when dropped.
pub struct MemoryCgroup {
    dir: PathBuf,
    version: Version,
    limit_bytes: u64,
}

impl MemoryCgroup {
    /// Where a memory limit can be set here, or why not.
    pub fn available() -> Result<()> {
        if Path::new(V1_ROOT).join("memory.limit_in_bytes").exists() {
            return probe(Path::new(V1_ROOT));
        }
        let controllers = std::fs::read_to_string(Path::new(V2_ROOT).join("cgroup.controllers"))
            .unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "memory") {
            return probe(Path::new(V2_ROOT));
        }
        bail!(
            "no memory controller: neither {V1_ROOT} (cgroup v1) nor \"memory\" in \
             {V2_ROOT}/cgroup.controllers (cgroup v2)"
        )
    }

    /// A new child cgroup limited to `limit_bytes`.
    pub fn create(name: &str, limit_bytes: u64) -> Result<MemoryCgroup> {
        let (root, version) = if Path::new(V1_ROOT).join("memory.limit_in_bytes").exists() {
            (V1_ROOT, Version::V1)
        } else {
            (V2_ROOT, Version::V2)
        };
        // Unique within the process too: tests make groups from several threads.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = Path::new(root).join(format!("{name}-{}-{n}", std::process::id()));
        if dir.exists() {
            // Left by a run that was killed: empty by now, as its process is gone.
            std::fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir(&dir).with_context(|| {
            format!(
                "creating the cgroup {} (a memory limit needs root)",
                dir.display()
            )
        })?;
        let group = MemoryCgroup {
            dir,
            version,
            limit_bytes,
        };
        match group.version {
            Version::V1 => {
                group.write("memory.limit_in_bytes", &limit_bytes.to_string())?;
                group.write("memory.swappiness", "0")?;
            }
            Version::V2 => {
                group.write("memory.max", &limit_bytes.to_string())?;
                // Absent where the kernel has no swap accounting.
                if group.dir.join("memory.swap.max").exists() {
                    group.write("memory.swap.max", "0")?;
                }
            }
        }
        Ok(group)
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .with_context(|| format!("writing {value} to {}", path.display()))
    }

    fn read(&self, file: &str) -> Result<String> {
        let path = self.dir.join(file);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// `name value` from a flat keyed file such as memory.events.
    fn keyed(&self, file: &str, key: &str) -> Result<u64> {
        let text = self.read(file)?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("no {key} in {}: {text:?}", self.dir.join(file).display()))
    }

    fn number(&self, file: &str) -> Result<u64> {
        let text = self.read(file)?;
        text.trim().parse().with_context(|| {
            format!(
                "{} is not a number: {text:?}",
                self.dir.join(file).display()
            )
        })
    }

    /// Runs `binary args` inside the group; see `run_command`.
    pub fn run(&self, binary: &Path, args: &[String]) -> Result<(ExitStatus, String, LimitedRun)> {
        let mut cmd = Command::new(binary);
        cmd.args(args);
        let (status, _, stderr, limited) = self.run_command(&cmd)?;
        Ok((status, stderr, limited))
    }

    /// Runs `cmd` (its program, arguments and environment) inside the
    /// group: a shell moves itself in, then execs the program, so no byte
    /// of it runs outside. Returns its exit status, stdout, stderr and what
    /// the kernel counted. One run per group: the peak and the counters are
    /// the group's since it was made.
    pub fn run_command(&self, cmd: &Command) -> Result<(ExitStatus, String, String, LimitedRun)> {
        let mut inside = Command::new("sh");
        inside
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&self.dir)
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .stdin(std::process::Stdio::null());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => inside.env(key, value),
                None => inside.env_remove(key),
            };
        }
        let started = Instant::now();
        let output = inside.output().context("running sh")?;
        let wall_s = started.elapsed().as_secs_f64();
        let (max_usage, failcnt, oom_kills) = match self.version {
            Version::V1 => (
                self.number("memory.max_usage_in_bytes")?,
                self.number("memory.failcnt")?,
                // Linux 4.13 and later count kills here.
                self.keyed("memory.oom_control", "oom_kill").unwrap_or(0),
            ),
            Version::V2 => (
                self.number("memory.peak")?,
                self.keyed("memory.events", "max")?,
                self.keyed("memory.events", "oom_kill")?,
            ),
        };
        use std::os::unix::process::ExitStatusExt;
        // SIGKILL, the same number on every Linux architecture.
        let killed = output.status.signal() == Some(9);
        Ok((
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            LimitedRun {
                limit_kib: self.limit_bytes / 1024,
                wall_s,
                max_usage_kib: max_usage / 1024,
                failcnt,
                oom_killed: oom_kills > 0 || killed,
            },
        ))
    }
}

/// Whether a child group can be made under `root` (root privileges).
fn probe(root: &Path) -> Result<()> {
    let dir = root.join(format!("fastmusl-probe-{}", std::process::id()));
    std::fs::create_dir(&dir).with_context(|| {
        format!(
            "cannot create a cgroup under {} (a memory limit needs root)",
            root.display()
        )
    })?;
    std::fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Empty once its one process has exited; the kernel then lets it go.
        let _ = std::fs::remove_dir(&self.dir);
    }
}
