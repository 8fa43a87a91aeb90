#!/bin/sh
# fastmusl C compiler wrapper for @TRIPLE@ (generated into the sysroot's bin/).
#
# For the `cc` crate (CC_@TRIPLE_ENV@) and anything else that builds C for
# this target: clang for @CLANG_TARGET@, seeing this sysroot's musl and Linux
# UAPI headers instead of the host's. When asked to link (no -c/-S/-E), it
# links a static executable against this sysroot's crt objects and libc.a,
# with this arch's libgcc for compiler runtime helpers (and lib/fallback/ for
# -latomic and -lunwind).
set -eu

sysroot=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
clang=${FASTMUSL_CLANG:-clang}

if ! command -v "$clang" >/dev/null 2>&1; then
	echo "fastmusl: @TRIPLE@-cc needs clang, which was not found (looked for '$clang')." >&2
	echo "  Install it (Debian/Ubuntu: apt-get install clang lld; Fedora: dnf install clang lld)," >&2
	echo "  or set FASTMUSL_CLANG to a clang binary." >&2
	exit 127
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
set -- --target=@CLANG_TARGET@ -nostdlibinc -isystem "$sysroot/include" "$@"

if [ "$mode" = compile ]; then
	exec "$clang" "$@"
fi

libgcc=$("$clang" --target=@GNU_TRIPLE@ --rtlib=libgcc -print-libgcc-file-name 2>/dev/null || true)
if [ ! -f "$libgcc" ]; then
	echo "fastmusl: linking C for @TRIPLE@ needs libgcc.a for @GNU_TRIPLE@, which clang did not find." >&2
	echo "  Install it (Debian/Ubuntu: apt-get install @LIBGCC_PACKAGE@)." >&2
	echo "  (Rust programs do not need it: link them through cargo with @TRIPLE@-ld.)" >&2
	exit 1
fi
if ! command -v ld.lld >/dev/null 2>&1; then
	echo "fastmusl: linking C for @TRIPLE@ needs ld.lld, which was not found." >&2
	echo "  Install it (Debian/Ubuntu: apt-get install lld)." >&2
	exit 127
fi
exec "$clang" -static -nostdlib -fuse-ld=lld \
	"$sysroot/lib/crt1.o" "$sysroot/lib/crti.o" \
	"$@" \
	-L"$sysroot/lib" -L"$sysroot/lib/fallback" -lc "$libgcc" "$sysroot/lib/crtn.o"
