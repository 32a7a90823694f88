#!/bin/bash
# The lab controller: the "hypervisor" of the lab fleet. The orchestrator reaches it over SSH, like a
# virsh or qm host, for disk images and power. Every command that the orchestrator calls prints one JSON
# object on its last line.
#
#   labctl power-status HOST        {"host":..,"power":"on|off","booted":bool}
#   labctl power-cycle HOST         off, then on (a host whose boot marker is corrupt stays down)
#   labctl power-on|power-off HOST
#   labctl snapshot HOST            {"imageId":..,"location":..,"sha256":..}   (tar + zstd of the host disk)
#   labctl verify HOST IMAGE        {"ok":bool,"sha256":..}
#   labctl restore HOST IMAGE       power off, replace the disk with the image; the host stays off
#   labctl delete HOST IMAGE        {"ok":true}
#   labctl watch                    loop: turn each host's reboot request into a power cycle
#
# Faults for tests: a file faults/HOST.OP-delay holding seconds makes OP (snapshot, restore,
# power-cycle) take that much longer, in its middle (a restore or power cycle with the host off).
#
# A host is a PID+mount+UTS namespace running its sshd (and a DICOM SCP) with its disk directory bound
# over the shared mount point; powering off kills the namespace's process group.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
. "$LAB_DIR/lab.env"   # MOUNT_POINT, BIND_SHIM, BOOT_DELAY_MS

die() { echo "labctl: $*" >&2; exit 2; }
host_dir() {
  [[ "${1:-}" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "invalid host name '${1:-}'"
  [ -f "$LAB_DIR/hosts/$1/host.env" ] || die "unknown host '$1'"
  echo "$LAB_DIR/hosts/$1"
}
image_path() {
  [[ "${2:-}" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "invalid image id '${2:-}'"
  [[ "$2" == "$1-"* ]] || die "image '$2' does not belong to host '$1'"
  echo "$LAB_DIR/images/$2.tar.zst"
}

pgid_of() { cat "$1/run/pgid" 2>/dev/null || true; }
running() {
  local pgid; pgid=$(pgid_of "$1")
  [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null
}
boot_ok() { (cd "$1/root/boot" 2>/dev/null && sha256sum --quiet -c loader.sha256 >/dev/null 2>&1); }
fault_delay() {
  local f="$LAB_DIR/faults/$1.$2-delay"
  if [ -f "$f" ]; then sleep "$(cat "$f")"; fi
}

power_off() {
  local d=$1 pgid; pgid=$(pgid_of "$d")
  if [ -n "$pgid" ]; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -f "$d/run/pgid"
  echo "$(date -Is) power off" >> "$d/log/console.log"
}

power_on() {
  local d=$1
  running "$d" && return 0
  # shellcheck disable=SC1091
  . "$d/host.env"   # HOST, IP, SSH_PORT, DICOM_AET, DICOM_PORT
  if ! boot_ok "$d"; then
    echo "$(date -Is) boot failed: boot loader checksum mismatch, no operating system found" >> "$d/log/console.log"
    return 0
  fi
  mkdir -p "$d/root/run"
  cat /proc/sys/kernel/random/uuid > "$d/root/run/boot_id"
  rm -f "$d/root/run/reboot-request"
  echo "$(date -Is) power on" >> "$d/log/console.log"
  setsid unshare --mount --uts --pid --fork --kill-child=SIGKILL --mount-proc --propagation private \
    env HOST="$HOST" IP="$IP" D="$d" MP="$MOUNT_POINT" SHIM="$BIND_SHIM" AET="$DICOM_AET" DPORT="$DICOM_PORT" sh -c '
      hostname "$HOST" && mount --bind "$D/root" "$MP" || exit 1
      if [ -n "$AET" ]; then
        mkdir -p "$MP/var/lib/pacs/incoming"
        BIND_ADDR="$IP" LD_PRELOAD="$SHIM" TCP_NODELAY=1 storescp --aetitle "$AET" -od "$MP/var/lib/pacs/incoming" "$DPORT" &
      fi
      # The PACS web viewer: a status page on port 8080.
      if [ -d "$MP/var/www" ]; then
        python3 -m http.server 8080 --bind "$IP" --directory "$MP/var/www" >/dev/null 2>&1 &
        # Services come up before the login does, as on a real host.
        for _ in $(seq 1 100); do ss -ltnH "src $IP and sport = :8080" | grep -q . && break; sleep 0.05; done
      fi
      exec /usr/sbin/sshd -D -f "$D/etc/sshd_config" -E "$D/log/sshd.log"' \
    </dev/null >>"$d/log/console.log" 2>&1 9>&- &
  echo $! > "$d/run/pgid"
  # The group exists once the child has run setsid(); until then the host would read as off.
  for _ in $(seq 1 200); do running "$d" && break; sleep 0.01; done
}

status_json() {
  local d=$1 h=$2 power=off booted=false
  running "$d" && power=on
  boot_ok "$d" && booted=true
  [ "$power" = on ] || booted=false
  printf '{"host":"%s","power":"%s","booted":%s}\n' "$h" "$power" "$booted"
}

with_lock() {
  local d=$1; shift
  exec 9>"$d/run/lock"
  flock 9
  "$@"
}

cmd=${1:-}; shift || true
case "$cmd" in
  power-status) d=$(host_dir "${1:-}"); status_json "$d" "$1" ;;
  power-on) d=$(host_dir "${1:-}"); with_lock "$d" power_on "$d"; status_json "$d" "$1" ;;
  power-off) d=$(host_dir "${1:-}"); with_lock "$d" power_off "$d"; status_json "$d" "$1" ;;
  power-cycle)
    d=$(host_dir "${1:-}")
    exec 9>"$d/run/lock"; flock 9
    power_off "$d"; fault_delay "$1" power-cycle; power_on "$d"; status_json "$d" "$1" ;;
  snapshot)
    d=$(host_dir "${1:-}"); mkdir -p "$LAB_DIR/images"
    id="$1-$(date -u +%Y%m%d-%H%M%S)-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    img="$LAB_DIR/images/$id.tar.zst"
    fault_delay "$1" snapshot
    tar -C "$d" --numeric-owner -cf - root | zstd -q -T0 -3 -o "$img.part" -f
    mv "$img.part" "$img"
    sum=$(sha256sum "$img" | cut -d' ' -f1); echo "$sum" > "$img.sha256"
    printf '{"imageId":"%s","location":"%s","sha256":"%s"}\n' "$id" "$img" "$sum" ;;
  verify)
    d=$(host_dir "${1:-}"); img=$(image_path "$1" "${2:-}")
    [ -f "$img" ] || die "no image '$2'"
    sum=$(sha256sum "$img" | cut -d' ' -f1)
    if [ "$sum" = "$(cat "$img.sha256")" ]; then ok=true; else ok=false; fi
    printf '{"ok":%s,"sha256":"%s"}\n' "$ok" "$sum" ;;
  restore)
    d=$(host_dir "${1:-}"); img=$(image_path "$1" "${2:-}")
    [ -f "$img" ] || die "no image '$2'"
    [ "$(sha256sum "$img" | cut -d' ' -f1)" = "$(cat "$img.sha256")" ] || die "image '$2' fails its checksum"
    exec 9>"$d/run/lock"; flock 9
    # A running namespace keeps its bind mount on the old inode: power off before replacing the disk.
    power_off "$d"
    fault_delay "$1" restore
    rm -rf "$d/root.restore" && mkdir "$d/root.restore"
    tar -C "$d/root.restore" --numeric-owner -I 'zstd -T0' -xpf "$img"
    rm -rf "$d/root" && mv "$d/root.restore/root" "$d/root" && rmdir "$d/root.restore"
    echo "$(date -Is) disk restored from $2" >> "$d/log/console.log"
    printf '{"ok":true}\n' ;;
  delete)
    d=$(host_dir "${1:-}"); img=$(image_path "$1" "${2:-}")
    rm -f "$img" "$img.sha256"; printf '{"ok":true}\n' ;;
  watch)
    # Reboot requests written by a host's `reboot` become a power cycle after BOOT_DELAY_MS.
    delay=$(awk "BEGIN { print ${BOOT_DELAY_MS:-1500} / 1000 }")
    while :; do
      for req in "$LAB_DIR"/hosts/*/root/run/reboot-request; do
        [ -e "$req" ] || continue
        d=${req%/root/run/reboot-request}
        rm -f "$req"
        ( exec 9>"$d/run/lock"; flock 9; power_off "$d"; sleep "$delay"; power_on "$d" ) &
      done
      sleep 0.1
    done ;;
  *) die "usage: labctl power-status|power-on|power-off|power-cycle|snapshot|verify|restore|delete|watch ..." ;;
esac
