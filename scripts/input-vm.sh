#!/usr/bin/env bash
# Runs the virtual-gamepad check (pad-vm-check) inside a small qemu VM with Debian's kernel,
# because the kernel this machine runs has no uinput or uhid.
#
# Acceleration: TCG by default. /dev/kvm opens here, but under it the guest kernel never printed a
# line within 90 s (`-cpu host` aborts on MSR 0x10a; `qemu64`/`max` hang after the BIOS), while
# TCG boots in about 2.5 s of guest time. VM_ACCEL=kvm VM_CPU=... tries KVM on machines where it
# works.
#
# The VM boots Debian's installed kernel (linux-image-amd64) with a throw-away initramfs: busybox
# (busybox-static), the check binary and the shared libraries it links, and the kernel modules it
# needs (hid, uhid, hid-generic, uinput, evdev). Its init loads the modules, runs the check and
# powers off; the check's output comes back on the serial console.
#
# Usage: scripts/input-vm.sh [PATH-TO-pad-vm-check]   (default: builds it with cargo)
# Exit status: 0 when the check printed PADCHECK OK.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
check="${1:-}"
if [[ -z "$check" ]]; then
    cargo build -q -p punktfunk-host --bin pad-vm-check --manifest-path "$root/Cargo.toml"
    check="${CARGO_TARGET_DIR:-$root/target}/debug/pad-vm-check"
fi

die() { echo "input-vm: $*" >&2; exit 2; }
[[ -x "$check" ]] || die "no check binary at $check"
[[ -e /dev/kvm ]] || die "/dev/kvm is missing: the VM needs KVM"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/setup.sh installs qemu-system-x86)"
busybox="$(command -v busybox || true)"
[[ -n "$busybox" ]] || die "busybox missing (scripts/setup.sh installs busybox-static)"
kernel="$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1 || true)"
[[ -n "$kernel" ]] || die "no kernel in /boot (scripts/setup.sh installs linux-image-amd64)"
version="${kernel#/boot/vmlinuz-}"
modules="/lib/modules/$version"
[[ -d "$modules" ]] || die "no modules for $version in $modules"

work="$(mktemp -d)"
trap '[[ -n "${KEEP_VM:-}" ]] || rm -rf "$work"' EXIT
init="$work/root"
mkdir -p "$init"/{bin,dev,proc,sys,lib/modules,lib64,lib/x86_64-linux-gnu}

cp "$busybox" "$init/bin/busybox"
for tool in sh mount insmod poweroff sleep cat dmesg grep sed; do
    ln -s busybox "$init/bin/$tool"
done
# Without debug info: the binary links the host library, whose debug info (~300 MB) would not fit
# the VM's RAM-backed root.
strip --strip-debug -o "$init/bin/pad-vm-check" "$check"
# The binary's shared libraries and loader, at the paths it asks for.
ldd "$check" | awk '/=> \//{print $3} /^[[:space:]]*\/lib/{print $1}' | while read -r lib; do
    mkdir -p "$init$(dirname "$lib")"
    cp -L "$lib" "$init$lib"
done

# Modules in dependency order (modules.dep lists each module's dependencies).
load=()
add_module() {
    local name="$1" path deps dep
    path="$(awk -F: -v m="/$name.ko" 'index($1, m) == length($1) - length(m) + 1 {print $1}' "$modules/modules.dep" | head -n1)"
    [[ -n "$path" ]] || die "module $name not found for $version"
    deps="$(awk -F: -v p="$path" '$1 == p {print $2}' "$modules/modules.dep")"
    for dep in $deps; do
        add_module "$(basename "$dep" .ko)"
    done
    for m in "${load[@]:-}"; do [[ "$m" == "$path" ]] && return 0; done
    load+=("$path")
}
# hid-sony: the DualShock 4's ids are reserved for it, so hid-generic leaves such a pad alone.
for m in evdev uinput hid uhid hid-generic hid-sony; do add_module "$m"; done
{
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
    for path in "${load[@]}"; do
        cp "$modules/$path" "$init/lib/modules/"
        echo "insmod /lib/modules/$(basename "$path") || echo INSMOD-FAILED $(basename "$path")"
    done
    echo 'sleep 0.2'
    echo '/bin/pad-vm-check'
    echo 'dmesg | grep -iE "hid|input:|uhid|uinput|sony" | sed "s/^/KERNEL /"'
    echo 'poweroff -f'
} > "$init/init"
chmod +x "$init/init"

(cd "$init" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

log="$work/console.log"
timeout "${VM_TIMEOUT:-120}" qemu-system-x86_64 -accel "${VM_ACCEL:-tcg}" -cpu "${VM_CPU:-max}" -m 512 -smp 1 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 earlyprintk=serial,ttyS0 edd=off loglevel=4 panic=-1 rdinit=/init ${VM_APPEND:-}" >"$log" 2>&1 || true
grep -E '^(CHECK|PADCHECK|INSMOD|KERNEL)' "$log" | tr -d '\r' || { tail -n 40 "$log"; die "no check output"; }
grep -q '^PADCHECK OK' <(tr -d '\r' <"$log")
