#!/usr/bin/env bash
# Developer setup for punktfunk: system packages, Rust toolchain check, cargo-nextest.
# Idempotent and fast when everything is already there (no apt-get update then).
set -euo pipefail

# System packages (Debian/Ubuntu names). Features that need more system libraries
# (FFmpeg, PipeWire, Opus, Wayland, ...) append their packages to this array.
PACKAGES=(
    build-essential
    pkg-config
    ca-certificates
    git
    curl
        python3
    python3-venv
    # Video encode/decode (ffmpeg-next builds its bindings with bindgen → clang).
    clang
    libclang-dev
    libavcodec-dev
    libavformat-dev
    libavutil-dev
    libswscale-dev
    libavfilter-dev
    libavdevice-dev
    ffmpeg
    # Virtual displays on wlroots: the host (and its tests) start a private headless sway
    # (pixman renderer, no GPU); swaybg paints the displays' default background.
    sway
    swaybg
    # Virtual displays on GNOME: the Mutter backend (and its tests) run headless mutter inside a
    # private D-Bus session with PipeWire + WirePlumber; frames arrive over PipeWire.
    mutter
    pipewire
    wireplumber
    dbus
    libpipewire-0.3-dev
    libspa-0.2-dev
    # Audio: Opus (the host's encoder, the probe's decoder and microphone); pw-play / pw-record
    # (pipewire-bin) play into the virtual sink and record the virtual microphone in the tests.
    libopus-dev
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
)

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
    ensure_nextest
    say "done"
}

main "$@"
