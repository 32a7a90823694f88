/**
 * The lab: a fleet of real OpenSSH hosts on loopback addresses, each a PID+mount+UTS namespace with its
 * own host key, key-only login, its own directory as its disk and a DICOM SCP (dcmtk storescp); plus a
 * controller reachable over SSH (root, key-only) that runs `labctl` for images and power.
 * Needs root (namespaces, bind mounts, sshd).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Role } from '../domain/schema.js';
import { waitForTcp } from '../runtime/dev-server.js';
import { settings } from '../runtime/config.js';
import { PROJECT_ROOT } from '../runtime/paths.js';

/** Every lab host sees its own disk at this one path, bound privately inside its mount namespace. */
export const MOUNT_POINT = '/var/lib/pacs-lab/hostroot';
export const LAB_USER = 'pacsadm';
export const HOST_CREDENTIAL = 'lab-host';
export const CONTROLLER_CREDENTIAL = 'lab-controller';
/** Each lab host serves its web viewer's status page here (python3 http.server). */
export const LAB_WEB_PORT = 8080;

export const LabHost = z.object({
  id: z.string(),
  role: z.string(),
  address: z.string(),
  port: z.number(),
  hostKey: z.string(),
  dicomAet: z.string(),
  dicomPort: z.number(),
});
export type LabHost = z.infer<typeof LabHost>;

export const LabInventory = z.object({
  dir: z.string(),
  keyDir: z.string(),
  mountPoint: z.string(),
  controller: z.object({ address: z.string(), port: z.number(), user: z.string(), hostKey: z.string() }),
  hosts: z.array(LabHost),
});
export type LabInventory = z.infer<typeof LabInventory>;

export interface LabOptions {
  dir: string;
  hosts: number;
  /** First three octets of the lab's addresses, e.g. "127.0.10": the controller is .2, hosts .11 up. */
  net: string;
  sshPort: number;
  bootDelayMs: number;
}

/** The demo fleet's shape: a test system, then PACS servers, one NAS, workstations. */
const FLEET_ROLES: Array<[prefix: string, role: Role]> = [
  ['test', 'test-system'],
  ['archive', 'archive'],
  ['db', 'database'],
  ['nas', 'nas'],
  ['dws', 'diagnostic-workstation'],
  ['qa', 'qa-workstation'],
  ['dws', 'diagnostic-workstation'],
  ['archive', 'archive'],
];

/** Host IDs and roles for a lab of `count` hosts: the demo shape, repeated. */
export function labFleetShape(count: number): Array<{ id: string; role: Role }> {
  const seen = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const [prefix, role] = FLEET_ROLES[i % FLEET_ROLES.length] as [string, Role];
    const n = (seen.get(prefix) ?? 0) + 1;
    seen.set(prefix, n);
    return { id: `${prefix}-${String(n).padStart(2, '0')}`, role };
  });
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();

function fingerprint(pubKeyPath: string): string {
  return sh('ssh-keygen', ['-lf', pubKeyPath]).split(' ')[1] ?? '';
}

function keygen(path: string, comment: string): void {
  if (!existsSync(path)) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

function sshdConfig(address: string, port: number, dir: string, extra: string[]): string {
  return [
    `ListenAddress ${address}:${port}`,
    `HostKey ${dir}/etc/ssh_host_ed25519_key`,
    `PidFile ${dir}/run/sshd.pid`,
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AuthenticationMethods publickey',
    // The lab may live under a world-writable directory such as /tmp; the keys are ours.
    'StrictModes no',
    'MaxStartups 64:30:128',
    'MaxSessions 32',
    'UseDNS no',
    'PrintMotd no',
    'ClientAliveInterval 5',
    'Subsystem sftp internal-sftp',
    ...extra,
    '',
  ].join('\n');
}

function ensureLabUser(): void {
  const home = `${MOUNT_POINT}/home/${LAB_USER}`;
  mkdirSync(home, { recursive: true });
  let current: string | undefined;
  try {
    current = sh('getent', ['passwd', LAB_USER]).split(':')[5];
  } catch {
    current = undefined;
  }
  if (current === undefined) sh('useradd', ['-M', '-d', home, '-s', '/bin/bash', '-p', '*', LAB_USER]);
  else if (current !== home) sh('usermod', ['-d', home, LAB_USER]);
}

const REBOOT_SCRIPT = `#!/bin/sh
# Lab reboot: asks the lab controller to power-cycle this host, then waits to be killed with it.
echo "The system is going down for reboot NOW!"
touch "${MOUNT_POINT}/run/reboot-request"
exec sleep 600
`;

function populateDisk(root: string, id: string, role: Role, authorizedKey: string): void {
  for (const sub of [
    'opt/pacs',
    'boot',
    'etc',
    'run',
    'sbin',
    'var/lib/pacs/incoming',
    'var/lib/pacs/studies',
    'var/www',
    `home/${LAB_USER}/.ssh`,
  ])
    mkdirSync(`${root}/${sub}`, { recursive: true });
  writeFileSync(`${root}/opt/pacs/VERSION`, '1.0.0\n');
  writeFileSync(`${root}/etc/pacs-role`, `${role}\n`);
  writeFileSync(`${root}/etc/pacs-release`, 'NAME=pacs-linux\nSERVICE_PACK=3\n');
  // The PACS web viewer's status page, served on port 8080 by the host's web server.
  writeFileSync(`${root}/var/www/status`, `PACS ${id} OK\n`);
  writeFileSync(`${root}/etc/hostname`, `${id}\n`);
  writeFileSync(`${root}/boot/loader.conf`, `default=pacs-os\ntimeout=3\nroot=/dev/pacs/${id}\n`);
  execFileSync('sh', ['-c', 'sha256sum loader.conf > loader.sha256'], { cwd: `${root}/boot` });
  // Synthetic study files: the kind of clinical data a patch must never touch.
  for (let i = 1; i <= 3; i++)
    writeFileSync(`${root}/var/lib/pacs/studies/study-${i}.dcm`, `SYNTHETIC-STUDY-${id}-${i}\n`.repeat(64));
  writeFileSync(`${root}/sbin/reboot`, REBOOT_SCRIPT, { mode: 0o755 });
  writeFileSync(`${root}/home/${LAB_USER}/.ssh/authorized_keys`, authorizedKey, { mode: 0o600 });
  sh('chown', ['-R', `${LAB_USER}:${LAB_USER}`, root]);
  chmodSync(`${root}/home/${LAB_USER}/.ssh`, 0o700);
}

/** Controller operations a test can slow down (the lab controller sleeps in their middle). */
export type LabFaultOperation = 'snapshot' | 'restore' | 'power-cycle';

/** Makes `operation` on `host` take `seconds` longer at the lab controller; `undefined` clears it. */
export function setLabFault(
  dir: string,
  host: string,
  operation: LabFaultOperation,
  seconds: number | undefined,
): void {
  mkdirSync(`${dir}/faults`, { recursive: true });
  const file = `${dir}/faults/${host}.${operation}-delay`;
  if (seconds === undefined) rmSync(file, { force: true });
  else writeFileSync(file, `${seconds}\n`);
}

export function labctlPath(dir: string): string {
  return `${dir}/bin/labctl`;
}

export function inventoryPath(dir: string): string {
  return `${dir}/inventory.json`;
}

export function readInventory(dir: string): LabInventory | undefined {
  if (!existsSync(inventoryPath(dir))) return undefined;
  return LabInventory.parse(JSON.parse(readFileSync(inventoryPath(dir), 'utf8')));
}

function pidAlive(pidFile: string): boolean {
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(-Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts a process as its own session leader, so its pid is the process group `labDown` kills. */
function startDetached(command: string, args: string[], pidFile: string): void {
  const child = spawn('setsid', [command, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
  writeFileSync(pidFile, `${child.pid}\n`);
  child.unref();
}

/** Brings the lab up from nothing; refuses if a lab is already running in `dir`. */
export async function labUp(options: LabOptions): Promise<LabInventory> {
  if (process.getuid?.() !== 0)
    throw new Error('the lab needs root (namespaces, bind mounts, sshd on loopback addresses)');
  const { dir } = options;
  if (pidAlive(`${dir}/run/watch.pid`))
    throw new Error(`a lab is already running in ${dir}; run \`rollout lab down\` first`);
  if (existsSync(dir)) await labDown(dir);
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['bin', 'keys', 'hosts', 'images', 'run', 'log', 'controller/etc', 'controller/run'])
    mkdirSync(`${dir}/${sub}`, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  ensureLabUser();
  writeFileSync(
    `${dir}/lab.env`,
    `MOUNT_POINT='${MOUNT_POINT}'\nBIND_SHIM='${settings().bindShim}'\nBOOT_DELAY_MS=${options.bootDelayMs}\n`,
  );
  copyFileSync(`${PROJECT_ROOT}/lab/labctl.sh`, labctlPath(dir));
  chmodSync(labctlPath(dir), 0o755);

  keygen(`${dir}/keys/${HOST_CREDENTIAL}`, 'rollout@lab-hosts');
  keygen(`${dir}/keys/${CONTROLLER_CREDENTIAL}`, 'rollout@lab-controller');
  const hostPub = readFileSync(`${dir}/keys/${HOST_CREDENTIAL}.pub`, 'utf8');

  const hosts: LabHost[] = labFleetShape(options.hosts).map(({ id, role }, i) => {
    const hostDir = `${dir}/hosts/${id}`;
    const address = `${options.net}.${11 + i}`;
    const dicomAet = id.toUpperCase().replace(/-/g, '_').slice(0, 16);
    for (const sub of ['etc', 'root', 'log', 'run']) mkdirSync(`${hostDir}/${sub}`, { recursive: true });
    keygen(`${hostDir}/etc/ssh_host_ed25519_key`, id);
    writeFileSync(
      `${hostDir}/etc/sshd_config`,
      sshdConfig(address, options.sshPort, hostDir, [
        'PermitRootLogin no',
        `AllowUsers ${LAB_USER}`,
        `SetEnv LAB_HOST=${id} PACS_ROOT=${MOUNT_POINT} PATH=${MOUNT_POINT}/sbin:/usr/local/bin:/usr/bin:/bin`,
      ]),
    );
    writeFileSync(
      `${hostDir}/host.env`,
      `HOST='${id}'\nIP='${address}'\nSSH_PORT=${options.sshPort}\nDICOM_AET='${dicomAet}'\nDICOM_PORT=104\n`,
    );
    populateDisk(`${hostDir}/root`, id, role, hostPub);
    return {
      id,
      role,
      address,
      port: options.sshPort,
      hostKey: fingerprint(`${hostDir}/etc/ssh_host_ed25519_key.pub`),
      dicomAet,
      dicomPort: 104,
    };
  });

  const controllerDir = `${dir}/controller`;
  const controllerAddress = `${options.net}.2`;
  keygen(`${controllerDir}/etc/ssh_host_ed25519_key`, 'lab-controller');
  copyFileSync(`${dir}/keys/${CONTROLLER_CREDENTIAL}.pub`, `${controllerDir}/authorized_keys`);
  writeFileSync(
    `${controllerDir}/etc/sshd_config`,
    sshdConfig(controllerAddress, options.sshPort, controllerDir, [
      'PermitRootLogin prohibit-password',
      'AllowUsers root',
      `AuthorizedKeysFile ${controllerDir}/authorized_keys`,
      `SetEnv PATH=${dir}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    ]),
  );
  startDetached(
    '/usr/sbin/sshd',
    ['-D', '-f', `${controllerDir}/etc/sshd_config`, '-E', `${dir}/log/controller-sshd.log`],
    `${dir}/run/controller.pid`,
  );
  startDetached(labctlPath(dir), ['watch'], `${dir}/run/watch.pid`);
  for (const host of hosts) sh(labctlPath(dir), ['power-on', host.id]);

  const bootTimeoutMs = 20_000;
  await Promise.all([
    waitForTcp(controllerAddress, options.sshPort, bootTimeoutMs),
    ...hosts.flatMap((h) => [
      waitForTcp(h.address, h.port, bootTimeoutMs),
      waitForTcp(h.address, h.dicomPort, bootTimeoutMs),
      waitForTcp(h.address, LAB_WEB_PORT, bootTimeoutMs),
    ]),
  ]);
  const inventory: LabInventory = {
    dir,
    keyDir: `${dir}/keys`,
    mountPoint: MOUNT_POINT,
    controller: {
      address: controllerAddress,
      port: options.sshPort,
      user: 'root',
      hostKey: fingerprint(`${controllerDir}/etc/ssh_host_ed25519_key.pub`),
    },
    hosts,
  };
  writeFileSync(inventoryPath(dir), `${JSON.stringify(inventory, null, 2)}\n`);
  return inventory;
}

function killGroup(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
  rmSync(pidFile, { force: true });
}

/** Stops every lab process (hosts, DICOM SCPs, controller, watcher). Files stay for inspection. */
export async function labDown(dir: string): Promise<void> {
  killGroup(`${dir}/run/watch.pid`);
  killGroup(`${dir}/run/controller.pid`);
  const hostsDir = `${dir}/hosts`;
  if (existsSync(hostsDir)) {
    for (const id of execFileSync('ls', [hostsDir], { encoding: 'utf8' }).split('\n').filter(Boolean))
      killGroup(`${hostsDir}/${id}/run/pgid`);
  }
  // Power-offs the watcher had under way finish within its boot delay; give them a moment, then sweep again.
  await new Promise((resolve) => setTimeout(resolve, 200));
  if (existsSync(hostsDir)) {
    for (const id of execFileSync('ls', [hostsDir], { encoding: 'utf8' }).split('\n').filter(Boolean))
      killGroup(`${hostsDir}/${id}/run/pgid`);
  }
}

export interface LabHostStatus {
  id: string;
  address: string;
  role: string;
  power: string;
  booted: boolean;
  version: string;
}

export function labStatus(dir: string): { running: boolean; hosts: LabHostStatus[] } {
  const inventory = readInventory(dir);
  if (!inventory) return { running: false, hosts: [] };
  const hosts = inventory.hosts.map((h) => {
    const status = JSON.parse(sh(labctlPath(dir), ['power-status', h.id])) as {
      power: string;
      booted: boolean;
    };
    const versionFile = `${dir}/hosts/${h.id}/root/opt/pacs/VERSION`;
    const version = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : '?';
    return {
      id: h.id,
      address: h.address,
      role: h.role,
      power: status.power,
      booted: status.booted,
      version,
    };
  });
  return { running: pidAlive(`${dir}/run/watch.pid`), hosts };
}
