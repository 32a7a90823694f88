/**
 * Controller presets against real software: the `qemu-img` preset on real qcow2 files (Debian
 * qemu-utils), run over SSH on the lab controller; and Redfish power control against sushy-tools'
 * Redfish emulator (OpenStack, from PyPI, fake-driver systems that change power state after 1-11 s,
 * as BMCs do), with HTTP Basic auth, over HTTP and over HTTPS with a certificate from a test CA.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControllerClient, type OutOfBand } from '../../adapters/controller.js';
import { directoryKeyStore } from '../../adapters/ssh.js';
import { RolloutError } from '../../domain/errors.js';
import { RedfishController, SshController } from '../../domain/schema.js';
import { CONTROLLER_CREDENTIAL } from '../../lab/lab.js';
import { waitForTcp } from '../../runtime/dev-server.js';
import { SUSHY_DIR } from '../../runtime/setup.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { startTestLab, type TestLab } from '../helpers/lab.js';
import { childEnvironment } from '../../runtime/config.js';

const NET = '127.0.44';
const REDFISH_ADDRESS = `${NET}.90`;
const REDFISH_TLS_ADDRESS = `${NET}.91`;
const REDFISH_PORT = 8000;

let lab: TestLab;
let work: string;
const emulators: ChildProcess[] = [];

beforeAll(async () => {
  lab = await startTestLab(NET, 1);
  work = mkdtempSync(`${tmpdir()}/rollout-presets-`);
}, 60_000);

afterAll(async () => {
  for (const emulator of emulators) emulator.kill();
  await lab?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<RolloutError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RolloutError);
    return err as RolloutError;
  }
  throw new Error('expected a failure');
}

describe('qemu-img preset on real qcow2 files', () => {
  const qemuIo = (disk: string, command: string) =>
    execFileSync('qemu-io', ['-c', command, disk], { encoding: 'utf8' });
  /** qemu-io exits non-zero when the data read does not have the pattern. */
  const holds = (disk: string, byte: string) => {
    try {
      qemuIo(disk, `read -P ${byte} 0 64k`);
      return true;
    } catch {
      return false;
    }
  };

  it('snapshots, lists, verifies, reverts and deletes an internal snapshot', async () => {
    const disks = `${work}/disks`;
    execFileSync('mkdir', ['-p', disks]);
    const disk = `${disks}/pacs-vm-01.qcow2`;
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    qemuIo(disk, 'write -P 0x41 0 64k');
    const controller = SshController.parse({
      id: 'hypervisor',
      address: lab.inventory.controller.address,
      port: lab.inventory.controller.port,
      user: lab.inventory.controller.user,
      hostKey: lab.inventory.controller.hostKey,
      credential: CONTROLLER_CREDENTIAL,
      preset: 'qemu-img',
      params: { disk: `${disks}/{host}.qcow2` },
    });
    const ctl = createControllerClient(directoryKeyStore(lab.inventory.keyDir));
    const vm: OutOfBand = { controller, machine: 'pacs-vm-01', jumpHosts: [] };

    const image = await ctl.snapshot(vm);
    expect(image.imageId).toMatch(/^rollout-\d{8}T\d{6}-\d+$/);
    expect(image.location).toBe(disk);
    expect(execFileSync('qemu-img', ['snapshot', '-l', disk], { encoding: 'utf8' })).toContain(image.imageId);
    expect(await ctl.verify(vm, image.imageId)).toEqual({ ok: true });
    expect(await ctl.verify(vm, 'rollout-20000101T000000-1')).toEqual({ ok: false });

    // The "patch" rewrites the disk; reverting brings back every byte of the saved state.
    qemuIo(disk, 'write -P 0x42 0 64k');
    expect([holds(disk, '0x41'), holds(disk, '0x42')]).toEqual([false, true]);
    expect(await ctl.restore(vm, image.imageId)).toEqual({ ok: true });
    expect([holds(disk, '0x41'), holds(disk, '0x42')]).toEqual([true, false]);

    expect(await ctl.remove(vm, image.imageId)).toEqual({ ok: true });
    expect(execFileSync('qemu-img', ['snapshot', '-l', disk], { encoding: 'utf8' })).not.toContain(
      image.imageId,
    );

    const missing = await failure(ctl.snapshot({ ...vm, machine: 'no-such-vm' }));
    expect(missing.type).toBe('ImageFailed');
    expect(missing.message).toMatch(/snapshot exited 1: .*no-such-vm\.qcow2/);
  });

  it('refuses a value with shell syntax in a preset param', () => {
    const base = { id: 'h', address: '127.0.0.1', user: 'root', hostKey: lab.inventory.controller.hostKey };
    expect(
      SshController.safeParse({ ...base, preset: 'qemu-img', params: { disk: '/x; rm -rf /' } }).success,
    ).toBe(false);
  });
});

describe('Redfish power against the sushy-tools emulator', () => {
  const BMC_USER = 'rollout';
  const BMC_PASSWORD = 'not-in-any-log-7c1e';

  beforeAll(async () => {
    const python = (code: string) =>
      execFileSync('python3', ['-c', code], {
        encoding: 'utf8',
        env: childEnvironment({ PYTHONPATH: SUSHY_DIR }),
      });
    const hash = python(
      `import bcrypt; print(bcrypt.hashpw(b'${BMC_PASSWORD}', bcrypt.gensalt(rounds=5)).decode())`,
    ).trim();
    writeFileSync(`${work}/htpasswd`, `${BMC_USER}:${hash}\n`);
    writeFileSync(
      `${work}/sushy.conf`,
      [
        `SUSHY_EMULATOR_AUTH_FILE = '${work}/htpasswd'`,
        `SUSHY_EMULATOR_STATE_DIR = '${work}/sushy-state'`,
        'SUSHY_EMULATOR_FAKE_SYSTEMS = [',
        "  {'uuid': '0b7c2a3e-0000-4000-8000-000000000001', 'name': 'archive-01', 'power_state': 'On', 'external_notifier': False, 'nics': []},",
        ']',
        '',
      ].join('\n'),
    );
    // A CA and a BMC certificate for the HTTPS emulator, as a hospital CA would issue.
    const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'ignore' });
    ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Rollout test BMC CA',
    ]);
    ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'bmc.key',
      '-out',
      'bmc.csr',
      '-subj',
      '/CN=bmc',
    ]);
    writeFileSync(`${work}/bmc.ext`, `subjectAltName=IP:${REDFISH_TLS_ADDRESS}\n`);
    ssl([
      'x509',
      '-req',
      '-in',
      'bmc.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'bmc.pem',
      '-days',
      '2',
      '-extfile',
      'bmc.ext',
    ]);
    const start = (address: string, extra: string[]) =>
      emulators.push(
        spawn(
          'python3',
          [
            '-m',
            'sushy_tools.emulator.main',
            '--config',
            `${work}/sushy.conf`,
            '-i',
            address,
            '-p',
            String(REDFISH_PORT),
            '--fake',
            ...extra,
          ],
          { env: childEnvironment({ PYTHONPATH: SUSHY_DIR }), stdio: 'ignore' },
        ),
      );
    start(REDFISH_ADDRESS, []);
    start(REDFISH_TLS_ADDRESS, ['--ssl-certificate', `${work}/bmc.pem`, '--ssl-key', `${work}/bmc.key`]);
    await waitForTcp(REDFISH_ADDRESS, REDFISH_PORT, 20_000);
    await waitForTcp(REDFISH_TLS_ADDRESS, REDFISH_PORT, 20_000);
  }, 30_000);

  const bmc = (credential: string) =>
    RedfishController.parse({
      id: 'bmc',
      kind: 'redfish',
      baseUrl: `http://${REDFISH_ADDRESS}:${REDFISH_PORT}`,
      credential,
      timeout: '20s',
    });

  it('reads power state, powers off, powers on from off, and restarts a running system', async () => {
    const keyDir = mkdtempSync(`${work}/keys-`);
    writeFileSync(`${keyDir}/bmc-archive`, `${BMC_USER}:${BMC_PASSWORD}\n`);
    writeFileSync(
      `${keyDir}/credentials.json`,
      JSON.stringify({
        'bmc-archive': { kind: 'http-basic', destinations: [`http://${REDFISH_ADDRESS}:${REDFISH_PORT}`] },
      }),
    );
    const ctl = createControllerClient(directoryKeyStore(keyDir));
    const system: OutOfBand = { controller: bmc('bmc-archive'), machine: 'archive-01', jumpHosts: [] };
    expect(await ctl.powerStatus(system)).toEqual({ power: 'on' });
    expect(await ctl.powerOff(system)).toEqual({ power: 'off' });
    expect(await ctl.powerStatus(system)).toEqual({ power: 'off' });
    // A cycle of a host that is off turns it on (the rollback path after a restore).
    expect(await ctl.powerCycle(system)).toEqual({ power: 'on' });
    expect(await ctl.powerCycle(system)).toEqual({ power: 'on' });
    expect(await ctl.powerStatus(system)).toEqual({ power: 'on' });
  }, 90_000);

  it('fails with PowerFailed on a wrong password (never echoing it) and on an unknown system', async () => {
    const keyDir = mkdtempSync(`${work}/keys-`);
    writeFileSync(`${keyDir}/wrong`, `${BMC_USER}:guess-123\n`);
    writeFileSync(`${keyDir}/right`, `${BMC_USER}:${BMC_PASSWORD}\n`);
    writeFileSync(
      `${keyDir}/credentials.json`,
      JSON.stringify({
        wrong: { kind: 'http-basic', destinations: [`http://${REDFISH_ADDRESS}:${REDFISH_PORT}`] },
        right: { kind: 'http-basic', destinations: [`http://${REDFISH_ADDRESS}:${REDFISH_PORT}`] },
      }),
    );
    const ctl = createControllerClient(directoryKeyStore(keyDir));
    const denied = await failure(
      ctl.powerStatus({ controller: bmc('wrong'), machine: 'archive-01', jumpHosts: [] }),
    );
    expect(denied.type).toBe('PowerFailed');
    expect(denied.message).toMatch(/HTTP 401 \(check the credential\)/);
    expect(denied.message).not.toContain('guess-123');
    const unknown = await failure(
      ctl.powerStatus({ controller: bmc('right'), machine: 'no-such-system', jumpHosts: [] }),
    );
    expect(unknown.type).toBe('PowerFailed');
    expect(unknown.message).toMatch(
      /^Redfish bmc: GET \/redfish\/v1\/Systems\/no-such-system answered HTTP 404: /,
    );
    const noImages = await failure(
      ctl.snapshot({ controller: bmc('right'), machine: 'archive-01', jumpHosts: [] }),
    );
    expect(noImages.type).toBe('ImageFailed');
    expect(noImages.message).toBe('controller bmc (redfish) cannot handle images');
  });

  it('never sends an SSH key, nor a BMC password to a URL its key store does not list (CredentialNotAllowed)', async () => {
    const listener = await startReceiver(`${NET}.60`);
    try {
      const keyDir = mkdtempSync(`${work}/keys-`);
      copyFileSync(`${lab.inventory.keyDir}/${CONTROLLER_CREDENTIAL}`, `${keyDir}/fleet`);
      writeFileSync(`${keyDir}/bmc-archive`, `${BMC_USER}:${BMC_PASSWORD}\n`);
      writeFileSync(
        `${keyDir}/credentials.json`,
        JSON.stringify({
          'bmc-archive': { kind: 'http-basic', destinations: [`http://${REDFISH_ADDRESS}:${REDFISH_PORT}`] },
        }),
      );
      const ctl = createControllerClient(directoryKeyStore(keyDir));
      const to = (credential: string): OutOfBand => ({
        controller: RedfishController.parse({
          id: 'evil',
          kind: 'redfish',
          baseUrl: listener.url(),
          credential,
        }),
        machine: 'archive-01',
        jumpHosts: [],
      });
      const sshKey = await failure(ctl.powerStatus(to('fleet')));
      expect(sshKey.type).toBe('CredentialNotAllowed');
      const elsewhere = await failure(ctl.powerStatus(to('bmc-archive')));
      expect(elsewhere.type).toBe('CredentialNotAllowed');
      expect(elsewhere.message).toMatch(/may not be sent to http:\/\/127\.0\.44\.60/);
      expect(`${sshKey.message} ${elsewhere.message}`).not.toMatch(/PRIVATE KEY|secret-|${BMC_PASSWORD}/);
      expect(listener.received).toEqual([]);
    } finally {
      await listener.stop();
    }
  });

  it('verifies an HTTPS BMC against its CA file, refuses it without, and accepts it with insecureTls', async () => {
    const keyDir = mkdtempSync(`${work}/keys-`);
    writeFileSync(`${keyDir}/bmc-tls`, `${BMC_USER}:${BMC_PASSWORD}\n`);
    writeFileSync(
      `${keyDir}/credentials.json`,
      JSON.stringify({
        'bmc-tls': { kind: 'http-basic', destinations: [`https://${REDFISH_TLS_ADDRESS}:${REDFISH_PORT}`] },
      }),
    );
    const ctl = createControllerClient(directoryKeyStore(keyDir));
    const tls = (extra: Record<string, unknown>): OutOfBand => ({
      controller: RedfishController.parse({
        id: 'bmc-tls',
        kind: 'redfish',
        baseUrl: `https://${REDFISH_TLS_ADDRESS}:${REDFISH_PORT}`,
        credential: 'bmc-tls',
        timeout: '20s',
        ...extra,
      }),
      machine: 'archive-01',
      jumpHosts: [],
    });
    // Both emulators share one state: the system is on (as the first test leaves it, and as configured).
    expect(await ctl.powerStatus(tls({ caFile: `${work}/ca.pem` }))).toEqual({ power: 'on' });
    const untrusted = await failure(ctl.powerStatus(tls({})));
    expect(untrusted.type).toBe('PowerFailed');
    expect(untrusted.message).toBe(
      'Redfish bmc-tls: GET /redfish/v1/Systems/archive-01: unable to verify the first certificate',
    );
    expect(await ctl.powerStatus(tls({ insecureTls: true }))).toEqual({ power: 'on' });
    const missingCa = await failure(ctl.powerStatus(tls({ caFile: `${work}/no-such-ca.pem` })));
    expect(missingCa.type).toBe('PowerFailed');
    expect(missingCa.message).toBe(
      `Redfish bmc-tls: cannot read caFile: ENOENT: no such file or directory, open '${work}/no-such-ca.pem'`,
    );
  });
});
