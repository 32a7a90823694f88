/**
 * Command-template presets for out-of-band controllers reached over SSH: a hypervisor or storage host
 * that saves and restores disk images, or a management host that drives BMCs with ipmitool. A preset is
 * data: one template per operation (POSIX shell, or PowerShell for a Windows controller such as
 * Hyper-V), with `{placeholders}` that are quoted for that shell when rendered.
 *
 * Placeholders: `{host}` (the host's `machine` name, default its ID), `{image}` (an image ID), and the
 * controller's `params` (a preset names the ones it needs; a param value may itself contain `{host}`).
 * Every template prints one JSON object on its last line of stdout:
 *   snapshot → {"imageId", "location", "sha256"?}   verify → {"ok", "sha256"?}
 *   restore, delete → {"ok"}                        powerCycle, powerStatus, powerOn, powerOff → {"power": "on"|"off"}
 * A controller's own `commands` override single templates of its preset.
 */

export const CONTROLLER_OPERATIONS = [
  'snapshot',
  'verify',
  'restore',
  'delete',
  'powerCycle',
  'powerStatus',
  'powerOn',
  'powerOff',
] as const;
export type ControllerOperation = (typeof CONTROLLER_OPERATIONS)[number];

export const IMAGE_OPERATIONS: readonly ControllerOperation[] = ['snapshot', 'verify', 'restore', 'delete'];
export const POWER_OPERATIONS: readonly ControllerOperation[] = ['powerCycle', 'powerStatus'];

export interface ControllerPreset {
  /** What the preset drives, for the README and error messages. */
  summary: string;
  /** The controller's platform when not POSIX: its templates are PowerShell (domain/platform.ts). */
  platform?: 'windows';
  /** Params the preset needs; a default may reference `{host}`. `undefined` means the file must set it. */
  params: Record<string, string | undefined>;
  commands: Partial<Record<ControllerOperation, string>>;
}

/** A fresh image ID on the controller: "rollout-<UTC time>-<pid>", safe for every tool below. */
const NEW_ID = 'id="rollout-$(date -u +%Y%m%dT%H%M%S)-$$"';
const OK = `echo '{"ok":true}'`;
const NOT_OK = `echo '{"ok":false}'`;
const ON = `echo '{"power":"on"}'`;
const OFF = `echo '{"power":"off"}'`;
const image = (location: string) => `printf '{"imageId":"%s","location":"%s"}\\n' "$id" ${location}`;

const PS_OK = `'{"ok":true}'`;
const PS_NOT_OK = `'{"ok":false}'`;
const PS_ON = `'{"power":"on"}'`;
const PS_OFF = `'{"power":"off"}'`;

const IPMI = 'ipmitool -I {interface} -H {bmc} -p {bmcPort} -U {bmcUser} -f {passwordFile}';

export const CONTROLLER_PRESETS = {
  lab: {
    summary: 'the lab controller (labctl): tar+zstd disk images with SHA-256, power by process group',
    params: {},
    commands: {
      snapshot: 'labctl snapshot {host}',
      verify: 'labctl verify {host} {image}',
      restore: 'labctl restore {host} {image}',
      delete: 'labctl delete {host} {image}',
      powerCycle: 'labctl power-cycle {host}',
      powerStatus: 'labctl power-status {host}',
      powerOn: 'labctl power-on {host}',
      powerOff: 'labctl power-off {host}',
    },
  },
  'qemu-img': {
    summary: 'qcow2 internal snapshots with qemu-img, on a disk no running VM holds open',
    params: { disk: undefined },
    commands: {
      snapshot: `set -e; ${NEW_ID}; qemu-img snapshot -c "$id" {disk}; ${image('{disk}')}`,
      verify: `if qemu-img snapshot -l {disk} | awk -v id={image} '$2 == id { found = 1 } END { exit !found }' && qemu-img check -q {disk}; then ${OK}; else ${NOT_OK}; fi`,
      restore: `qemu-img snapshot -a {image} {disk} && ${OK}`,
      delete: `qemu-img snapshot -d {image} {disk} && ${OK}`,
    },
  },
  libvirt: {
    summary: 'libvirt domains: internal snapshots (virsh snapshot-create-as / snapshot-revert) and power',
    params: { domain: '{host}' },
    commands: {
      snapshot: `set -e; ${NEW_ID}; virsh -q snapshot-create-as --domain {domain} --name "$id" --description 'pre-patch image' --atomic >/dev/null; ${image('{domain}')}`,
      verify: `if virsh -q snapshot-info --domain {domain} --snapshotname {image} >/dev/null; then ${OK}; else ${NOT_OK}; fi`,
      restore: `virsh -q snapshot-revert --domain {domain} --snapshotname {image} --force >/dev/null && ${OK}`,
      delete: `virsh -q snapshot-delete --domain {domain} --snapshotname {image} >/dev/null && ${OK}`,
      powerCycle: `virsh -q destroy {domain} >/dev/null 2>&1; virsh -q start {domain} >/dev/null && ${ON}`,
      powerStatus: `if [ "$(virsh -q domstate {domain})" = running ]; then ${ON}; else ${OFF}; fi`,
      powerOn: `virsh -q start {domain} >/dev/null && ${ON}`,
      powerOff: `virsh -q destroy {domain} >/dev/null && ${OFF}`,
    },
  },
  proxmox: {
    summary: 'Proxmox VE guests: qm snapshot / qm rollback and power, run on a cluster node',
    params: { vmid: undefined },
    commands: {
      snapshot: `set -e; ${NEW_ID}; qm snapshot {vmid} "$id" --description 'pre-patch image' >/dev/null; ${image('{vmid}')}`,
      verify: `if qm listsnapshot {vmid} | grep -qw -- {image}; then ${OK}; else ${NOT_OK}; fi`,
      restore: `qm rollback {vmid} {image} >/dev/null && ${OK}`,
      delete: `qm delsnapshot {vmid} {image} >/dev/null && ${OK}`,
      powerCycle: `qm stop {vmid} >/dev/null 2>&1; qm start {vmid} >/dev/null && ${ON}`,
      powerStatus: `if qm status {vmid} | grep -q 'status: running'; then ${ON}; else ${OFF}; fi`,
      powerOn: `qm start {vmid} >/dev/null && ${ON}`,
      powerOff: `qm stop {vmid} >/dev/null && ${OFF}`,
    },
  },
  zfs: {
    summary: 'ZFS snapshots of the dataset or zvol that holds the host disk',
    params: { dataset: undefined },
    commands: {
      snapshot: `set -e; ${NEW_ID}; zfs snapshot {dataset}@"$id"; ${image('{dataset}')}`,
      verify: `if zfs list -H -t snapshot -o name {dataset}@{image} >/dev/null; then ${OK}; else ${NOT_OK}; fi`,
      restore: `zfs rollback -r {dataset}@{image} && ${OK}`,
      delete: `zfs destroy {dataset}@{image} && ${OK}`,
    },
  },
  lvm: {
    summary: 'LVM copy-on-write snapshots of the logical volume that holds the host disk',
    params: { vg: undefined, lv: '{host}', snapshotSize: '10G' },
    commands: {
      snapshot: `set -e; ${NEW_ID}; lvcreate -q -s -n "$id" -L {snapshotSize} {vg}/{lv} >/dev/null; ${image('{vg}')}`,
      verify: `case "$(lvs --noheadings -o lv_attr {vg}/{image} 2>/dev/null | tr -d ' ')" in s*) ${OK};; *) ${NOT_OK};; esac`,
      restore: `lvconvert -q --merge {vg}/{image} >/dev/null && ${OK}`,
      delete: `lvremove -q -y {vg}/{image} >/dev/null && ${OK}`,
    },
  },
  hyperv: {
    summary:
      'Hyper-V guests: checkpoints (Checkpoint-VM / Restore-VMSnapshot) and power, PowerShell over SSH on the Hyper-V host',
    platform: 'windows',
    params: { vm: '{host}' },
    // Get-/Restore-/Remove-VMSnapshot exist on every Hyper-V version; *-VMCheckpoint are their 2016+ aliases.
    commands: {
      snapshot: `$id = 'rollout-' + (Get-Date).ToUniversalTime().ToString('yyyyMMddTHHmmss') + '-' + $PID; Checkpoint-VM -Name {vm} -SnapshotName $id -ErrorAction Stop; @{ imageId = $id; location = {vm} } | ConvertTo-Json -Compress`,
      verify: `if (Get-VMSnapshot -VMName {vm} -Name {image} -ErrorAction SilentlyContinue) { ${PS_OK} } else { ${PS_NOT_OK} }`,
      restore: `Restore-VMSnapshot -VMName {vm} -Name {image} -Confirm:$false -ErrorAction Stop; ${PS_OK}`,
      delete: `Get-VMSnapshot -VMName {vm} -Name {image} -ErrorAction SilentlyContinue | Remove-VMSnapshot -Confirm:$false -ErrorAction Stop; ${PS_OK}`,
      powerCycle: `$vm = Get-VM -Name {vm} -ErrorAction Stop; if ($vm.State -ne 'Off') { Stop-VM -VM $vm -TurnOff -Force -Confirm:$false -ErrorAction Stop }; Start-VM -VM $vm -ErrorAction Stop; ${PS_ON}`,
      powerStatus: `$vm = Get-VM -Name {vm} -ErrorAction Stop; if ($vm.State -eq 'Running') { ${PS_ON} } else { ${PS_OFF} }`,
      powerOn: `$vm = Get-VM -Name {vm} -ErrorAction Stop; if ($vm.State -ne 'Running') { Start-VM -VM $vm -ErrorAction Stop }; ${PS_ON}`,
      powerOff: `$vm = Get-VM -Name {vm} -ErrorAction Stop; if ($vm.State -ne 'Off') { Stop-VM -VM $vm -TurnOff -Force -Confirm:$false -ErrorAction Stop }; ${PS_OFF}`,
    },
  },
  ipmitool: {
    summary: 'a BMC over IPMI-over-LAN with ipmitool, run on a management host (password in a file there)',
    params: {
      bmc: undefined,
      bmcUser: undefined,
      passwordFile: undefined,
      bmcPort: '623',
      interface: 'lanplus',
    },
    commands: {
      powerCycle: `case "$(${IPMI} chassis power status)" in *' on') ${IPMI} chassis power cycle >/dev/null;; *) ${IPMI} chassis power on >/dev/null;; esac && ${ON}`,
      powerStatus: `s=$(${IPMI} chassis power status) && case "$s" in *' on') ${ON};; *) ${OFF};; esac`,
      powerOn: `${IPMI} chassis power on >/dev/null && ${ON}`,
      powerOff: `${IPMI} chassis power off >/dev/null && ${OFF}`,
    },
  },
} satisfies Record<string, ControllerPreset>;

export type ControllerPresetName = keyof typeof CONTROLLER_PRESETS;
export const CONTROLLER_PRESET_NAMES = Object.keys(CONTROLLER_PRESETS) as [
  ControllerPresetName,
  ...ControllerPresetName[],
];

/** The templates a controller runs: its preset's, overridden by its own. */
export function controllerCommands(
  preset: ControllerPresetName | undefined,
  own: Partial<Record<ControllerOperation, string>>,
): Partial<Record<ControllerOperation, string>> {
  const base: Partial<Record<ControllerOperation, string>> = preset
    ? CONTROLLER_PRESETS[preset].commands
    : {};
  return { ...base, ...own };
}

/** The params a controller's templates see: the preset's defaults, overridden by its own. */
export function controllerParams(
  preset: ControllerPresetName | undefined,
  own: Record<string, string>,
): Record<string, string | undefined> {
  return { ...(preset ? CONTROLLER_PRESETS[preset].params : {}), ...own };
}
