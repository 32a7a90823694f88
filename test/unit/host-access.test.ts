import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprintOf,
  parseKnownHosts,
  renderCommand,
  type SshTarget,
} from '../../adapters/ssh.js';
import { CONTROLLER_OPERATIONS, CONTROLLER_PRESETS } from '../../domain/controller-presets.js';
import { validCampaign } from '../fixtures/campaign.js';
import { problemsOf } from '../helpers/campaign-problems.js';

const keyA = randomBytes(51);
const keyB = randomBytes(51);
const target = (over: Partial<SshTarget> = {}): SshTarget => ({
  name: 'archive-01',
  address: '10.0.1.11',
  port: 22,
  user: 'pacsadm',
  credential: 'default',
  ...over,
});
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('host key pinning', () => {
  it('accepts the pinned fingerprint and refuses any other key, naming both', () => {
    expect(checkHostKey(target({ hostKey: fingerprintOf(keyA) }), keyA, [])).toEqual({ ok: true });
    const refused = checkHostKey(target({ hostKey: fingerprintOf(keyA) }), keyB, []);
    expect(refused).toEqual({
      ok: false,
      reason: `presented host key ${fingerprintOf(keyB)}, pinned is ${fingerprintOf(keyA)}`,
    });
  });

  it('reads known_hosts: plain, [host]:port, hashed, wildcard, negated and revoked entries', () => {
    const a = keyA.toString('base64');
    const b = keyB.toString('base64');
    const known = parseKnownHosts(
      [
        '# comment',
        `10.0.1.11,archive-01 ssh-ed25519 ${a}`,
        `[10.0.1.12]:2222 ssh-ed25519 ${a}`,
        `${hashed('10.0.1.13')} ssh-ed25519 ${b}`,
        `10.0.2.*,!10.0.2.9 ssh-ed25519 ${a}`,
        `@revoked 10.0.1.14 ssh-ed25519 ${b}`,
        `@cert-authority *.hospital.example ssh-ed25519 ${b}`,
      ].join('\n'),
    );
    expect(known).toHaveLength(5);
    expect(checkHostKey(target(), keyA, known).ok).toBe(true);
    expect(checkHostKey(target({ address: '10.0.1.12', port: 2222 }), keyA, known).ok).toBe(true);
    // The same address on port 22 is another name: no entry.
    expect(checkHostKey(target({ address: '10.0.1.12' }), keyA, known)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no known_hosts entry for 10\.0\.1\.12/),
    });
    expect(checkHostKey(target({ address: '10.0.1.13' }), keyB, known).ok).toBe(true);
    expect(checkHostKey(target({ address: '10.0.1.13' }), keyA, known)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not the key known_hosts lists/),
    });
    expect(checkHostKey(target({ address: '10.0.2.5' }), keyA, known).ok).toBe(true);
    // The negated pattern takes 10.0.2.9 out of the wildcard entry: no entry, not a mismatch.
    expect(checkHostKey(target({ address: '10.0.2.9' }), keyA, known)).toEqual({
      ok: false,
      reason: `presented host key ${fingerprintOf(keyA)}; no hostKey in the inventory and no known_hosts entry for 10.0.2.9`,
    });
    expect(checkHostKey(target({ address: '10.0.1.14' }), keyB, known)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/revoked/),
    });
  });
});

describe('controller presets', () => {
  it('render every command with quoted values and no unknown placeholder', () => {
    for (const [name, preset] of Object.entries(CONTROLLER_PRESETS)) {
      const values: Record<string, string> = { host: 'vm-01', image: 'rollout-20261123T101500-42' };
      for (const [param, fallback] of Object.entries(preset.params))
        values[param] = (fallback ?? `/srv/${param}`).replaceAll('{host}', 'vm-01');
      for (const op of CONTROLLER_OPERATIONS) {
        const template = (preset.commands as Record<string, string | undefined>)[op];
        if (!template) continue;
        const command = renderCommand(template, values);
        const where = `${name}.${op}`;
        expect(command, where).not.toMatch(/\{[a-zA-Z]+\}/);
        // Each placeholder ({host}, {image}, the params) arrives as one quoted word.
        const placeholders = [...template.matchAll(/\{([a-zA-Z]+)\}/g)].map((m) => m[1]!);
        expect(placeholders, where).not.toEqual([]);
        for (const placeholder of placeholders)
          expect(command, `${where} {${placeholder}}`).toContain(`'${values[placeholder]}'`);
      }
    }
  });

  it('keep shell syntax out of a rendered command', () => {
    expect(renderCommand('qemu-img snapshot -l {disk}', { disk: `/x'; rm -rf / #` })).toBe(
      `qemu-img snapshot -l '/x'\\''; rm -rf / #'`,
    );
    expect(() => renderCommand('virsh start {domian}', { domain: 'x' })).toThrow(
      /unknown placeholder \{domian\}/,
    );
  });
});

describe('controllers and jump hosts in the campaign file', () => {
  it('accepts presets with their params, a Redfish power controller and a jump host', () => {
    const file = validCampaign(3) as ReturnType<typeof validCampaign> & Record<string, never>;
    const fleet = file.fleet as Record<string, unknown> & {
      controllers: unknown[];
      hosts: Array<Record<string, unknown>>;
    };
    fleet.jumpHosts = [{ id: 'bastion', address: '10.0.0.2', user: 'jump', hostKey: fingerprintOf(keyA) }];
    fleet.controllers.push(
      {
        id: 'pve',
        address: '10.0.0.6',
        user: 'root',
        preset: 'proxmox',
        params: { vmid: '{host}' },
        jumpHost: 'bastion',
      },
      {
        id: 'bmc',
        kind: 'redfish',
        baseUrl: 'https://10.0.9.1',
        credential: 'bmc-admin',
        systemId: 'System.Embedded.1',
      },
    );
    Object.assign(fleet.hosts[1]!, {
      imageProvider: 'pve',
      powerController: 'bmc',
      jumpHost: 'bastion',
      machine: '101',
    });
    expect(problemsOf(file)).toEqual([]);
  });

  it('names a missing preset param, an unknown jump host, and a controller that cannot do the job', () => {
    const file = validCampaign(3);
    const fleet = file.fleet as unknown as { controllers: unknown[]; hosts: Array<Record<string, unknown>> };
    fleet.controllers.push(
      { id: 'zfs-store', address: '10.0.0.7', user: 'root', preset: 'zfs' },
      { id: 'bmc', kind: 'redfish', baseUrl: 'https://10.0.9.1', credential: 'bmc-admin' },
    );
    Object.assign(fleet.hosts[1]!, { imageProvider: 'bmc', jumpHost: 'nowhere' });
    Object.assign(fleet.hosts[2]!, { controller: 'zfs-store' });
    expect(problemsOf(file)).toEqual([
      'fleet.controllers[1].params.dataset: preset "zfs" needs param "dataset"',
      'fleet.hosts[1].jumpHost: unknown jump host "nowhere"',
      'fleet.hosts[1].imageProvider: controller "bmc" cannot snapshot, verify, restore, delete images; set imageProvider to one that can',
      'fleet.hosts[2].controller: controller "zfs-store" has no powerCycle, powerStatus command; set powerController to one that has',
    ]);
  });
});
