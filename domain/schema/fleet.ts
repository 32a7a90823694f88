/** The fleet: health checks, out-of-band controllers, hosts. */
import { z } from 'zod';
import {
  CONTROLLER_OPERATIONS,
  CONTROLLER_PRESET_NAMES,
  controllerCommands,
  type ControllerOperation,
} from '../controller-presets.js';
import { PositiveDuration } from '../duration.js';
import { Platform } from '../platform.js';
import { AbsolutePath, AeTitle, Command, HostPath, linearPatternProblem, Text } from '../text.js';
import { Name, Role, SshEndpoint, TemplateValue } from './common.js';

export const HealthCheck = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('command'),
    name: Name,
    command: Command,
    expectExitCode: z.number().int().min(0).max(255).default(0),
    timeout: PositiveDuration.default(10_000),
  }),
  z.strictObject({
    kind: z.literal('tcp'),
    name: Name,
    port: z.number().int().min(1).max(65535),
    timeout: PositiveDuration.default(3_000),
  }),
  z.strictObject({
    kind: z.literal('dicom-echo'),
    name: Name,
    port: z.number().int().min(1).max(65535).default(104),
    /** Defaults to the host's own `dicomAet`. */
    calledAet: AeTitle.optional(),
    callingAet: AeTitle.default('ROLLOUT'),
    timeout: PositiveDuration.default(5_000),
  }),
  z.strictObject({
    kind: z.literal('http'),
    name: Name,
    scheme: z.enum(['http', 'https']).default('https'),
    port: z.number().int().min(1).max(65535).optional(),
    path: Text(1024)
      .refine((p) => p.startsWith('/'), 'must start with "/"')
      .default('/'),
    expectStatus: z.number().int().min(100).max(599).default(200),
    /**
     * A pattern the response body must match, run by a linear-time matcher (domain/linear-regex.ts):
     * JavaScript syntax without backreferences or lookaround.
     */
    bodyMatch: Text(500)
      .superRefine((r, ctx) => {
        const problem = linearPatternProblem(r);
        if (problem) ctx.addIssue({ code: 'custom', message: `not a usable pattern: ${problem}` });
      })
      .optional(),
    /** Accept a self-signed certificate (TLS still encrypts; the server is not authenticated). */
    insecureTls: z.boolean().default(false),
    timeout: PositiveDuration.default(5_000),
  }),
  z.strictObject({
    kind: z.literal('service'),
    name: Name,
    service: TemplateValue,
    /**
     * systemd: `systemctl is-active`; windows: `Get-Service`, status Running; process: a process with this
     * exact name runs (`pgrep -x`, `Get-Process`). Default: systemd on POSIX hosts, windows on Windows.
     */
    manager: z.enum(['systemd', 'windows', 'process']).optional(),
    timeout: PositiveDuration.default(10_000),
  }),
  z.strictObject({
    kind: z.literal('path'),
    name: Name,
    path: HostPath,
    /** `mount` (a mount point) is POSIX only. */
    type: z.enum(['file', 'directory', 'mount']).default('file'),
    timeout: PositiveDuration.default(10_000),
  }),
]);
export type HealthCheck = z.infer<typeof HealthCheck>;

/**
 * An out-of-band controller reached over SSH (hypervisor, storage host, management host, the lab
 * controller): a `preset` (see domain/controller-presets.ts) and/or its own command templates. `{host}`,
 * `{image}` and each param are replaced by shell-quoted values; every command prints one JSON object.
 */
export const SshController = z.strictObject({
  id: Name,
  kind: z.literal('ssh').default('ssh'),
  ...SshEndpoint,
  /** The controller's own platform: `windows` for a Hyper-V host (its templates are PowerShell). Default: its preset's, else posix. */
  platform: Platform.optional(),
  jumpHost: Name.optional(),
  preset: z.enum(CONTROLLER_PRESET_NAMES).optional(),
  params: z.record(z.string().regex(/^[a-zA-Z]+$/, 'use letters only'), TemplateValue).default({}),
  commands: z
    .strictObject(
      Object.fromEntries(CONTROLLER_OPERATIONS.map((op) => [op, Command.optional()])) as Record<
        ControllerOperation,
        z.ZodOptional<typeof Command>
      >,
    )
    .default({}),
});
export type SshController = z.infer<typeof SshController>;

/** A BMC driven over the Redfish HTTP API from the worker: power only. */
export const RedfishController = z.strictObject({
  id: Name,
  kind: z.literal('redfish'),
  /**
   * e.g. https://bmc-archive-01.mgmt.hospital.example. Plain http only to a loopback address (a test
   * BMC); the worker sends credentials only to BMCs its key store lists for them.
   */
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .max(512)
    .refine((u) => {
      const url = new URL(u);
      return !url.username && !url.password;
    }, "must not hold a user name or password (they belong in the worker's key store)")
    .refine((u) => {
      const url = new URL(u);
      return url.protocol === 'https:' || /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(url.hostname);
    }, 'must be https (plain http only to a loopback address)'),
  /** The system's ID under /redfish/v1/Systems/; `{host}` is the host's machine name. */
  systemId: TemplateValue.default('{host}'),
  /** Names `<keyDir>/<credential>` on the worker, holding `user:password`. */
  credential: Name,
  resetType: z.enum(['ForceRestart', 'GracefulRestart', 'PowerCycle']).default('ForceRestart'),
  /** A PEM file on the worker with the CA that signed the BMC's certificate (a hospital CA, say). */
  caFile: AbsolutePath.optional(),
  insecureTls: z.boolean().default(false),
  timeout: PositiveDuration.default(30_000),
});
export type RedfishController = z.infer<typeof RedfishController>;

/**
 * A VMware vCenter or ESXi host driven from the worker with govc: snapshots (without memory), revert,
 * remove, power. Hosts name their VM by inventory path (`vmPath`).
 */
export const VsphereController = z.strictObject({
  id: Name,
  kind: z.literal('vsphere'),
  /** The vSphere API endpoint, e.g. https://vcenter.hospital.example/sdk. */
  url: z
    .url()
    .max(512)
    .refine((u) => new URL(u).protocol === 'https:', 'must be https (the vSphere password is sent there)')
    .refine((u) => {
      const url = new URL(u);
      return !url.username && !url.password;
    }, "must not hold a user name or password (they belong in the worker's key store)"),
  /** Names a `vsphere` credential (`user:password`) in the worker's key store, allowed for this URL. */
  credential: Name,
  /** A PEM file on the worker with the CA that signed vCenter's certificate. */
  caFile: AbsolutePath.optional(),
  /** Accept any certificate (a lab); TLS still encrypts but vCenter is not authenticated. */
  insecureTls: z.boolean().default(false),
  /** Quiesce the guest's file systems through VMware Tools when saving the image. */
  quiesce: z.boolean().default(false),
  timeout: PositiveDuration.default(600_000),
});
export type VsphereController = z.infer<typeof VsphereController>;

export const Controller = z.discriminatedUnion('kind', [SshController, RedfishController, VsphereController]);
export type Controller = z.infer<typeof Controller>;

/** The operations a controller cannot do, from its kind, preset and own templates. */
export function controllerLacks(
  controller: Controller,
  operations: readonly ControllerOperation[],
): string[] {
  switch (controller.kind) {
    case 'redfish':
      return operations.filter((op) => !['powerCycle', 'powerStatus', 'powerOn', 'powerOff'].includes(op));
    case 'vsphere':
      return [];
    case 'ssh': {
      const commands = controllerCommands(controller.preset, controller.commands);
      return operations.filter((op) => commands[op] === undefined);
    }
  }
}

export const Host = z.strictObject({
  id: Name,
  ...SshEndpoint,
  /**
   * `windows`: reached over Windows' OpenSSH Server; every command is PowerShell, sent as
   * `powershell.exe -EncodedCommand` (see README "Windows hosts"). Every host must match the patch.
   */
  platform: Platform.default('posix'),
  jumpHost: Name.optional(),
  /** The host's name at its image provider and power controller (VM, dataset, BMC system); default `id`. */
  machine: TemplateValue.optional(),
  /** The VM's inventory path at a vSphere controller, e.g. /DC1/vm/Radiology/rr-ws-01. */
  vmPath: Text(512)
    .refine(
      (p) => p.startsWith('/') && !p.split('/').includes('..'),
      'use an inventory path like /DC1/vm/ws-01',
    )
    // govc reads an inventory path as a pattern: a wildcard could power off every VM it matches.
    .refine((p) => !/[*?[\]]/.test(p), 'must name one VM: no wildcard characters (* ? [ ])')
    .optional(),
  role: Role,
  /** Operating system and service-pack level, checked against the patch's prerequisites. */
  os: Text(100).optional(),
  servicePack: z.number().int().min(0).max(1_000).optional(),
  site: Text(100).optional(),
  redundancyGroup: Name.optional(),
  /** Default out-of-band controller: image provider and power controller unless set separately. */
  controller: Name,
  /** Controller that saves and restores this host's disk image; defaults to `controller`. */
  imageProvider: Name.optional(),
  /** Controller that power-cycles this host; defaults to `controller`. */
  powerController: Name.optional(),
  /** Name of a campaign maintenance window; defaults to the campaign's `defaultMaintenanceWindow`. */
  maintenanceWindow: Name.optional(),
  /** Patch IDs the inventory already records as installed; the planner leaves such hosts out. */
  installedPatches: z.array(Name).max(500).default([]),
  /**
   * Prints an ID that changes on every boot; proves a reboot really happened. Default: the kernel's boot
   * ID on POSIX, `LastBootUpTime` on Windows (domain/platform.ts).
   */
  bootIdCommand: Command.optional(),
  /** The host's DICOM application entity title, the called AE of its C-ECHO check. */
  dicomAet: AeTitle.optional(),
  healthChecks: z.array(Name).max(50).default([]),
});
export type Host = z.infer<typeof Host>;
