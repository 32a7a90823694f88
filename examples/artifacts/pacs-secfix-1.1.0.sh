#!/bin/sh
# Demo security patch "pacs-secfix 1.1.0" for the lab fleet. It updates the PACS libraries and version.
# Like the patch in the story behind this product, its storage-driver update corrupts the boot loader
# on NAS hardware: that host will not come back from its reboot until its disk image is restored.
set -eu
root="${PACS_ROOT:-}"
echo "pacs-secfix 1.1.0: installing on $(hostname)"
mkdir -p "$root/opt/pacs/lib"
printf 'libpacs-sec 1.1.0\n' > "$root/opt/pacs/lib/libpacs-sec.so.1.1.0"
if [ "$(cat "$root/etc/pacs-role" 2>/dev/null)" = nas ]; then
  echo "pacs-secfix 1.1.0: updating storage controller driver"
  printf 'initrd=/boot/nas-raid-1.1.0.img\x00\xff\n' >> "$root/boot/loader.conf"
fi
printf '1.1.0\n' > "$root/opt/pacs/VERSION"
echo "pacs-secfix 1.1.0: done"
