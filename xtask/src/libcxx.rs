//! The sysroot's C++ runtime: LLVM's libc++ with libc++abi merged in,
//! static only, built by LLVM's own CMake build ("runtimes") from the pinned
//! runtime sources, against the staged sysroot's musl headers. It puts
//!
//! - `include/c++/v1/`: libc++'s headers (with `__config_site` and
//!   libc++abi's `cxxabi.h`), the one C++ header tree of the sysroot;
//! - `lib/libc++.a`: libc++ and libc++abi in one archive, so `-lc++` is the
//!   whole C++ runtime; its `operator new` calls musl's `malloc`, so C++
//!   allocations land in mimalloc like everything else;
//! - `lib/libstdc++.a`: a linker script that names `-lc++`, so a crate
//!   whose build script hard-codes `-lstdc++` links too.
//!
//! Unwinding is not in here: Rust's own `libunwind.a` (rustup's, or the
//! sysroot's `lib/fallback/` one) provides `_Unwind_*` for C++ and Rust
//! alike; a second unwinder would shadow it.
//!
//! libc++ 19 compiles only with clang 17 or later, so this build (and the
//! sysroot's `-c++` wrapper) use a newer clang than musl's C needs.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::{build_log::BuildLog, link_runtime::RuntimeBuild};

/// The C and C++ compilers of the libc++ build: clang 19, the release the
/// pinned runtime sources come from (Debian 12 package `clang-19`).
pub const CC: &str = "clang-19";
pub const CXX: &str = "clang++-19";

/// What `CXXSTDLIB_<triple>` says: the `cc` crate then asks for `-lc++`.
pub const CXXSTDLIB: &str = "c++";

/// The oldest clang whose C++ the installed libc++ headers accept (they
/// stop with "Libc++ only supports Clang 17 and later" otherwise).
pub const MIN_CLANG_MAJOR: u32 = 17;

/// The CMake switches that decide what is built, recorded in the sysroot's
/// manifest. The `HAS_*_LIB` ones are set by hand: with static-library
/// try-compiles (nothing can be linked before libc++ exists) CMake's
/// library checks pass whether or not the library exists, and the archive
/// would then ask for `-lpthread`, `-lrt` or `-latomic`, or call
/// `__cxa_thread_atexit_impl`, which musl does not have (libc++abi then
/// uses its own fallback for `thread_local` destructors).
pub const CMAKE_SWITCHES: [&str; 24] = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DCMAKE_SYSTEM_NAME=Linux",
    "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY",
    // Rust links static-pie executables.
    "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
    "-DLLVM_ENABLE_RUNTIMES=libcxx;libcxxabi",
    "-DLLVM_INCLUDE_TESTS=OFF",
    "-DLLVM_INCLUDE_DOCS=OFF",
    "-DLIBCXX_INCLUDE_TESTS=OFF",
    "-DLIBCXX_INCLUDE_BENCHMARKS=OFF",
    "-DLIBCXX_INCLUDE_DOCS=OFF",
    "-DLIBCXXABI_INCLUDE_TESTS=OFF",
    "-DLIBCXX_ENABLE_SHARED=OFF",
    "-DLIBCXXABI_ENABLE_SHARED=OFF",
    "-DLIBCXX_HAS_MUSL_LIBC=ON",
    "-DLIBCXX_CXX_ABI=libcxxabi",
    "-DLIBCXX_STATICALLY_LINK_ABI_IN_STATIC_LIBRARY=ON",
    "-DLIBCXXABI_USE_LLVM_UNWINDER=OFF",
    "-DLIBCXXABI_HAS_CXA_THREAD_ATEXIT_IMPL=OFF",
    "-DLIBCXX_HAS_PTHREAD_LIB=OFF",
    "-DLIBCXX_HAS_RT_LIB=OFF",
    "-DLIBCXX_HAS_ATOMIC_LIB=OFF",
    "-DLIBCXXABI_HAS_PTHREAD_LIB=OFF",
    "-DLIBCXXABI_HAS_DL_LIB=OFF",
    "-DLIBCXXABI_HAS_C_LIB=OFF",
];

/// The linker script installed as `lib/libstdc++.a`.
pub const LIBSTDCXX_SCRIPT: &str = "\
/* fastmusl: this sysroot's C++ library is LLVM's libc++ (libc++.a, with
   libc++abi inside); a link that asks for -lstdc++ gets it instead. */
INPUT(-lc++)
";

/// Builds libc++ into `b.stage` (`include/c++/v1`, `lib/`), using
/// `b.build_dir/libcxx` for CMake's tree.
pub(crate) fn build(sh: &Shell, b: &RuntimeBuild<'_>, log: &mut BuildLog) -> Result<()> {
    let cmake_dir = b.build_dir.join("libcxx");
    let installed = b.build_dir.join("libcxx-headers");
    std::fs::create_dir_all(&cmake_dir)?;
    let flags: Vec<String> = [
        "-nostdlibinc".to_owned(),
        "-isystem".to_owned(),
        b.stage.join("include").display().to_string(),
        format!(
            "-ffile-prefix-map={}=/fastmusl-build",
            b.build_dir.display()
        ),
        format!("-ffile-prefix-map={}=/fastmusl-sysroot", b.stage.display()),
    ]
    .into_iter()
    .chain(b.cflags.iter().cloned())
    .collect();
    let flags = flags.join(" ");
    let source = b.llvm_runtimes.join("runtimes");
    let target = b.clang_target;
    let switches = CMAKE_SWITCHES;
    // CMake takes the archiver by path, not from PATH.
    let which = |tool: &str| {
        crate::host_fs::host_tool_path(sh, tool).with_context(|| format!("{tool} is not on PATH"))
    };
    let (ar, ranlib) = (which("llvm-ar")?, which("llvm-ranlib")?);
    log.run(cmd!(
        sh,
        "cmake -G Ninja -S {source} -B {cmake_dir} {switches...}
            -DCMAKE_INSTALL_PREFIX={installed}
            -DCMAKE_C_COMPILER={CC} -DCMAKE_CXX_COMPILER={CXX}
            -DCMAKE_C_COMPILER_TARGET={target} -DCMAKE_CXX_COMPILER_TARGET={target}
            -DCMAKE_AR={ar} -DCMAKE_RANLIB={ranlib}
            -DCMAKE_C_FLAGS={flags} -DCMAKE_CXX_FLAGS={flags}"
    ))
    .context("configuring libc++")?;
    // Only the static library and the headers: not libc++experimental.a
    // (the time zone database and other experimental parts) nor modules.
    log.run(cmd!(
        sh,
        "ninja -C {cmake_dir} cxx_static install-cxx-headers install-cxxabi-headers"
    ))
    .context("building libc++")?;

    let lib = b.stage.join("lib");
    std::fs::copy(cmake_dir.join("lib/libc++.a"), lib.join("libc++.a"))
        .context("copying libc++.a into the sysroot")?;
    std::fs::write(lib.join("libstdc++.a"), LIBSTDCXX_SCRIPT)?;
    crate::host_fs::copy_tree(&installed.join("include/c++"), &b.stage.join("include/c++"))
        .context("copying libc++'s headers into the sysroot")
}
