//! Shared fixtures of the end-to-end tests: the sysroots (built once per
//! target and cached in target/sysroots/ across runs: the pipeline reuses a
//! sysroot whose inputs are unchanged), compiling C test programs with a
//! sysroot's C wrapper, and running binaries natively or under qemu with a
//! timeout.
#![allow(dead_code)] // each test binary uses a different part

use std::{
    collections::HashMap,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use xtask::{
    default_sysroot_root,
    fixture::Sysroot,
    project_root,
    sysroot::{SysrootRequest, build_or_reuse, sysroot_dir},
};

pub use fastmusl_dist::flavor;

pub mod dns;

/// The offline source mirror: FASTMUSL_MIRROR, else `../shared/mirror`.
pub fn shared_mirror() -> PathBuf {
    match std::env::var_os("FASTMUSL_MIRROR") {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("../shared/mirror"),
    }
}

/// The two first targets, for tests of what is specific to them (string
/// function variants, the heavy end-to-end paths that run on x86_64 only).
pub const X86_64: &str = "x86_64-unknown-linux-musl";
pub const AARCH64: &str = "aarch64-unknown-linux-musl";
/// A 32-bit target that runs natively on x86_64 hosts.
pub const I686: &str = "i686-unknown-linux-musl";

/// The targets under test: every row of `sysroots/targets.toml`, or the
/// ones `FASTMUSL_TEST_TARGETS` names (comma-separated).
pub fn targets() -> Vec<String> {
    xtask::platforms::PlatformTable::triples_under_test()
}

/// Runs `test` for every target under test; a failure names its target.
pub fn for_each_target(test: impl Fn(&str)) {
    xtask::platforms::for_each_target_under_test(|row| test(row.triple.as_str()));
}

/// Runs `test` for the targets under test among `among`, for checks made
/// on a few targets only.
pub fn for_each_of(among: &[&str], test: impl Fn(&str)) {
    for_each_target(|triple| {
        if among.contains(&triple) {
            test(triple)
        }
    });
}

/// The sysroot of `triple`, built (or reused) once per test process.
pub fn sysroot(triple: &str) -> &'static Sysroot {
    sysroot_in(triple, flavor::DEFAULT)
}

/// The sysroot of `triple` in `flavor`, built (or reused) once per test
/// process; one build makes every flavor.
pub fn sysroot_in(triple: &str, flavor: &str) -> &'static Sysroot {
    type Built = HashMap<(String, String), &'static Sysroot>;
    static SYSROOTS: OnceLock<Mutex<Built>> = OnceLock::new();
    let map = SYSROOTS.get_or_init(Default::default);
    // Holding the lock while building also keeps two tests of one process
    // from building at once (the pipeline has its own file lock too).
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let key = (triple.to_owned(), flavor.to_owned());
    if let Some(s) = map.get(&key) {
        return s;
    }
    let request = SysrootRequest {
        triple: triple.parse().unwrap(),
        mirror: None, // FASTMUSL_MIRROR, if set, is honoured by the pipeline
        out_root: default_sysroot_root(),
        extra_flavors: Vec::new(),
    };
    build_or_reuse(&request).unwrap_or_else(|e| panic!("building the {triple} sysroot: {e:#}"));
    let dir = sysroot_dir(&request.out_root, flavor, triple);
    let sysroot: &'static Sysroot = Box::leak(Box::new(Sysroot::open(&dir).unwrap()));
    assert_eq!(sysroot.manifest.flavor, flavor, "{}", dir.display());
    map.insert(key, sysroot);
    sysroot
}

/// Compiles and links C sources into a static executable with the
/// sysroot's `<triple>-cc`. `-fno-builtin` keeps clang from assuming
/// what malloc and calloc do (it would otherwise, e.g., not reload errno
/// after calloc), so the tests see the library's real behaviour.
pub fn compile_c(sysroot: &Sysroot, name: &str, sources: &[PathBuf], flags: &[&str]) -> PathBuf {
    let mut all_flags = vec!["-fno-builtin"];
    all_flags.extend(flags);
    compile_with(sysroot, &sysroot.tools.cc, name, sources, &all_flags)
}

/// Compiles and links C++ sources into a static executable with the
/// sysroot's `<triple>-c++`.
pub fn compile_cxx(sysroot: &Sysroot, name: &str, sources: &[PathBuf], flags: &[&str]) -> PathBuf {
    compile_with(sysroot, &sysroot.tools.cxx, name, sources, flags)
}

/// `compiler -O2 -pthread -o <target/ctests/…/name> flags… sources…`.
pub fn compile_with(
    sysroot: &Sysroot,
    compiler: &Path,
    name: &str,
    sources: &[PathBuf],
    flags: &[&str],
) -> PathBuf {
    let out_dir = flavor::sysroot_dir(
        &project_root().join("target/ctests"),
        &sysroot.manifest.flavor,
        sysroot.platform.triple.as_str(),
    );
    std::fs::create_dir_all(&out_dir).unwrap();
    let binary = out_dir.join(name);
    let output = Command::new(compiler)
        .args(["-O2", "-pthread", "-o"])
        .arg(&binary)
        .args(flags)
        .args(sources)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "compiling {name} for {}:\n{}",
        sysroot.platform.triple,
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// `source` (C) built against stock musl: the musl 1.2.6 release as
/// published (no upstream fixes, no fastmusl patches, mallocng), built by
/// xtask for the sysroot's target, linked with the target's libgcc.
pub fn compile_c_stock(sysroot: &Sysroot, name: &str, source: &Path) -> PathBuf {
    let triple = sysroot.platform.triple.as_str();
    let stock = xtask::sysroot::build_release_musl(triple)
        .unwrap_or_else(|e| panic!("building stock musl for {triple}: {e:#}"));
    let out = project_root().join("target/ctests/stock").join(triple);
    std::fs::create_dir_all(&out).unwrap();
    let target = format!("--target={}", sysroot.platform.clang_target);
    let object = out.join(format!("{name}.o"));
    run_tool(
        Command::new("clang")
            .arg(&target)
            .args(&sysroot.platform.cflags)
            .args(["-O2", "-nostdinc", "-isystem"])
            .arg(stock.join("include"))
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(&object),
    );
    let libgcc = Command::new("clang")
        .arg(format!("--target={}", sysroot.platform.gnu_triple))
        .args(["--rtlib=libgcc", "-print-libgcc-file-name"])
        .output()
        .unwrap();
    let libgcc = String::from_utf8(libgcc.stdout).unwrap().trim().to_owned();
    let binary = out.join(name);
    let lib = stock.join("lib");
    run_tool(
        Command::new("clang")
            .arg(&target)
            .args(["-fuse-ld=lld", "-static", "-nostdlib", "-o"])
            .arg(&binary)
            .arg(lib.join("crt1.o"))
            .arg(lib.join("crti.o"))
            .arg(&object)
            .arg(lib.join("libc.a"))
            .arg(&libgcc)
            .arg(lib.join("crtn.o")),
    );
    binary
}

/// `source` (C) built with glibc for the sysroot's architecture (Debian's
/// cross libraries for a foreign one), dynamically linked; its argv,
/// behind the emulator (with glibc's root) when foreign.
pub fn glibc_program(sysroot: &Sysroot, name: &str, source: &Path) -> Vec<std::ffi::OsString> {
    let gnu = &sysroot.platform.gnu_triple;
    let out = project_root().join("target/ctests/glibc").join(gnu);
    std::fs::create_dir_all(&out).unwrap();
    let binary = out.join(name);
    run_tool(
        Command::new("clang")
            .arg(format!("--target={gnu}"))
            .args(["-O2", "-pthread", "-fuse-ld=lld", "-o"])
            .arg(&binary)
            .arg(source),
    );
    match &sysroot.wiring.runner {
        Some(emulator) => vec![
            emulator.into(),
            "-L".into(),
            format!("/usr/{gnu}").into(),
            binary.into(),
        ],
        None => vec![binary.into()],
    }
}

/// The argv that runs `binary` for the sysroot's target: behind its
/// emulator when the host cannot run it.
pub fn argv_for(sysroot: &Sysroot, binary: PathBuf) -> Vec<std::ffi::OsString> {
    sysroot
        .wiring
        .runner
        .iter()
        .map(std::ffi::OsString::from)
        .chain([binary.into_os_string()])
        .collect()
}

/// Runs a build tool and requires success.
pub fn run_tool(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn c_test_source(name: &str) -> PathBuf {
    project_root().join("xtask/tests/c").join(name)
}

pub fn cxx_test_source(name: &str) -> PathBuf {
    project_root().join("xtask/tests/cpp").join(name)
}

/// The mimalloc object of the sysroot's libc.a as compiled, before its
/// symbols were made local: it still exports the mi_* API that some tests
/// use as a lever.
pub fn unlocalised_glue(sysroot: &Sysroot) -> PathBuf {
    let glue = xtask::sysroot::unlocalised_glue(
        &default_sysroot_root(),
        &sysroot.manifest.flavor,
        sysroot.platform.triple.as_str(),
    );
    assert!(
        glue.exists(),
        "{} is missing: rebuild the sysroot",
        glue.display()
    );
    glue
}

/// The unpacked, patched mimalloc tree of the sysroot's build.
pub fn mimalloc_tree(sysroot: &Sysroot) -> PathBuf {
    default_sysroot_root()
        .join(".build")
        .join(sysroot.platform.triple.as_str())
        .join("mimalloc")
}

/// Runs `binary` (under the target's emulator if foreign) and returns its
/// output; a run longer than `timeout` is killed and fails the test.
pub fn run(
    sysroot: &Sysroot,
    binary: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Output {
    let mut cmd = sysroot.command_for(binary);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(cmd, timeout).unwrap_or_else(|e| {
        panic!(
            "{} {args:?} on {}: {e}",
            binary.display(),
            sysroot.platform.triple
        )
    })
}

/// Like `run`, and the program must exit 0.
pub fn run_ok(
    sysroot: &Sysroot,
    binary: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Output {
    let output = run(sysroot, binary, args, env, timeout);
    assert!(
        output.status.success(),
        "{} {args:?} on {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        binary.display(),
        sysroot.platform.triple,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        tail(&String::from_utf8_lossy(&output.stderr), 40)
    );
    output
}

pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output, String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
            return Err(format!(
                "timed out after {timeout:?} (a hang); stderr so far:\n{}",
                tail(&stderr, 20)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    })
}

/// The first executable `cmd` on PATH.
pub fn which(cmd: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(cmd))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| panic!("{cmd} not on PATH"))
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
