#!/bin/sh
# fastmusl archiver wrapper for @TRIPLE@ (generated into the sysroot's bin/),
# for the `cc` crate (AR_@TRIPLE_ENV@): llvm-ar handles archives of any target.
set -eu
for ar in "${FASTMUSL_AR:-llvm-ar}" llvm-ar-19 llvm-ar-16 llvm-ar-14; do
	if command -v "$ar" >/dev/null 2>&1; then exec "$ar" "$@"; fi
done
echo "fastmusl: @TRIPLE@-ar needs llvm-ar, which was not found." >&2
echo "  Install it (Debian/Ubuntu: apt-get install llvm), or set FASTMUSL_AR." >&2
exit 127
