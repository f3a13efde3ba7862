#!/usr/bin/env bash
# Developer setup for punktfunk: system packages, Rust toolchain check, and (for tests) cargo-nextest.
#   scripts/setup.sh run    what building and running the host needs (make run)
#   scripts/setup.sh test   that plus what the tests need (make setup, make test, .ci/run; the default)
# Idempotent and fast when everything is already there (no apt-get update then).
set -euo pipefail

# System packages (Debian/Ubuntu names), in three groups:
#   BUILD_PACKAGES   the toolchain and -dev headers that compiling the workspace needs;
#   RUNTIME_PACKAGES what `punktfunk-host serve` starts at run time on a machine without a desktop
#                    (the .deb recommends the same programs, see scripts/build-deb.sh);
#   TEST_PACKAGES    what only the tests use: other compositors, a browser, a VM for gamepads, tools.
# `setup.sh run` (make run) installs build + runtime; `setup.sh test` (make setup, make test, CI) all.
BUILD_PACKAGES=(
    build-essential
    pkg-config
    ca-certificates
    git
    curl
    # Video encode/decode (ffmpeg-next builds its bindings with bindgen → clang).
    clang
    libclang-dev
    libavcodec-dev
    libavformat-dev
    libavutil-dev
    libswscale-dev
    libavfilter-dev
    libavdevice-dev
    # PipeWire (capture, audio nodes) and Opus (the host's encoder, the probe's decoder and microphone).
    libpipewire-0.3-dev
    libspa-0.2-dev
    libopus-dev
)
RUNTIME_PACKAGES=(
    # Virtual displays on a bare machine: the host starts a private headless sway (pixman renderer,
    # no GPU); swaybg paints the displays' default background.
    sway
    swaybg
    # Audio on a bare machine: the host starts a private D-Bus + PipeWire + WirePlumber.
    pipewire
    wireplumber
    dbus
)
TEST_PACKAGES=(
    python3
    python3-venv
    ffmpeg
    # Virtual displays on GNOME: the Mutter backend's tests run headless mutter inside a private
    # D-Bus session with PipeWire + WirePlumber; frames arrive over PipeWire.
    mutter
    # pw-play / pw-record play into the virtual sink and record the virtual microphone in the tests.
    pipewire-bin
    # KWin and gamescope backends: probed as far as they run here.
    kwin-wayland
    gamescope
    # Web console browser test: headless Chromium driven by playwright-core from npm
    # (scripts/browser-test-setup.sh installs that into tests/browser/node_modules).
    chromium
    nodejs
    # Input tests: the test window decodes keys with libxkbcommon (xkbcommon crate); virtual
    # gamepads run in a small qemu-kvm VM with Debian's kernel, which has uinput and uhid
    # (scripts/input-vm.sh builds its initramfs from busybox and cpio).
    libxkbcommon-dev
    qemu-system-x86
    linux-image-amd64
    busybox-static
    cpio
    # The package test: dpkg-shlibdeps / dpkg-deb (dpkg-dev) build the .deb, systemd-analyze checks
    # its user unit, getcap (libcap2-bin) checks the binary has no capabilities.
    dpkg-dev
    systemd
    libcap2-bin
    # The protocol comparison (scripts/compare-protocols.sh, its smoke test): nftables drops packets
    # on the veth between the host's and the clients' network namespaces.
    nftables
)

MODE=${1:-test}
case "$MODE" in
    run) PACKAGES=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}") ;;
    test) PACKAGES=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
    # For scripts and checks: the package names of a mode, one per line; installs nothing.
    list-run) printf '%s\n' "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" && exit 0 ;;
    list-test) printf '%s\n' "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}" && exit 0 ;;
    *)
        printf 'usage: %s [run|test|list-run|list-test]\n' "$0" >&2
        exit 2
        ;;
esac

# Oldest rustc that understands edition 2024.
MIN_RUST_MAJOR=1
MIN_RUST_MINOR=85

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

is_debian_like() {
    [[ -r /etc/os-release ]] || return 1
    local id id_like
    id=$(. /etc/os-release && printf '%s' "${ID:-}")
    id_like=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
    local word
    for word in $id $id_like; do
        case "$word" in
            debian | ubuntu) return 0 ;;
        esac
    done
    return 1
}

install_debian_packages() {
    local missing=() pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ "$status" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        say "system packages present (${#PACKAGES[@]} checked)"
        return 0
    fi

    local sudo=()
    if ((EUID != 0)); then
        if have sudo; then
            sudo=(sudo)
        else
            die "missing packages: ${missing[*]}; not root and sudo not found. As root run:
  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
        fi
    fi

    say "installing missing packages: ${missing[*]}"
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

check_other_distro() {
    # Without dpkg we can't check packages by name; check the commands they provide.
    local missing=() cmd
    for cmd in cc pkg-config git curl python3; do
        have "$cmd" || missing+=("$cmd")
    done
    if ((${#missing[@]} == 0)); then
        say "not Debian/Ubuntu; basic tools present (cc pkg-config git curl python3)"
        say "if a build fails, install the equivalents of: ${PACKAGES[*]}"
        return 0
    fi
    die "not Debian/Ubuntu, so packages are not installed automatically.
  Missing commands: ${missing[*]}
  Install your distribution's equivalents of these Debian packages, then re-run:
    ${PACKAGES[*]}"
}

check_rust() {
    if ! have cargo || ! have rustc; then
        local hint=""
        if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
            hint="
  (found $HOME/.cargo/bin/cargo, which is not on PATH: run '. \"\$HOME/.cargo/env\"')"
        fi
        die "cargo/rustc not found. Install Rust via rustup (https://rustup.rs):
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
  . \"\$HOME/.cargo/env\"${hint}"
    fi

    local version major minor
    version=$(rustc --version) || die "'rustc --version' failed"
    # "rustc 1.95.0 (59807616e 2026-04-14)" -> 1 and 95
    if [[ "$version" =~ ^rustc\ ([0-9]+)\.([0-9]+) ]]; then
        major=${BASH_REMATCH[1]}
        minor=${BASH_REMATCH[2]}
    else
        die "cannot parse '$version'"
    fi
    if ((major < MIN_RUST_MAJOR || (major == MIN_RUST_MAJOR && minor < MIN_RUST_MINOR))); then
        die "$version is too old; need >= $MIN_RUST_MAJOR.$MIN_RUST_MINOR (edition 2024).
  Update with: rustup update stable"
    fi
    say "$version"

    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        say "note: rustfmt/clippy missing ('make lint' needs them): rustup component add rustfmt clippy"
    fi
}

ensure_nextest() {
    if cargo nextest --version >/dev/null 2>&1; then
        say "cargo-nextest present"
        return 0
    fi
    say "cargo-nextest not found; installing it (cargo install cargo-nextest --locked, takes a few minutes)"
    cargo install cargo-nextest --locked
}

main() {
    if is_debian_like && have dpkg-query; then
        install_debian_packages
    else
        check_other_distro
    fi
    check_rust
    if [[ "$MODE" == test ]]; then
        ensure_nextest
    fi
    say "done ($MODE)"
}

main "$@"
