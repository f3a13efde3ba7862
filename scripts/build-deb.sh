#!/usr/bin/env bash
# Builds the Debian package punktfunk-host_<version>_<arch>.deb from binaries cargo already built:
#   scripts/build-deb.sh [--profile release|debug] [--out DIR]
# `make deb` builds release binaries first and calls this with --profile release; the package test
# (crates/punktfunk-e2e/tests/package_deb.rs) uses the debug binaries `make test` already has.
#
# Contents: /usr/bin/punktfunk-host and punktfunk-probe (debug info stripped; the web console is
# embedded in the host), the systemd user unit, a udev rule for the gamepad devices, docs and an
# example config. Depends are computed by dpkg-shlibdeps from the binaries' libraries; the programs
# the host starts on a machine without a desktop (sway, PipeWire) are Recommends.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

PROFILE=release
OUT="$ROOT/target/debian"
while (($#)); do
    case "$1" in
        --profile) PROFILE=${2:?--profile needs release or debug}; shift 2 ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        *) echo "usage: $0 [--profile release|debug] [--out DIR]" >&2; exit 2 ;;
    esac
done
case "$PROFILE" in
    release | debug) ;;
    *) echo "build-deb: --profile must be release or debug" >&2; exit 2 ;;
esac

say() { printf 'build-deb: %s\n' "$*" >&2; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb dpkg-shlibdeps objcopy; do
    command -v "$tool" >/dev/null || die "$tool not found (apt install dpkg-dev binutils)"
done

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN_DIR="$TARGET_DIR/$PROFILE"
for bin in punktfunk-host punktfunk-probe; do
    [[ -x "$BIN_DIR/$bin" ]] || die "$BIN_DIR/$bin missing: build it first
  (cargo build $([[ $PROFILE == release ]] && echo '--release ')-p punktfunk-host -p punktfunk-client --bins)"
done

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[[ -n "$VERSION" ]] || die "no version in Cargo.toml [workspace.package]"
ARCH=$(dpkg --print-architecture)
NAME=punktfunk-host
STAGE="$OUT/stage-$PROFILE"
PKG="$STAGE/pkg"
rm -rf "$STAGE"
mkdir -p "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/usr/lib/systemd/user" "$PKG/usr/lib/udev/rules.d" \
    "$PKG/usr/share/doc/$NAME/examples"

say "staging $PROFILE binaries from $BIN_DIR"
for bin in punktfunk-host punktfunk-probe; do
    objcopy --strip-debug "$BIN_DIR/$bin" "$PKG/usr/bin/$bin"
    chmod 0755 "$PKG/usr/bin/$bin"
done
install -m 0644 packaging/punktfunk-host.service "$PKG/usr/lib/systemd/user/"
install -m 0644 packaging/70-punktfunk.rules "$PKG/usr/lib/udev/rules.d/"
install -m 0644 packaging/config.toml "$PKG/usr/share/doc/$NAME/examples/config.toml"
install -m 0644 README.md docs/install.md docs/configuration.md docs/console.md docs/api.md \
    "$PKG/usr/share/doc/$NAME/"
cat > "$PKG/usr/share/doc/$NAME/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: punktfunk

Files: *
License: MIT or Apache-2.0
 On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.
EOF

# dpkg-shlibdeps wants to run in a source tree: give it a minimal one in the stage.
mkdir -p "$STAGE/src/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" > "$STAGE/src/debian/control"
say "computing Depends with dpkg-shlibdeps"
DEPENDS=$(cd "$STAGE/src" && dpkg-shlibdeps -O -e"$PKG/usr/bin/punktfunk-host" \
    -e"$PKG/usr/bin/punktfunk-probe" 2>"$STAGE/shlibdeps.log" |
    sed -n 's/^shlibs:Depends=//p') || { cat "$STAGE/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
[[ -n "$DEPENDS" ]] || die "dpkg-shlibdeps computed no dependencies"

REV=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
cat > "$PKG/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: punktfunk developers <punktfunk@localhost>
Section: net
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Depends: $DEPENDS
Recommends: sway, swaybg, pipewire, wireplumber, dbus
Suggests: pipewire-pulse
Description: game and desktop streaming host (GameStream/Moonlight and punktfunk/1)
 punktfunk-host gives every client its own virtual display at the client's resolution and
 refresh rate, captures and encodes it, and streams it over punktfunk/1 (QUIC control, UDP data
 with FEC and AES-GCM) or GameStream for stock Moonlight clients. Audio both ways, virtual
 gamepads, PIN pairing, a web console and a management API.
 .
 On a machine without a desktop it starts its own headless sway and PipeWire. Run it as a
 systemd user service: systemctl --user enable --now punktfunk-host.
 .
 Also contains punktfunk-probe, the native test and measurement client.
 Built from git $REV ($PROFILE profile).
EOF
(cd "$PKG" && find usr -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)

mkdir -p "$OUT"
DEB="$OUT/${NAME}_${VERSION}_${ARCH}.deb"
# Debug-profile packages exist for the test: fast compression there, xz for release.
if [[ "$PROFILE" == release ]]; then COMPRESS=(-Zxz); else COMPRESS=(-Zgzip -z1); fi
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$PKG" "$DEB" >&2
rm -rf "$STAGE"
say "built $DEB"
say "Depends: $DEPENDS"
# The path, alone on stdout, for scripts.
echo "$DEB"
