/**
 * Out-of-band image and power control, which works when the host itself cannot boot: a controller
 * reached over SSH (hypervisor, storage or management host, the lab controller) runs the command
 * templates of its preset and its own; a Redfish BMC is driven over HTTP from the worker. Every
 * command template prints one JSON object on its last line of stdout.
 *
 * Why a retry cannot misjudge: every answer is the controller's own JSON, parsed strictly (anything else
 * is ImageFailed/PowerFailed, never "ok"), and every operation may run twice: the activity is retried on
 * another worker when one dies mid-command, while the first command may still be running on the
 * controller. A second restore writes the same image over the same disk, a second power-on of a host
 * that is on does nothing, a second snapshot saves another image (the activity returns the one it saw
 * finish). The lab controller serialises each host's operations with a lock; real hypervisors and
 * storage tools lock their own objects.
 */
import { z } from 'zod';
import {
  controllerCommands,
  controllerParams,
  type ControllerOperation,
} from '../domain/controller-presets.js';
import { RolloutError } from '../domain/errors.js';
import { ImageRecord, type Controller, type JumpHost, type SshController } from '../domain/schema.js';
import { redfishPower, type PowerOperation } from './redfish.js';
import { renderCommand, sshTarget, withSsh, type KeyStore } from './ssh.js';

const CONTROLLER_COMMAND_MS = 600_000;

export const PowerStatus = z.object({ power: z.enum(['on', 'off']) }).loose();
export type PowerStatus = { power: 'on' | 'off' };

const Ok = z.object({ ok: z.boolean() }).loose();
const Verified = z.object({ ok: z.boolean(), sha256: z.string().optional() }).loose();

/** Which machine, through which controller, reached via which jump hosts. */
export interface OutOfBand {
  controller: Controller;
  /** The host's name at the controller: its `machine`, default its ID. */
  machine: string;
  jumpHosts: JumpHost[];
}

/** Fills `{host}` into the params (raw: they are shell-quoted as a whole when rendered). */
function templateValues(controller: SshController, machine: string, extra: Record<string, string>) {
  const values: Record<string, string> = { host: machine, ...extra };
  for (const [name, value] of Object.entries(controllerParams(controller.preset, controller.params)))
    if (value !== undefined) values[name] = value.replaceAll('{host}', machine);
  return values;
}

async function runTemplate<T>(
  keys: KeyStore,
  target: OutOfBand & { controller: SshController },
  operation: ControllerOperation,
  extra: Record<string, string>,
  schema: z.ZodType<T>,
  failure: 'ImageFailed' | 'PowerFailed',
): Promise<T> {
  const { controller } = target;
  const template = controllerCommands(controller.preset, controller.commands)[operation];
  if (!template) throw new RolloutError(failure, `controller ${controller.id} has no ${operation} command`);
  const command = renderCommand(template, templateValues(controller, target.machine, extra));
  const ssh = sshTarget(`controller ${controller.id}`, controller, target.jumpHosts);
  return withSsh(ssh, keys, async (session) => {
    const result = await session.run(command, CONTROLLER_COMMAND_MS);
    if (result.code !== 0)
      throw new RolloutError(
        failure,
        `controller ${controller.id}: ${operation} exited ${result.code ?? 'without a code'}: ${result.stderr.trim().slice(-500)}`,
      );
    const last = result.stdout.trim().split('\n').pop() ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(last);
    } catch {
      throw new RolloutError(
        failure,
        `controller ${controller.id}: ${operation} printed no JSON: ${last.slice(0, 200)}`,
      );
    }
    const checked = schema.safeParse(parsed);
    if (!checked.success)
      throw new RolloutError(
        failure,
        `controller ${controller.id}: ${operation} answered ${last.slice(0, 200)}`,
      );
    return checked.data;
  });
}

function sshOnly(target: OutOfBand): OutOfBand & { controller: SshController } {
  // Controllers recorded before `kind` existed are SSH controllers.
  if (target.controller.kind === 'redfish')
    throw new RolloutError(
      'ImageFailed',
      `controller ${target.controller.id} (${target.controller.kind}) cannot handle images`,
    );
  return target as OutOfBand & { controller: SshController };
}

export function createControllerClient(keys: KeyStore) {
  const power = async (target: OutOfBand, operation: PowerOperation): Promise<PowerStatus> => {
    const { controller } = target;
    if (controller.kind === 'redfish')
      return redfishPower(
        controller,
        target.machine,
        await keys.secretFor(controller.credential, 'http-basic', controller.baseUrl),
        operation,
      );
    const status = await runTemplate(
      keys,
      target as OutOfBand & { controller: SshController },
      operation,
      {},
      PowerStatus,
      'PowerFailed',
    );
    return { power: status.power };
  };
  return {
    snapshot: async (target: OutOfBand) =>
      runTemplate(keys, sshOnly(target), 'snapshot', {}, ImageRecord, 'ImageFailed'),
    verify: async (target: OutOfBand, image: string) =>
      runTemplate(keys, sshOnly(target), 'verify', { image }, Verified, 'ImageFailed'),
    restore: async (target: OutOfBand, image: string) =>
      runTemplate(keys, sshOnly(target), 'restore', { image }, Ok, 'ImageFailed'),
    remove: async (target: OutOfBand, image: string) =>
      runTemplate(keys, sshOnly(target), 'delete', { image }, Ok, 'ImageFailed'),
    powerCycle: (target: OutOfBand) => power(target, 'powerCycle'),
    powerStatus: (target: OutOfBand) => power(target, 'powerStatus'),
    powerOn: (target: OutOfBand) => power(target, 'powerOn'),
    powerOff: (target: OutOfBand) => power(target, 'powerOff'),
  };
}
export type ControllerClient = ReturnType<typeof createControllerClient>;
