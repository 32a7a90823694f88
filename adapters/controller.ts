/**
 * Out-of-band image and power control through a controller reached over SSH (hypervisor, imaging
 * server, the lab controller). Works when the target host itself cannot boot. Each command template
 * prints one JSON object on its last line of stdout.
 */
import { z } from 'zod';
import { RolloutError } from '../domain/errors.js';
import { ImageRecord, type Controller } from '../domain/schema.js';
import { renderCommand, withSsh, type KeyStore, type SshTarget } from './ssh.js';

const CONTROLLER_COMMAND_MS = 600_000;

export const PowerStatus = z.object({ host: z.string(), power: z.enum(['on', 'off']), booted: z.boolean() });
export type PowerStatus = z.infer<typeof PowerStatus>;

function targetOf(controller: Controller): SshTarget {
  return { ...controller, name: `controller ${controller.id}` };
}

async function invoke<T>(
  controller: Controller,
  keys: KeyStore,
  template: string,
  values: Record<string, string>,
  schema: z.ZodType<T>,
  failure: 'ImageFailed' | 'PowerFailed',
): Promise<T> {
  return withSsh(targetOf(controller), keys, async (ssh) => {
    const result = await ssh.run(renderCommand(template, values), CONTROLLER_COMMAND_MS);
    if (result.code !== 0)
      throw new RolloutError(
        failure,
        `controller ${controller.id} exited ${result.code}: ${result.stderr.trim().slice(-500)}`,
      );
    const last = result.stdout.trim().split('\n').pop() ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(last);
    } catch {
      throw new RolloutError(failure, `controller ${controller.id} printed no JSON: ${last.slice(0, 200)}`);
    }
    const checked = schema.safeParse(parsed);
    if (!checked.success)
      throw new RolloutError(failure, `controller ${controller.id} answered ${last.slice(0, 200)}`);
    return checked.data;
  });
}

export function createControllerClient(keys: KeyStore) {
  return {
    snapshot: (c: Controller, host: string) =>
      invoke(c, keys, c.commands.snapshot, { host }, ImageRecord, 'ImageFailed'),
    verify: (c: Controller, host: string, image: string) =>
      invoke(
        c,
        keys,
        c.commands.verify,
        { host, image },
        z.object({ ok: z.boolean(), sha256: z.string() }),
        'ImageFailed',
      ),
    restore: (c: Controller, host: string, image: string) =>
      invoke(c, keys, c.commands.restore, { host, image }, z.object({ ok: z.boolean() }), 'ImageFailed'),
    remove: (c: Controller, host: string, image: string) =>
      invoke(c, keys, c.commands.delete, { host, image }, z.object({ ok: z.boolean() }), 'ImageFailed'),
    powerCycle: (c: Controller, host: string) =>
      invoke(c, keys, c.commands.powerCycle, { host }, PowerStatus, 'PowerFailed'),
    powerStatus: (c: Controller, host: string) =>
      invoke(c, keys, c.commands.powerStatus, { host }, PowerStatus, 'PowerFailed'),
  };
}
export type ControllerClient = ReturnType<typeof createControllerClient>;
