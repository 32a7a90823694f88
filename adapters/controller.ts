/**
 * Out-of-band image and power control, which works when the host itself cannot boot: a controller
 * reached over SSH (hypervisor, storage or management host, a Hyper-V host, the lab controller) runs the
 * command templates of its preset and its own, in its platform's dialect; a Redfish BMC is driven over
 * HTTP and a vSphere vCenter with govc, both from the worker. Every command template prints one JSON
 * object on its last line of stdout.
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
import { controllerPlatform } from '../domain/platform-rules.js';
import {
  ImageRecord,
  type Controller,
  type JumpHost,
  type SshController,
  type VsphereController,
} from '../domain/schema.js';
import { dialectFor } from './dialects/index.js';
import { renderTemplate } from './dialects/dialect.js';
import { redfishPower, type PowerOperation } from './redfish.js';
import { sshTarget, type KeyStore } from './ssh.js';
import { directSsh, type SshConnector } from './ssh-pool.js';
import {
  vspherePower,
  vsphereRemove,
  vsphereRevert,
  vsphereSnapshot,
  vsphereVerify,
  type GovcRun,
  type GovcTool,
} from './vsphere.js';

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
  /** The VM's inventory path, for a vSphere controller. */
  vmPath?: string | undefined;
  jumpHosts: JumpHost[];
}

type Via<C extends Controller> = OutOfBand & { controller: C };

/** A kind the switch does not handle: the compiler refuses it (the argument must be `never`). */
function unknownKind(kind: never): never {
  throw new RolloutError('ImageFailed', `unknown controller kind ${String(kind)}`);
}

/** Controllers in inputs recorded before `kind` existed are SSH controllers. */
function kindOf(controller: Controller): Controller['kind'] {
  return (controller as Partial<Controller>).kind ?? 'ssh';
}

/** Fills `{host}` into the params (raw: they are quoted as a whole when rendered). */
function templateValues(controller: SshController, machine: string, extra: Record<string, string>) {
  const values: Record<string, string> = { host: machine, ...extra };
  for (const [name, value] of Object.entries(controllerParams(controller.preset, controller.params)))
    if (value !== undefined) values[name] = value.replaceAll('{host}', machine);
  return values;
}

async function runTemplate<T>(
  connector: SshConnector,
  target: Via<SshController>,
  operation: ControllerOperation,
  extra: Record<string, string>,
  schema: z.ZodType<T>,
  failure: 'ImageFailed' | 'PowerFailed',
): Promise<T> {
  const { controller } = target;
  const template = controllerCommands(controller.preset, controller.commands)[operation];
  if (!template) throw new RolloutError(failure, `controller ${controller.id} has no ${operation} command`);
  const platform = controllerPlatform(controller);
  const command = renderTemplate(
    dialectFor(platform).quote,
    template,
    templateValues(controller, target.machine, extra),
  );
  const ssh = sshTarget(`controller ${controller.id}`, { ...controller, platform }, target.jumpHosts);
  return connector.use(ssh, async (session) => {
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

export interface ControllerClientOptions {
  /** govc for vSphere controllers (runtime/config.ts `Settings.govc`). */
  govc?: GovcTool;
  /** How SSH controllers are reached (default: a new session per command). */
  ssh?: SshConnector;
}

/** The operations every controller kind offers (or refuses with the reason), dispatched by kind. */
export function createControllerClient(keys: KeyStore, options: ControllerClientOptions = {}) {
  const connector = options.ssh ?? directSsh(keys);
  const govcRun = async (controller: VsphereController): Promise<GovcRun> => ({
    govc: options.govc ?? { binary: 'govc', home: '/tmp' },
    controller,
    secret: await keys.secretFor(controller.credential, 'vsphere', controller.url),
  });
  const vmPathOf = (target: OutOfBand): string => {
    if (!target.vmPath)
      throw new RolloutError(
        'ImageFailed',
        `controller ${target.controller.id} is a vSphere controller and host ${target.machine} has no vmPath`,
      );
    return target.vmPath;
  };
  const noImages = (target: OutOfBand): never => {
    throw new RolloutError(
      'ImageFailed',
      `controller ${target.controller.id} (${target.controller.kind}) cannot handle images`,
    );
  };

  const power = async (target: OutOfBand, operation: PowerOperation): Promise<PowerStatus> => {
    const controller = target.controller;
    const kind = kindOf(controller);
    switch (kind) {
      case 'redfish':
        if (controller.kind !== 'redfish') break;
        return redfishPower(
          controller,
          target.machine,
          await keys.secretFor(controller.credential, 'http-basic', controller.baseUrl),
          operation,
        );
      case 'vsphere':
        if (controller.kind !== 'vsphere') break;
        return vspherePower(await govcRun(controller), vmPathOf(target), operation);
      case 'ssh': {
        const status = await runTemplate(
          connector,
          target as Via<SshController>,
          operation,
          {},
          PowerStatus,
          'PowerFailed',
        );
        return { power: status.power };
      }
      default:
        return unknownKind(kind);
    }
    throw new RolloutError('PowerFailed', `controller ${controller.id} has an unknown kind`);
  };

  type ImageOperation = 'snapshot' | 'verify' | 'restore' | 'delete';
  async function image(target: OutOfBand, operation: 'snapshot'): Promise<ImageRecord>;
  async function image(target: OutOfBand, operation: 'verify', id: string): Promise<z.infer<typeof Verified>>;
  async function image(
    target: OutOfBand,
    operation: 'restore' | 'delete',
    id: string,
  ): Promise<{ ok: boolean }>;
  async function image(target: OutOfBand, operation: ImageOperation, id = ''): Promise<unknown> {
    const controller = target.controller;
    const kind = kindOf(controller);
    switch (kind) {
      case 'redfish':
        return noImages(target);
      case 'vsphere': {
        if (controller.kind !== 'vsphere') break;
        const run = await govcRun(controller);
        const vm = vmPathOf(target);
        if (operation === 'snapshot') return vsphereSnapshot(run, vm);
        if (operation === 'verify') return vsphereVerify(run, vm, id);
        if (operation === 'restore') return vsphereRevert(run, vm, id);
        return vsphereRemove(run, vm, id);
      }
      case 'ssh': {
        const via = target as Via<SshController>;
        if (operation === 'snapshot')
          return runTemplate(connector, via, 'snapshot', {}, ImageRecord, 'ImageFailed');
        const schema = operation === 'verify' ? Verified : Ok;
        return runTemplate(connector, via, operation, { image: id }, schema, 'ImageFailed');
      }
      default:
        return unknownKind(kind);
    }
    throw new RolloutError('ImageFailed', `controller ${controller.id} has an unknown kind`);
  }

  return {
    snapshot: (target: OutOfBand) => image(target, 'snapshot'),
    verify: (target: OutOfBand, id: string) => image(target, 'verify', id),
    restore: (target: OutOfBand, id: string) => image(target, 'restore', id),
    remove: (target: OutOfBand, id: string) => image(target, 'delete', id),
    powerCycle: (target: OutOfBand) => power(target, 'powerCycle'),
    powerStatus: (target: OutOfBand) => power(target, 'powerStatus'),
    powerOn: (target: OutOfBand) => power(target, 'powerOn'),
    powerOff: (target: OutOfBand) => power(target, 'powerOff'),
  };
}
export type ControllerClient = ReturnType<typeof createControllerClient>;
