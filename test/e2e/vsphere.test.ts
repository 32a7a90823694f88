/**
 * The vSphere controller against VMware's own vSphere API simulator (vcsim) on loopback, through the
 * product's controller code and govc: snapshot → verify → revert → remove, power off / on / reset, and
 * the failures a person must be able to read: a wrong VM, a wrong password, a snapshot that does not
 * exist, an untrusted certificate, a credential not allowed for the URL. No secret in any message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControllerClient, type OutOfBand } from '../../adapters/controller.js';
import { RolloutError } from '../../domain/errors.js';
import { directoryKeyStore } from '../../adapters/ssh.js';
import { VsphereController } from '../../domain/schema.js';
import { GOVC, startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { writeFileSync } from 'node:fs';

let sim: Vcsim;
beforeAll(async () => {
  sim = await startVcsim('127.0.64.1');
});
afterAll(async () => {
  await sim?.stop();
});

const controller = (overrides: Partial<VsphereController> = {}) =>
  VsphereController.parse({
    id: 'vcenter',
    kind: 'vsphere',
    url: sim.url,
    credential: 'vcenter',
    caFile: sim.caFile,
    ...overrides,
  });
const target = (vmPath: string, c = controller()): OutOfBand => ({
  controller: c,
  machine: 'ws-01',
  vmPath,
  jumpHosts: [],
});
const client = () =>
  createControllerClient(directoryKeyStore(sim.keyDir), { govc: { binary: GOVC, home: sim.keyDir } });
const VM = '/DC0/vm/DC0_H0_VM0';

async function failure(promise: Promise<unknown>): Promise<RolloutError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RolloutError);
    const e = err as RolloutError;
    expect(e.message).not.toContain(sim.password);
    return e;
  }
  throw new Error('it succeeded');
}

describe('the vSphere controller on vcsim', () => {
  it('saves an image, verifies it, reverts to it and removes it', async () => {
    const ctl = client();
    const image = await ctl.snapshot(target(VM));
    expect(image.imageId).toMatch(/^rollout-\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(image.location).toMatch(new RegExp(`^vsphere 127\\.0\\.64\\.1:\\d+ ${VM} snapshot-\\d+$`));
    expect(sim.govc('snapshot.tree', '-vm', VM, '-C').trim()).toBe(image.imageId);
    expect(await ctl.verify(target(VM), image.imageId)).toEqual({ ok: true });

    // Something changes the VM after the image (a later snapshot stands for the failed install's state).
    sim.govc('snapshot.create', '-vm', VM, '-m=false', 'after-install');
    expect(sim.govc('snapshot.tree', '-vm', VM, '-C').trim()).toBe('after-install');
    await ctl.restore(target(VM), image.imageId);
    expect(sim.govc('snapshot.tree', '-vm', VM, '-C').trim()).toBe(image.imageId);
    await ctl.restore(target(VM), image.imageId); // a retried restore is harmless

    // vcsim 0.46.3 crashes removing a snapshot that has a child (a simulator bug): the child goes first.
    sim.govc('snapshot.remove', '-vm', VM, 'after-install');
    await ctl.remove(target(VM), image.imageId);
    expect(await ctl.verify(target(VM), image.imageId)).toEqual({ ok: false });
    await ctl.remove(target(VM), image.imageId); // removing a removed image is done
  });

  it('powers off, on and resets, each idempotent and checked against the power state', async () => {
    const ctl = client();
    const vm = '/DC0/vm/DC0_H0_VM1';
    const state = () => sim.govc('object.collect', '-s', vm, 'runtime.powerState').trim();
    expect(await ctl.powerStatus(target(vm))).toEqual({ power: 'on' });
    expect(await ctl.powerOff(target(vm))).toEqual({ power: 'off' });
    expect(state()).toBe('poweredOff');
    expect(await ctl.powerOff(target(vm))).toEqual({ power: 'off' });
    expect(await ctl.powerCycle(target(vm))).toEqual({ power: 'on' }); // off: cycling powers it on
    expect(state()).toBe('poweredOn');
    expect(await ctl.powerOn(target(vm))).toEqual({ power: 'on' });
    expect(await ctl.powerCycle(target(vm))).toEqual({ power: 'on' }); // on: a reset
    // vcsim logs a reset as a stop and a start. Each no-op (the second power-off, the power-on of a running
    // VM) logs nothing, so the power events are exactly: created running, off, cycled on, reset.
    const on = ['DC0_H0_VM1 on host DC0_H0 in DC0 is starting', 'DC0_H0_VM1 on DC0_H0 in DC0 is powered on'];
    const off = [
      'DC0_H0_VM1 on host DC0_H0 in DC0 is stopping',
      'DC0_H0_VM1 on DC0_H0 in DC0 is powered off',
    ];
    const powerEvents = sim
      .govc('events', '-n', '20', vm)
      .split('\n')
      .map((line) => line.replace(/^\[[^\]]*\] \[info\] /, ''))
      .filter((event) => / is (starting|powered on|stopping|powered off)$/.test(event));
    expect(powerEvents).toEqual([...on, ...off, ...on, ...off, ...on]);
  });

  it('a VM that does not exist: PowerFailed and ImageFailed naming it', async () => {
    const ctl = client();
    const missing = '/DC0/vm/no-such-vm';
    const power = await failure(ctl.powerStatus(target(missing)));
    expect(power.type).toBe('PowerFailed');
    expect(power.message).toContain(missing);
    expect(power.message).toMatch(/not found/);
    const image = await failure(ctl.snapshot(target(missing)));
    expect(image.type).toBe('ImageFailed');
    expect(image.message).toContain(missing);
  });

  it('a snapshot that does not exist: the revert fails, verify says not ok', async () => {
    const ctl = client();
    expect(await ctl.verify(target(VM), 'rollout-19990101T000000Z-000000')).toEqual({ ok: false });
    const err = await failure(ctl.restore(target(VM), 'rollout-19990101T000000Z-000000'));
    expect(err.type).toBe('ImageFailed');
    expect(err.message).toMatch(/rollout-19990101T000000Z-000000/);
  });

  it('a wrong password: ImageFailed saying the login failed, without the password', async () => {
    writeFileSync(`${sim.keyDir}/vcenter-wrong`, `${sim.user}:not-${sim.password}\n`);
    writeFileSync(
      `${sim.keyDir}/credentials.json`,
      JSON.stringify({
        vcenter: { kind: 'vsphere', destinations: [new URL(sim.url).origin] },
        'vcenter-wrong': { kind: 'vsphere', destinations: [new URL(sim.url).origin] },
      }),
    );
    const err = await failure(client().snapshot(target(VM, controller({ credential: 'vcenter-wrong' }))));
    expect(err.type).toBe('ImageFailed');
    expect(err.message).toMatch(/Login failure/);
    expect(err.message).not.toContain(`not-${sim.password}`);
  });

  it('an untrusted certificate is refused unless its CA is given', async () => {
    const err = await failure(client().powerStatus(target(VM, controller({ caFile: undefined }))));
    expect(err.type).toBe('PowerFailed');
    expect(err.message).toBe(
      `vSphere vcenter: power state of ${VM} failed: Post "${sim.url}": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
    );
    expect(
      await client().powerStatus(target(VM, controller({ caFile: undefined, insecureTls: true }))),
    ).toEqual({ power: 'on' });
  });

  it('a credential not declared for this vCenter is never sent', async () => {
    const other = controller({ url: 'https://127.0.64.2:443/sdk' });
    const err = await failure(client().powerStatus(target(VM, other)));
    expect(err.type).toBe('CredentialNotAllowed');
  });
});
