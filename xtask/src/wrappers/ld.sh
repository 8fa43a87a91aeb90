#!/bin/sh
# fastmusl linker wrapper for @TRIPLE@ (generated into the sysroot's bin/).
#
# Use it as cargo's `target.@TRIPLE@.linker`. Its name ends in `-ld`, so
# rustc passes it raw `ld` arguments, including the self-contained crt
# objects and libc.a search path of rustup's own musl. This script changes
# only what must change so that the program gets this sysroot's musl (with
# mimalloc) instead:
#   - crt1.o rcrt1.o Scrt1.o crti.o crtn.o from rustc's `self-contained`
#     directory are swapped for this sysroot's;
#   - where rustc has no `self-contained` directory (no rust-std for the
#     target: -Zbuild-std), it names the crt objects bare (`crt1.o`,
#     `crtbegin.o`, ...): those become this sysroot's too;
#   - this sysroot's lib/ is searched first, so -lc finds its libc.a, and
#     its lib/fallback/ last, so -lunwind finds rustc's own libunwind.a
#     where there is one and this sysroot's otherwise.
# Every other argument is passed through untouched to rust-lld, which ships
# with every rustup toolchain: no host C toolchain is needed.
set -eu

sysroot=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
lib="$sysroot/lib"
# rustc writes a response file GNU-style: one argument per line, backslash
# and space escaped with a backslash; rust-lld reads it back the same way
# (quotes and tabs are special to it too). So lines read from one are
# unescaped before use, and lines written to one are escaped.
escape() { printf '%s\n' "$1" | sed 's/[\\ 	"'"'"']/\\&/g'; }

# $1: an argument; $2: this sysroot's lib/ as it must be written there.
swap_crt() {
	case $1 in
	*/self-contained/crt1.o | */self-contained/rcrt1.o | */self-contained/Scrt1.o | \
	*/self-contained/crti.o | */self-contained/crtn.o | \
	crt1.o | rcrt1.o | Scrt1.o | crti.o | crtn.o | \
	crtbegin.o | crtbeginS.o | crtbeginT.o | crtend.o | crtendS.o)
		printf '%s\n' "$2/${1##*/}" ;;
	*) printf '%s\n' "$1" ;;
	esac
}

# One line of a response file -> the argument it encodes (`\X` -> `X`).
unescape() {
	rest=$1 out=
	while :; do
		case $rest in
		*\\*)
			out=$out${rest%%\\*}
			rest=${rest#*\\}
			out=$out${rest%"${rest#?}"}
			rest=${rest#?}
			;;
		*) break ;;
		esac
	done
	printf '%s' "$out$rest"
}

rustc_sysroot=
tmp_args=
cleanup() { [ -z "$tmp_args" ] || rm -f "$tmp_args"; }
trap cleanup EXIT

first=1
for arg do
	if [ "$first" = 1 ]; then set --; first=0; fi
	case $arg in
	@*)
		# rustc falls back to a response file when the command line is too
		# long (E2BIG): rewrite the crt lines in a copy.
		tmp_args=$(mktemp "${TMPDIR:-/tmp}/fastmusl-ld.XXXXXX")
		lib_in_response_file=$(escape "$lib")
		while IFS= read -r line || [ -n "$line" ]; do
			case $line in
			/*/lib/rustlib/*)
				[ -n "$rustc_sysroot" ] || rustc_sysroot=$(unescape "${line%%/lib/rustlib/*}") ;;
			esac
			swap_crt "$line" "$lib_in_response_file"
		done <"${arg#@}" >"$tmp_args"
		arg="@$tmp_args"
		;;
	/*/lib/rustlib/*)
		[ -n "$rustc_sysroot" ] || rustc_sysroot=${arg%%/lib/rustlib/*}
		arg=$(swap_crt "$arg" "$lib")
		;;
	*.o) arg=$(swap_crt "$arg" "$lib") ;;
	esac
	set -- "$@" "$arg"
done

lld=${FASTMUSL_RUST_LLD:-}
if [ -z "$lld" ] && [ -n "$rustc_sysroot" ]; then
	for candidate in "$rustc_sysroot"/lib/rustlib/*/bin/rust-lld; do
		if [ -x "$candidate" ]; then lld=$candidate; break; fi
	done
fi
if [ -z "$lld" ]; then
	lld=$(command -v rust-lld || true)
fi
if [ -z "$lld" ]; then
	echo "fastmusl: cannot find rust-lld (it ships with every rustup toolchain, in" >&2
	echo "  \$(rustc --print sysroot)/lib/rustlib/<host>/bin/). Link through cargo/rustc," >&2
	echo "  or set FASTMUSL_RUST_LLD to its path." >&2
	exit 1
fi

"$lld" -flavor gnu -L "$lib" "$@" -L "$lib/fallback"
