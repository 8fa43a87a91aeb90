#!/bin/sh
# fastmusl @LANGUAGE@ compiler wrapper for @TRIPLE@ (generated into the sysroot's bin/).
#
# For the `cc` crate (CC_@TRIPLE_ENV@ and CXX_@TRIPLE_ENV@), the `cmake`
# crate, and anything else that builds C or C++ for this target: clang for
# @CLANG_TARGET@, seeing this sysroot's headers instead of the host's (musl's
# and the Linux UAPI headers; for C++ first libc++'s, in include/c++/v1).
# When asked to link (no -c/-S/-E), it links a static executable against
# this sysroot's crt objects and libc.a, for C++ also libc++.a and the
# unwinder in lib/fallback/, with this arch's libgcc for compiler runtime
# helpers (and lib/fallback/ for -latomic and -lunwind).
#
# C compiles with any clang. C++ needs clang @MIN_CLANG_MAJOR@ or later, because
# libc++'s headers refuse older compilers: the first new enough of
# FASTMUSL_CLANGXX, clang++-19 (the release of this libc++), clang++, and
# the other numbered releases.
set -eu

sysroot=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
language=@LANGUAGE@

# The major version of a clang, or nothing if it does not answer.
clang_major() {
	"$1" -dumpversion 2>/dev/null | sed -n '1s/^\([0-9][0-9]*\).*/\1/p'
}

clang=
if [ "$language" = C ]; then
	clang=${FASTMUSL_CLANG:-clang}
	if ! command -v "$clang" >/dev/null 2>&1; then
		echo "fastmusl: @TRIPLE@-cc needs clang, which was not found (looked for '$clang')." >&2
		echo "  Install it (Debian/Ubuntu: apt-get install clang lld; Fedora: dnf install clang lld)," >&2
		echo "  or set FASTMUSL_CLANG to a clang binary." >&2
		exit 127
	fi
else
	too_old=
	try_clangxx() {
		command -v "$1" >/dev/null 2>&1 || return 1
		major=$(clang_major "$1")
		if [ "${major:-0}" -ge @MIN_CLANG_MAJOR@ ]; then
			clang=$1
			return 0
		fi
		too_old="$too_old '$1' (${major:-unknown version})"
		return 1
	}
	if [ -n "${FASTMUSL_CLANGXX:-}" ]; then
		try_clangxx "$FASTMUSL_CLANGXX" || true
	else
		for candidate in clang++-19 clang++ clang++-22 clang++-21 clang++-20 clang++-18 clang++-17; do
			try_clangxx "$candidate" && break
		done
	fi
	if [ -z "$clang" ]; then
		echo "fastmusl: compiling C++ for @TRIPLE@ needs clang++ @MIN_CLANG_MAJOR@ or later (the sysroot's libc++ headers refuse older compilers)." >&2
		if [ -n "$too_old" ]; then
			echo "  Found only:$too_old." >&2
		else
			echo "  No clang++ was found${FASTMUSL_CLANGXX:+ (looked for '$FASTMUSL_CLANGXX')}." >&2
		fi
		echo "  Install clang 19 (Debian 12, Ubuntu 24.04: apt-get install clang-19 lld; Fedora: dnf install clang lld)," >&2
		echo "  or set FASTMUSL_CLANGXX to a clang++ of version @MIN_CLANG_MAJOR@ or later." >&2
		echo "  C is not affected: @TRIPLE@-cc works with any clang." >&2
		exit 127
	fi
fi

# Called with nothing to do, clang's own error ("no input files") is the
# right answer, not a link of the crt objects added below.
mode=link
[ "$#" -gt 0 ] || mode=compile
for arg do
	case $arg in
	-c | -S | -E | -M | -MM | -fsyntax-only | --version | -v | -dumpversion | -dumpmachine | -print-* | --print-* | '-###')
		mode=compile ;;
	esac
done
set -- -isystem "$sysroot/include" "$@"
# libc++'s headers wrap the C library's (<cstdlib> includes <stdlib.h>,
# whose libc++ version includes musl's with #include_next), so they come
# first.
[ "$language" = C ] || set -- -nostdinc++ -isystem "$sysroot/include/c++/v1" "$@"
set -- --target=@CLANG_TARGET@ -nostdlibinc "$@"

if [ "$mode" = compile ]; then
	exec "$clang" "$@"
fi

libgcc=$("$clang" --target=@GNU_TRIPLE@ --rtlib=libgcc -print-libgcc-file-name 2>/dev/null || true)
if [ ! -f "$libgcc" ]; then
	echo "fastmusl: linking @LANGUAGE@ for @TRIPLE@ needs libgcc.a for @GNU_TRIPLE@, which clang did not find." >&2
	echo "  Install it (Debian/Ubuntu: apt-get install @LIBGCC_PACKAGE@)." >&2
	echo "  (Rust programs do not need it: link them through cargo with @TRIPLE@-ld.)" >&2
	exit 1
fi
if ! command -v ld.lld >/dev/null 2>&1; then
	echo "fastmusl: linking @LANGUAGE@ for @TRIPLE@ needs ld.lld, which was not found." >&2
	echo "  Install it (Debian/Ubuntu: apt-get install lld)." >&2
	exit 127
fi
# C++: libc++ (with libc++abi inside) and an unwinder for its exceptions,
# found through the frame header the linker makes (--eh-frame-hdr).
if [ "$language" = C ]; then
	set -- "$@" -L"$sysroot/lib" -L"$sysroot/lib/fallback" -lc
else
	set -- -Wl,--eh-frame-hdr "$@" -L"$sysroot/lib" -L"$sysroot/lib/fallback" -lc++ -lunwind -lc
fi
exec "$clang" -static -nostdlib -fuse-ld=lld \
	"$sysroot/lib/crt1.o" "$sysroot/lib/crti.o" \
	"$@" "$libgcc" "$sysroot/lib/crtn.o"
