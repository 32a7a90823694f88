/**
 * The single source of domain types: every value that crosses an edge (campaign files, workflow inputs,
 * activity results, queries, update arguments) is one of these schemas, and its TypeScript type has the
 * same name (`export const Host = z.object(...)`, `export type Host = z.infer<typeof Host>`).
 */
import { z } from 'zod';
import {
  CONTROLLER_OPERATIONS,
  CONTROLLER_PRESET_NAMES,
  controllerCommands,
  controllerParams,
  IMAGE_OPERATIONS,
  POWER_OPERATIONS,
  type ControllerOperation,
} from './controller-presets.js';
import { Duration, PositiveDuration } from './duration.js';
import {
  AbsolutePath,
  Address,
  AeTitle,
  Command,
  Identity,
  linearPatternProblem,
  HostPath,
  LongText,
  ProtectedHostPath,
  Text,
} from './text.js';
import { Platform, WindowsPatch } from './platform.js';
import { platformIssues } from './platform-rules.js';

/** What one campaign file may hold: beyond these it is a mistake (or an attack), not a fleet. */
export const LIMITS = {
  fileBytes: 4 * 1024 * 1024,
  depth: 32,
  hosts: 20_000,
  controllers: 1_000,
  jumpHosts: 100,
  healthChecks: 200,
  people: 200,
} as const;

const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use 1-63 lower-case letters, digits, ".", "_" or "-"');

/** An SSH host key fingerprint as `ssh-keygen -lf` prints it: "SHA256:" + unpadded base64. */
export const HostKeyFingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must be a SHA256 fingerprint as printed by ssh-keygen -lf');

export const Sha256 = z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lower-case hex digits');

export const Role = z.enum([
  'archive',
  'database',
  'nas',
  'diagnostic-workstation',
  'qa-workstation',
  'test-system',
  'web',
  'other',
]);
export type Role = z.infer<typeof Role>;

/**
 * How to reach a machine over SSH. The key itself is never here: `credential` names a key the worker
 * holds (`agent` means the worker's SSH agent). Without `hostKey`, the worker's known_hosts file must
 * list the machine; an unknown or different key is refused either way.
 */
const SshEndpoint = {
  address: Address,
  port: z.number().int().min(1).max(65535).default(22),
  /** A Unix user, or a Windows one: `name`, `DOMAIN\\name` or `name@domain`. */
  user: z
    .string()
    .regex(
      /^(?:[A-Za-z0-9][A-Za-z0-9.-]{0,14}\\)?[A-Za-z0-9_][A-Za-z0-9._-]{0,63}(?:@[A-Za-z0-9][A-Za-z0-9.-]{0,252})?$/,
      'must be a user name (Unix, or Windows: name, DOMAIN\\name or name@domain)',
    ),
  hostKey: HostKeyFingerprint.optional(),
  credential: Name.default('default'),
};

/** A bastion that SSH connections to hosts and controllers may go through (one hop). */
export const JumpHost = z.strictObject({ id: Name, ...SshEndpoint });
export type JumpHost = z.infer<typeof JumpHost>;

/** A value that may be pasted into a template: no quotes, spaces or shell syntax, never an option. */
const TemplateValue = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._/:@{}+=,-]+$/, 'use letters, digits and . _ / : @ + = , - only')
  .refine((v) => !v.startsWith('-'), 'must not start with "-" (a tool would read it as an option)');

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

export const Patch = z.strictObject({
  id: Name,
  version: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/, 'use letters, digits and . _ + ~ - (e.g. 1.1.0)'),
  artifact: z.strictObject({
    /** On the worker, inside one of its artifact directories (ROLLOUT_ARTIFACT_DIRS). */
    path: AbsolutePath,
    sha256: Sha256,
  }),
  /**
   * Run on the host; `{artifact}` is the uploaded file's path, `{version}` the target version. POSIX
   * patches only: a Windows patch is installed by its `windows.package`.
   */
  installCommand: Command.optional(),
  /**
   * Prints the installed version; equal to `version` means the host is patched. A Windows patch with a
   * `windows.kb` may leave it out: the KB decides.
   */
  versionCommand: Command.optional(),
  /** A Windows patch: its package kind, KB and pending-reboot policy. Every target host must be Windows. */
  windows: WindowsPatch.optional(),
  /**
   * Hosts whose inventory does not meet these are left out of the plan, with the reason. Preflight
   * measures them again on the host (with the commands, when given) and ends a host that falls short
   * as `prerequisite-failed`, with the measured value, before anything is changed.
   */
  prerequisites: z
    .strictObject({
      minServicePack: z.number().int().min(0).max(1_000).optional(),
      os: z.array(Text(100).min(1)).min(1).max(20).optional(),
      /** Prints the service-pack level as an integer. */
      servicePackCommand: Command.optional(),
      /** Prints the operating system's name, compared with `os`. */
      osCommand: Command.optional(),
      /** Free space needed on the file system holding `path` (on the host). */
      minFreeDisk: z
        .strictObject({
          path: HostPath,
          mebibytes: z
            .number()
            .int()
            .positive()
            .max(1 << 30),
        })
        .optional(),
    })
    .default({}),
  /**
   * Paths the patch must not change (the clinical image store, say): their checksum profile is taken
   * before install and compared after; any change fails the host and is listed file by file.
   */
  integrity: z
    .strictObject({
      protectedPaths: z.array(ProtectedHostPath).max(50).default([]),
      /** sha256: hash every file (catches any byte); metadata: size and mtime only, for very large stores. */
      mode: z.enum(['sha256', 'metadata']).default('sha256'),
      /** Files added under a protected path (new studies arriving) are not a change. */
      allowNewFiles: z.boolean().default(false),
      timeout: PositiveDuration.default(1_800_000),
    })
    .default({ protectedPaths: [], mode: 'sha256', allowNewFiles: false, timeout: 1_800_000 }),
  reboots: z.boolean().default(true),
  /**
   * Health checks after install and after a rollback run up to `attempts` times, `interval` apart,
   * until they pass: services may still be starting when SSH answers after a boot.
   */
  healthRetry: z
    .strictObject({
      attempts: z.number().int().min(1).max(30).default(3),
      interval: Duration.default(10_000),
    })
    .default({ attempts: 3, interval: 10_000 }),
  installTimeout: PositiveDuration.default(1_800_000),
  /** Time given to a host to go down after the reboot trigger, before polling starts. */
  rebootGrace: Duration.default(5_000),
  bootTimeout: PositiveDuration.default(900_000),
});
export type Patch = z.infer<typeof Patch>;

export const PersonRole = z.enum(['vendor', 'operator', 'on-call', 'auditor']);
export type PersonRole = z.infer<typeof PersonRole>;

/** A person who may act on the campaign, and in which roles. Identities are e-mail-like names. */
export const Person = z.strictObject({
  identity: Identity,
  roles: z.array(PersonRole).min(1).max(4),
});
export type Person = z.infer<typeof Person>;

/**
 * An approval gate: before `beforeWave` starts (default: the first wave), `required` distinct people
 * allowed by `roles` or `identities` must approve. The gate expires `expiresAfter` after it opens;
 * reminders go out at each offset in `reminders`.
 */
export const ApprovalStage = z.strictObject({
  stage: Name,
  beforeWave: Name.optional(),
  roles: z.array(PersonRole).max(4).default(['vendor']),
  identities: z.array(Identity).max(50).default([]),
  required: z.number().int().min(1).max(10).default(1),
  expiresAfter: PositiveDuration.default(259_200_000),
  reminders: z.array(PositiveDuration).max(20).default([86_400_000]),
});
export type ApprovalStage = z.infer<typeof ApprovalStage>;

export const WaveSpec = z.strictObject({
  name: Name,
  /** Number of hosts, or a percentage ("50%") of the targets; the last wave always takes the rest. */
  size: z.union([
    z.number().int().positive().max(LIMITS.hosts),
    z
      .string()
      .regex(/^\d{1,3}%$/, 'use a percentage like "25%"')
      .refine((p) => Number(p.slice(0, -1)) >= 1 && Number(p.slice(0, -1)) <= 100, 'use 1% to 100%'),
  ]),
});
export type WaveSpec = z.infer<typeof WaveSpec>;

export const TargetSelector = z.strictObject({
  roles: z.array(Role).max(20).optional(),
  groups: z.array(Name).max(LIMITS.hosts).optional(),
  sites: z.array(Text(100)).max(1_000).optional(),
  hosts: z.array(Name).max(LIMITS.hosts).optional(),
});
export type TargetSelector = z.infer<typeof TargetSelector>;

export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
export type Weekday = z.infer<typeof Weekday>;

const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use 24-hour HH:MM');

/** Hosts may start patching only while their window is open. `end` before `start` crosses midnight. */
export const MaintenanceWindow = z
  .strictObject({
    name: Name,
    days: z.array(Weekday).min(1, 'name at least one day'),
    start: ClockTime,
    end: ClockTime,
    timeZone: z.string().refine(isTimeZone, 'unknown IANA time zone'),
  })
  .refine((w) => w.start !== w.end, { path: ['end'], message: 'must differ from start' });
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** How many members of a redundancy group may be unavailable (in flight or needing attention) at once. */
export const RedundancyGroup = z
  .strictObject({
    name: Name,
    maxUnavailable: z.number().int().min(0).optional(),
    minAvailable: z.number().int().min(0).optional(),
  })
  .refine((g) => g.maxUnavailable === undefined || g.minAvailable === undefined, {
    message: 'give maxUnavailable or minAvailable, not both',
  });
export type RedundancyGroup = z.infer<typeof RedundancyGroup>;

export const SoakCriteria = z.strictObject({
  /** Failed probes tolerated for a pass. */
  maxFailedProbes: z.number().int().min(0).default(0),
  /** This many failed probes in a row end the soak at once with "fail". */
  failAfterConsecutive: z.number().int().min(1).default(3),
  /** Share of the scheduled probes that must have run (0-1); fewer makes the verdict inconclusive. */
  minCoverage: z.number().min(0).max(1).default(0.9),
});
export type SoakCriteria = z.infer<typeof SoakCriteria>;

const SOAK_DEFAULT = {
  duration: 172_800_000,
  probeInterval: 900_000,
  missedProbes: 'extend' as const,
};

export const CampaignSpec = z.strictObject({
  name: Text(80).min(1),
  /** Who may approve, operate and handle failed hosts. The campaign's starter is always an operator. */
  people: z.array(Person).max(LIMITS.people).default([]),
  targets: TargetSelector.default({}),
  testHosts: z.array(Name).min(1, 'name at least one test system').max(20),
  soak: z
    .strictObject({
      duration: PositiveDuration.default(SOAK_DEFAULT.duration),
      probeInterval: PositiveDuration.default(SOAK_DEFAULT.probeInterval),
      passCriteria: SoakCriteria.default(SoakCriteria.parse({})),
      /**
       * Probes that could not run (the orchestrator was down, a probe errored): `extend` the soak to make
       * them up, at most `maxExtension` (default a quarter of the duration), recorded in the evidence;
       * `review` leaves the short coverage to a person's soak review.
       */
      missedProbes: z.enum(['extend', 'review']).default(SOAK_DEFAULT.missedProbes),
      maxExtension: Duration.optional(),
    })
    .default({ ...SOAK_DEFAULT, passCriteria: SoakCriteria.parse({}) }),
  approvals: z.array(ApprovalStage).min(1, 'name at least one approval stage').max(20),
  waves: z
    .array(WaveSpec)
    .min(1)
    .max(50)
    .default([
      { name: 'canary', size: 1 },
      { name: 'rest', size: '100%' },
    ]),
  concurrency: z.number().int().positive().max(500).default(5),
  /** Failed hosts tolerated before the campaign pauses in needs-decision (the lower limit wins). */
  failureBudget: z
    .strictObject({
      maxFailures: z.number().int().min(0).optional(),
      maxFailedPercent: z.number().min(0).max(100).optional(),
    })
    .default({ maxFailures: 1 }),
  redundancy: z
    .strictObject({
      defaultMaxUnavailable: z.number().int().min(0).default(1),
      groups: z.array(RedundancyGroup).max(LIMITS.hosts).default([]),
    })
    .default({ defaultMaxUnavailable: 1, groups: [] }),
  maintenanceWindows: z.array(MaintenanceWindow).max(50).default([]),
  /** Window for hosts that name none; without it such hosts may start at any time. */
  defaultMaintenanceWindow: Name.optional(),
  rollback: z
    .strictObject({
      /** automatic: restore the saved image at once; manual: leave the host for on-call. */
      onHostFailure: z.enum(['automatic', 'manual']).default('automatic'),
      /** Restore the test system's image when its soak fails. */
      testSystemOnSoakFailure: z.boolean().default(true),
    })
    .default({ onHostFailure: 'automatic', testSystemOnSoakFailure: true }),
});
export type CampaignSpec = z.infer<typeof CampaignSpec>;

/** The operator's input file (YAML or JSON). */
export const CampaignFile = z
  .strictObject({
    apiVersion: z.literal('rollout/v1'),
    fleet: z.strictObject({
      jumpHosts: z.array(JumpHost).max(LIMITS.jumpHosts).default([]),
      controllers: z.array(Controller).min(1).max(LIMITS.controllers),
      healthChecks: z.array(HealthCheck).max(LIMITS.healthChecks).default([]),
      hosts: z.array(Host).min(1).max(LIMITS.hosts, `at most ${LIMITS.hosts} hosts in one campaign file`),
    }),
    patch: Patch,
    campaign: CampaignSpec,
  })
  .superRefine((file, ctx) => {
    const unique = (ids: string[], path: (string | number)[], what: string, key = 'id') => {
      const seen = new Set<string>();
      ids.forEach((id, i) => {
        if (seen.has(id))
          ctx.addIssue({ code: 'custom', path: [...path, i, key], message: `duplicate ${what} "${id}"` });
        seen.add(id);
      });
    };
    unique(
      file.fleet.hosts.map((h) => h.id),
      ['fleet', 'hosts'],
      'host id',
    );
    unique(
      file.fleet.controllers.map((c) => c.id),
      ['fleet', 'controllers'],
      'controller id',
    );
    const hosts = new Set(file.fleet.hosts.map((h) => h.id));
    const controllers = new Set(file.fleet.controllers.map((c) => c.id));
    const checks = new Map(file.fleet.healthChecks.map((c) => [c.name, c]));
    const windows = new Set(file.campaign.maintenanceWindows.map((w) => w.name));
    const waveNames = new Set(file.campaign.waves.map((w) => w.name));
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    unique(
      file.fleet.jumpHosts.map((j) => j.id),
      ['fleet', 'jumpHosts'],
      'jump host id',
    );
    const jumpHosts = new Set(file.fleet.jumpHosts.map((j) => j.id));
    const byId = new Map(file.fleet.controllers.map((c) => [c.id, c]));
    file.fleet.controllers.forEach((c, i) => {
      if (c.kind !== 'ssh') return;
      if (c.jumpHost && !jumpHosts.has(c.jumpHost))
        issue(['fleet', 'controllers', i, 'jumpHost'], `unknown jump host "${c.jumpHost}"`);
      for (const [param, value] of Object.entries(controllerParams(c.preset, c.params)))
        if (value === undefined)
          issue(['fleet', 'controllers', i, 'params', param], `preset "${c.preset}" needs param "${param}"`);
    });
    const needs = (id: string, what: 'image' | 'power') => {
      const c = byId.get(id);
      return c ? controllerLacks(c, what === 'image' ? IMAGE_OPERATIONS : POWER_OPERATIONS) : [];
    };
    file.fleet.hosts.forEach((host, i) => {
      for (const key of ['controller', 'imageProvider', 'powerController'] as const) {
        const id = host[key];
        if (id !== undefined && !controllers.has(id))
          issue(['fleet', 'hosts', i, key], `unknown controller "${id}"`);
      }
      if (host.jumpHost && !jumpHosts.has(host.jumpHost))
        issue(['fleet', 'hosts', i, 'jumpHost'], `unknown jump host "${host.jumpHost}"`);
      const imageId = host.imageProvider ?? host.controller;
      const missingImage = needs(imageId, 'image');
      if (missingImage.length)
        issue(
          ['fleet', 'hosts', i, host.imageProvider ? 'imageProvider' : 'controller'],
          `controller "${imageId}" cannot ${missingImage.join(', ')} images; set imageProvider to one that can`,
        );
      const powerId = host.powerController ?? host.controller;
      const missingPower = needs(powerId, 'power');
      if (missingPower.length)
        issue(
          ['fleet', 'hosts', i, host.powerController ? 'powerController' : 'controller'],
          `controller "${powerId}" has no ${missingPower.join(', ')} command; set powerController to one that has`,
        );
      if (host.maintenanceWindow && !windows.has(host.maintenanceWindow))
        issue(
          ['fleet', 'hosts', i, 'maintenanceWindow'],
          `unknown maintenance window "${host.maintenanceWindow}"`,
        );
      host.healthChecks.forEach((name, j) => {
        const check = checks.get(name);
        if (!check)
          ctx.addIssue({
            code: 'custom',
            path: ['fleet', 'hosts', i, 'healthChecks', j],
            message: `unknown health check "${name}"`,
          });
        else if (check.kind === 'dicom-echo' && !check.calledAet && !host.dicomAet)
          ctx.addIssue({
            code: 'custom',
            path: ['fleet', 'hosts', i, 'dicomAet'],
            message: `health check "${name}" needs the host's DICOM AE title (or calledAet on the check)`,
          });
      });
    });
    const testSystems = new Set<string>();
    file.campaign.testHosts.forEach((id, i) => {
      if (!hosts.has(id))
        ctx.addIssue({ code: 'custom', path: ['campaign', 'testHosts', i], message: `unknown host "${id}"` });
      else if (testSystems.has(id)) issue(['campaign', 'testHosts', i], `"${id}" is listed twice`);
      testSystems.add(id);
    });
    file.campaign.targets.hosts?.forEach((id, i) => {
      if (!hosts.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['campaign', 'targets', 'hosts', i],
          message: `unknown host "${id}"`,
        });
    });
    unique(
      file.campaign.maintenanceWindows.map((w) => w.name),
      ['campaign', 'maintenanceWindows'],
      'window name',
      'name',
    );
    unique(
      file.campaign.waves.map((w) => w.name),
      ['campaign', 'waves'],
      'wave name',
      'name',
    );
    unique(
      file.campaign.approvals.map((a) => a.stage),
      ['campaign', 'approvals'],
      'stage',
      'stage',
    );
    unique(
      file.campaign.people.map((p) => p.identity),
      ['campaign', 'people'],
      'identity',
      'identity',
    );
    unique(
      file.campaign.redundancy.groups.map((g) => g.name),
      ['campaign', 'redundancy', 'groups'],
      'group',
      'name',
    );
    const { defaultMaintenanceWindow } = file.campaign;
    if (defaultMaintenanceWindow && !windows.has(defaultMaintenanceWindow))
      issue(
        ['campaign', 'defaultMaintenanceWindow'],
        `unknown maintenance window "${defaultMaintenanceWindow}"`,
      );
    const gateWaves = new Set<string>();
    file.campaign.approvals.forEach((gate, i) => {
      const wave = gate.beforeWave ?? file.campaign.waves[0]?.name;
      if (gate.beforeWave && !waveNames.has(gate.beforeWave))
        issue(['campaign', 'approvals', i, 'beforeWave'], `unknown wave "${gate.beforeWave}"`);
      else if (wave && gateWaves.has(wave))
        issue(['campaign', 'approvals', i, 'beforeWave'], `wave "${wave}" already has a gate`);
      if (wave) gateWaves.add(wave);
      if (i === 0 && gate.beforeWave && gate.beforeWave !== file.campaign.waves[0]?.name)
        issue(['campaign', 'approvals', 0, 'beforeWave'], 'the first gate must open before the first wave');
      gate.reminders.forEach((at, j) => {
        if (at <= 0 || at >= gate.expiresAfter)
          issue(
            ['campaign', 'approvals', i, 'reminders', j],
            'must fall after the gate opens and before it expires',
          );
      });
    });
    platformIssues(file, issue);
    const { maxExtension, duration } = file.campaign.soak;
    if (maxExtension !== undefined && maxExtension > duration)
      issue(['campaign', 'soak', 'maxExtension'], 'must be no longer than the soak duration');
    if (
      file.campaign.soak.probeInterval <= 0 ||
      file.campaign.soak.probeInterval > file.campaign.soak.duration
    )
      ctx.addIssue({
        code: 'custom',
        path: ['campaign', 'soak', 'probeInterval'],
        message: 'must be positive and no longer than the soak duration',
      });
  });
export type CampaignFile = z.infer<typeof CampaignFile>;

// ---- Runtime state: what workflows hold, report and return ----

export const HostState = z.enum([
  'pending',
  'preflight',
  'imaging',
  'uploading',
  'installing',
  'rebooting',
  'health-check',
  'patched',
  'already-patched',
  'rolling-back',
  'rolled-back',
  'needs-attention',
  'prerequisite-failed',
  'skipped',
  'marked-fixed',
]);
export type HostState = z.infer<typeof HostState>;

/** Host states after which the campaign will not touch the host again (unless on-call retries it). */
export const FINAL_HOST_STATES: readonly HostState[] = [
  'patched',
  'already-patched',
  'rolled-back',
  'needs-attention',
  'prerequisite-failed',
  'skipped',
  'marked-fixed',
];

export const CampaignState = z.enum([
  /** The worker is verifying the start and deriving the plan. */
  'admitting',
  'test-install',
  'soaking',
  'soak-review',
  'awaiting-approval',
  'rolling-out',
  'paused',
  'needs-decision',
  'needs-attention',
  'aborting',
  'completed',
  'test-failed',
  'soak-failed',
  'rejected',
  'approval-expired',
  'aborted',
  /** The patch artifact no longer matches the checksum that was tested and approved. */
  'artifact-changed',
  /** The worker could not verify the start (signature, plan, chain): nothing was touched. */
  'refused',
]);
export type CampaignState = z.infer<typeof CampaignState>;

export const TERMINAL_CAMPAIGN_STATES: readonly CampaignState[] = [
  'completed',
  'test-failed',
  'soak-failed',
  'rejected',
  'approval-expired',
  'aborted',
  'artifact-changed',
  'refused',
];

/** A saved disk image. `sha256` is there when the provider can checksum the image (lab: the archive). */
export const ImageRecord = z.strictObject({
  imageId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'not an image ID'),
  location: z.string(),
  sha256: Sha256.optional(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

export const CheckResult = z.strictObject({
  name: z.string(),
  ok: z.boolean(),
  durationMs: z.number(),
  detail: z.string(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const HealthReport = z.strictObject({
  ok: z.boolean(),
  at: z.string(),
  checks: z.array(CheckResult),
});
export type HealthReport = z.infer<typeof HealthReport>;

export const StepTiming = z.strictObject({ step: z.string(), startedAt: z.string(), durationMs: z.number() });
export type StepTiming = z.infer<typeof StepTiming>;

export const StepFailure = z.strictObject({ step: z.string(), type: z.string(), message: z.string() });
export type StepFailure = z.infer<typeof StepFailure>;

/** What preflight measured on the host. */
export const PreflightReport = z.strictObject({
  version: z.string(),
  bootId: z.string(),
  servicePack: z.number().optional(),
  os: z.string().optional(),
  freeDiskMiB: z.number().optional(),
  /** Windows: the OS build with its update revision, e.g. 19045.3803. */
  build: z.string().optional(),
  /** Windows: the reboot already pending before the install, and why (CBS, Windows Update, file renames). */
  pendingReboot: z.array(z.string()).optional(),
  /** Why the host does not meet the patch's prerequisites, with the measured value; absent when it does. */
  unmet: z.string().optional(),
});
export type PreflightReport = z.infer<typeof PreflightReport>;

export const IntegrityChange = z.strictObject({
  path: z.string(),
  change: z.enum(['modified', 'removed', 'added']),
});
export type IntegrityChange = z.infer<typeof IntegrityChange>;

/** A protected-path profile: taken before install (kept on the host) and compared after. */
export const IntegrityReport = z.strictObject({
  files: z.number(),
  /** SHA-256 of the whole profile. */
  digest: z.string(),
  /** At most 50 changes; `moreChanges` counts the rest. */
  changes: z.array(IntegrityChange),
  moreChanges: z.number(),
});
export type IntegrityReport = z.infer<typeof IntegrityReport>;

/** The outcome of one host workflow run: what the campaign report and the ledger record. */
export const HostOutcome = z.strictObject({
  campaignId: z.string(),
  hostId: z.string(),
  mode: z.enum(['patch', 'rollback']),
  state: HostState,
  fromVersion: z.string().optional(),
  toVersion: z.string().optional(),
  image: ImageRecord.optional(),
  failure: StepFailure.optional(),
  rollbackFailure: StepFailure.optional(),
  installOutputTail: z.string().optional(),
  preflight: PreflightReport.optional(),
  integrity: IntegrityReport.optional(),
  health: HealthReport.optional(),
  /** The host failed before anything on it was changed: not restored, not rebooted ("not changed"). */
  unchanged: z.boolean().optional(),
  timings: z.array(StepTiming),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type HostOutcome = z.infer<typeof HostOutcome>;

/** What one host workflow starts with: references only; it loads its host record from the store. */
export const HostRun = z.strictObject({
  campaignId: z.string(),
  fileSha256: Sha256,
  hostId: z.string(),
  mode: z.enum(['patch', 'rollback']),
  /** The image to restore (rollback mode). */
  image: ImageRecord.optional(),
  onFailure: z.enum(['automatic', 'manual']),
});
export type HostRun = z.infer<typeof HostRun>;

/** What one host's activities need: its own host record, its controllers, its checks, the patch. */
export const HostPatchInput = z.strictObject({
  campaignId: z.string(),
  host: z.custom<Host>(),
  imageProvider: z.custom<Controller>(),
  powerController: z.custom<Controller>(),
  /** The jump hosts this host and its controllers go through (records only, no keys). */
  jumpHosts: z.array(z.custom<JumpHost>()).default([]),
  healthChecks: z.array(z.custom<HealthCheck>()),
  patch: z.custom<Patch>(),
});
export type HostPatchInput = z.infer<typeof HostPatchInput>;

// ---- Plan: what the planner computes and the campaign workflow follows ----

/** A rollout host as the scheduler sees it: ID, redundancy group, maintenance window. */
export const WaveHost = z.strictObject({
  id: z.string(),
  group: z.string().optional(),
  window: z.string().optional(),
});
export type WaveHost = z.infer<typeof WaveHost>;

export const GatePlan = z.strictObject({
  stage: z.string(),
  beforeWave: z.number().int(),
  roles: z.array(PersonRole),
  identities: z.array(z.string()),
  required: z.number().int(),
  expiresAfterMs: z.number(),
  remindersMs: z.array(z.number()),
  /** The hosts this gate releases (up to the next gate): count and SHA-256 of their sorted IDs. */
  hostCount: z.number().int(),
  hostSetDigest: Sha256,
});
export type GatePlan = z.infer<typeof GatePlan>;

/** The plan without inventories: what the campaign workflow holds. Wave members are loaded per wave. */
export const PlanSummary = z.strictObject({
  name: z.string(),
  patch: z.strictObject({ id: z.string(), version: z.string(), sha256: Sha256 }),
  testHosts: z.array(z.string()),
  soak: z.strictObject({
    durationMs: z.number(),
    probeIntervalMs: z.number(),
    criteria: SoakCriteria,
    /** Absent in plans made before missed probes could be made up: those leave it to a review. */
    missedProbes: z.enum(['extend', 'review']).optional(),
    maxExtensionMs: z.number().optional(),
  }),
  waves: z.array(z.strictObject({ name: z.string(), size: z.number().int() })),
  gates: z.array(GatePlan),
  people: z.array(Person),
  concurrency: z.number().int(),
  failuresAllowed: z.number().int(),
  groupBudgets: z.record(z.string(), z.number().int()),
  windows: z.array(MaintenanceWindow),
  rollback: CampaignSpec.shape.rollback.unwrap(),
  rolloutHostCount: z.number().int(),
});
export type PlanSummary = z.infer<typeof PlanSummary>;

// ---- Campaign status: the query answer, the report, and what continue-as-new carries ----

export const SoakProbe = z.strictObject({
  at: z.string(),
  result: z.enum(['ok', 'failed', 'error']),
  failed: z.array(z.string()),
});
export type SoakProbe = z.infer<typeof SoakProbe>;

export const SoakVerdict = z.enum(['pass', 'fail', 'inconclusive']);
export type SoakVerdict = z.infer<typeof SoakVerdict>;

export const Decision = z.strictObject({
  at: z.string(),
  identity: z.string(),
  action: z.string(),
  hostId: z.string().optional(),
  note: z.string(),
});
export type Decision = z.infer<typeof Decision>;

export const ApprovalRecord = z.strictObject({
  stage: z.string(),
  decision: z.enum(['approved', 'rejected']),
  identity: z.string(),
  roles: z.array(z.string()),
  at: z.string(),
  comment: z.string(),
  /** What the approver saw: checksum, host set, soak verdict and probes. */
  artifactSha256: Sha256,
  hostSetDigest: Sha256,
  hostCount: z.number(),
  soakVerdict: z.string(),
  probesSeen: z.number(),
  failedProbesSeen: z.number(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

export const GateStatus = z.strictObject({
  stage: z.string(),
  beforeWave: z.number(),
  state: z.enum(['waiting', 'open', 'approved', 'rejected', 'expired']),
  required: z.number(),
  openedAt: z.string().optional(),
  expiresAt: z.string().optional(),
  hostCount: z.number(),
  hostSetDigest: Sha256,
  decisions: z.array(ApprovalRecord),
});
export type GateStatus = z.infer<typeof GateStatus>;

/** needs-decision is the failure budget being spent. */
export const NotificationKind = z.enum([
  'approval-requested',
  'approval-reminder',
  'gate-expired',
  'host-rolled-back',
  'needs-decision',
  'needs-attention',
  'finished',
]);
export type NotificationKind = z.infer<typeof NotificationKind>;

export const Notification = z.strictObject({
  at: z.string(),
  kind: NotificationKind,
  stage: z.string().optional(),
  hostId: z.string().optional(),
  to: z.array(z.string()),
  text: z.string(),
});
export type Notification = z.infer<typeof Notification>;

export const FailedHost = z.strictObject({
  hostId: z.string(),
  state: HostState,
  failure: StepFailure.optional(),
  rollbackFailure: StepFailure.optional(),
  image: ImageRecord.optional(),
  group: z.string().optional(),
  /** Failed before anything on it changed: nothing to restore. */
  unchanged: z.boolean().optional(),
});
export type FailedHost = z.infer<typeof FailedHost>;

export const CampaignStatus = z.strictObject({
  campaignId: z.string(),
  name: z.string(),
  state: CampaignState,
  /** Why the campaign is in this state, for people (e.g. the soak verdict's reason, a rejection). */
  reason: z.string().optional(),
  /** What the scheduler waits for when nothing starts (window, redundancy budget, pause). */
  waitingFor: z.string().optional(),
  startedBy: z.string(),
  /** Workflow time the campaign started and ended (absent in campaigns started before they were kept). */
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  fileSha256: Sha256,
  patch: z.strictObject({ id: z.string(), version: z.string(), sha256: Sha256 }),
  testHosts: z.array(z.string()),
  /** Images saved on the test systems, restored if the soak fails. */
  testImages: z.record(z.string(), ImageRecord),
  soak: z.strictObject({
    durationMs: z.number(),
    probeIntervalMs: z.number(),
    startedAt: z.string().optional(),
    endsAt: z.string().optional(),
    probes: z.array(SoakProbe),
    verdict: SoakVerdict.optional(),
    reason: z.string().optional(),
    /** How long the soak was extended to make up missed probes, and why. */
    extendedByMs: z.number().optional(),
    extension: z.string().optional(),
  }),
  gates: z.array(GateStatus),
  waves: z.array(z.strictObject({ name: z.string(), size: z.number() })),
  currentWave: z.number(),
  /** Test systems, the current wave's hosts and every failed host; totals are in `counts`. */
  hosts: z.record(z.string(), HostState),
  counts: z.record(z.string(), z.number()),
  failed: z.array(FailedHost),
  budget: z.strictObject({ allowed: z.number(), failed: z.number(), baseline: z.number() }),
  paused: z.boolean(),
  aborting: z.boolean(),
  decisions: z.array(Decision),
  notifications: z.array(Notification),
  runs: z.number(),
  /** Decisions that reached the workflow but failed verification (forged, replayed, unsigned). */
  forgedDecisions: z.number().optional(),
});
export type CampaignStatus = z.infer<typeof CampaignStatus>;

/** What a signature covers: each human action on a campaign (see domain/decisions.ts). */
export const DecisionAction = z.enum([
  'start',
  'approve',
  'reject',
  'review-soak',
  'pause',
  'resume',
  'abort',
  'host-action',
]);
export type DecisionAction = z.infer<typeof DecisionAction>;

/** Who signed a decision and how: it travels with the request it signs. */
export const Signature = z.strictObject({
  /** SHA-256 of the raw Ed25519 public key, hex: the key's ID in the rollout store. */
  keyId: Sha256,
  /** The 64-byte Ed25519 signature, base64. */
  value: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'an Ed25519 signature in base64'),
  at: z.iso.datetime(),
  /** 128 random bits, hex: a signature is good for one decision only. */
  nonce: z.string().regex(/^[0-9a-f]{32}$/, '32 hex digits'),
  /** The signed-in role the request was made in (service-key signatures attest it). */
  role: PersonRole,
  via: z.enum(['cli', 'api']),
});
export type Signature = z.infer<typeof Signature>;

/**
 * What the campaign workflow starts (or continues-as-new) with: references and counters. The workflow
 * trusts none of it: the worker verifies the start's signature, and derives the plan itself from the
 * stored file (by its checksum) on every run.
 */
export const CampaignInput = z.strictObject({
  campaignId: z.string(),
  startedBy: z.string().min(1),
  fileSha256: Sha256,
  /** The starter's signature over (start, campaign, file checksum, identity). */
  signature: Signature.optional(),
  /**
   * Runs started before the worker derived the plan carry it here; a start that sends one is refused
   * unless it is exactly the plan the worker derives from the stored file.
   */
  plan: PlanSummary.optional(),
  carry: z
    .strictObject({
      status: z.custom<CampaignStatus>(),
      /** Hosts of the current wave already finished before the last continue-as-new. */
      doneInWave: z.array(z.string()),
      /** Where the campaign was: the phase to resume in (the wave is status.currentWave). */
      phase: z.enum(['soak', 'rollout']),
    })
    .optional(),
});
export type CampaignInput = z.infer<typeof CampaignInput>;

// ---- Human actions (Update arguments) ----

export const ApprovalDecision = z.strictObject({
  stage: Name,
  identity: Identity,
  /** The patch checksum the approver saw; refused if it is not the campaign's. */
  artifactSha256: Sha256,
  /** The stage's host set the approver saw; refused if it is not the gate's. */
  hostSetDigest: Sha256,
  comment: LongText(2000).default(''),
  signature: Signature.optional(),
});
export type ApprovalDecision = z.input<typeof ApprovalDecision>;

export const Rejection = z.strictObject({
  stage: Name,
  identity: Identity,
  reason: LongText(2000).min(1, 'give a reason'),
  signature: Signature.optional(),
});
export type Rejection = z.infer<typeof Rejection>;

export const SoakReview = z.strictObject({
  identity: Identity,
  decision: z.enum(['accept', 'fail']),
  reason: LongText(2000).min(1, 'give a reason'),
  signature: Signature.optional(),
});
export type SoakReview = z.infer<typeof SoakReview>;

export const OperatorControl = z.strictObject({
  identity: Identity,
  reason: LongText(2000).default(''),
  signature: Signature.optional(),
});
export type OperatorControl = z.input<typeof OperatorControl>;

export const HostAction = z.strictObject({
  hostId: Name,
  action: z.enum(['retry', 'rollback', 'mark-fixed', 'skip']),
  identity: Identity,
  note: LongText(2000).default(''),
  signature: Signature.optional(),
});
export type HostAction = z.input<typeof HostAction>;

/** The campaign file's JSON Schema (input form: durations as text or milliseconds), for editors and CI. */
export function campaignFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(CampaignFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

// ---- People's interfaces: users, the audit log, the patch ledger ----

/** What a signed-in user may do across campaigns (the campaign file's people still decide per campaign). */
/** A signed-in user's role: the same four roles, spelt the same, as a campaign's people have. */
export const UserRole = PersonRole;
export type UserRole = z.infer<typeof UserRole>;

/** A user of the API and CLI: the identity their decisions are recorded under. */
export const UserName = Identity;

export const User = z.strictObject({
  name: UserName,
  role: UserRole,
  createdAt: z.string(),
  /** The token stops working at this time (rotate it with `rollout users rotate`). */
  expiresAt: z.string().optional(),
});
export type User = z.infer<typeof User>;

/** A public key the worker verifies decisions with: a person's own, or a service's (the API's). */
export const SigningKey = z.strictObject({
  keyId: Sha256,
  /** The person (a user name) or service (`service:<name>`) holding the private key. */
  owner: z.string().min(1).max(200),
  kind: z.enum(['personal', 'service']),
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
});
export type SigningKey = z.infer<typeof SigningKey>;

/** A decision whose signature the worker verified: the evidence of who decided what. */
export const VerifiedDecision = z.strictObject({
  campaignId: z.string(),
  nonce: z.string(),
  action: DecisionAction,
  identity: z.string(),
  role: z.string(),
  keyId: Sha256,
  keyKind: z.enum(['personal', 'service']),
  stage: z.string().optional(),
  hostId: z.string().optional(),
  at: z.string(),
  signature: z.string(),
  /** The exact signed message. */
  payload: z.string(),
});
export type VerifiedDecision = z.infer<typeof VerifiedDecision>;

/** Every human action the audit log records. */
export const AuditAction = z.enum([
  'start',
  'approve',
  'reject',
  'review-soak',
  'pause',
  'resume',
  'abort',
  'retry',
  'rollback',
  'mark-fixed',
  'skip',
  'user-add',
  'user-remove',
  'user-rotate',
  'key-register',
  'key-revoke',
  'sign-in',
  /** A refused read (a role asking for a view it may not see). */
  'view',
]);
export type AuditAction = z.infer<typeof AuditAction>;

/** One audit entry as it is appended: who did what, where, and whether it was accepted. */
export const AuditInput = z.strictObject({
  at: z.string(),
  actor: z.string(),
  /** The actor's role as authenticated (a user's role), or `unauthenticated` for a bare `--as`. */
  role: z.string(),
  /** Through which interface; `worker` when the worker refused a decision that reached it directly. */
  via: z.enum(['cli', 'api', 'worker']),
  action: AuditAction,
  campaignId: z.string().optional(),
  hostId: z.string().optional(),
  stage: z.string().optional(),
  outcome: z.enum(['accepted', 'refused']),
  /** The note or comment given, or why the action was refused. */
  detail: z.string(),
});
export type AuditInput = z.infer<typeof AuditInput>;

/** A stored audit entry: its place in the chain and the hash that links it to the one before. */
export const AuditEntry = AuditInput.extend({
  seq: z.number().int().positive(),
  prevHash: Sha256,
  hash: Sha256,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditVerdict = z.strictObject({
  ok: z.boolean(),
  entries: z.number().int(),
  /** Hash of the last entry: keep it elsewhere to detect a truncated log later. */
  head: z.string(),
  /** The first entry that does not verify, and why. */
  firstBad: z.strictObject({ seq: z.number(), problem: z.string() }).optional(),
});
export type AuditVerdict = z.infer<typeof AuditVerdict>;

/** A campaign as the ledger lists it (live detail comes from the workflow). */
export const CampaignRecord = z.strictObject({
  campaignId: z.string(),
  name: z.string(),
  patchId: z.string(),
  patchVersion: z.string(),
  artifactSha256: Sha256,
  startedBy: z.string(),
  startedAt: z.string(),
  hostCount: z.number().int(),
});
export type CampaignRecord = z.infer<typeof CampaignRecord>;

/** A fleet member the ledger knows, so it can say who lacks a patch. */
export const InventoryHost = z.strictObject({
  hostId: z.string(),
  role: z.string(),
  site: z.string().optional(),
});
export type InventoryHost = z.infer<typeof InventoryHost>;

/** One host's record for one patch in one campaign; upserted on every state change. */
export const LedgerEntry = z.strictObject({
  hostId: z.string(),
  /** The host's role, so the ledger knows the host even if its campaign was started elsewhere. */
  hostRole: z.string().optional(),
  campaignId: z.string(),
  patchId: z.string(),
  patchVersion: z.string(),
  artifactSha256: Sha256,
  state: HostState,
  fromVersion: z.string().optional(),
  toVersion: z.string().optional(),
  imageId: z.string().optional(),
  imageLocation: z.string().optional(),
  imageSha256: z.string().optional(),
  failure: z.string().optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** Approvals a host's patch went out under (accepted approve entries of its campaign's audit). */
export const LedgerApproval = z.strictObject({
  campaignId: z.string(),
  stage: z.string(),
  actor: z.string(),
  at: z.string(),
});
export type LedgerApproval = z.infer<typeof LedgerApproval>;

/** What a secret in the worker's key store is, and so what it may be used for. */
export const CredentialKind = z.enum(['ssh-key', 'http-basic', 'http-bearer', 'vsphere']);
export type CredentialKind = z.infer<typeof CredentialKind>;

/**
 * `<key dir>/credentials.json`: the kind of each credential and where it may be sent. A secret that is
 * sent (an HTTP password, a vSphere login) goes only to the origins listed here, whatever a campaign
 * file says; a file the manifest does not list is an SSH key and is never sent anywhere.
 */
export const CredentialManifest = z.record(
  Name,
  z.strictObject({
    kind: CredentialKind,
    /** Origins (scheme://host:port) the secret may be sent to; SSH keys need none. */
    destinations: z
      .array(z.url({ protocol: /^https?$/ }))
      .max(100)
      .default([]),
  }),
);
export type CredentialManifest = z.infer<typeof CredentialManifest>;

/** A webhook the worker delivers notifications to (ROLLOUT_WEBHOOKS); the URL may hold a secret. */
export const Webhook = z.strictObject({
  name: Text(100).min(1),
  url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .refine((u) => {
      const url = new URL(u);
      return !url.username && !url.password;
    }, 'must not hold a user name or password; put a token in the path or a header the receiver checks'),
  /** `json`: the notification as JSON; `slack`: Slack-compatible `{ text }`. */
  format: z.enum(['json', 'slack']).default('json'),
  /** Only these kinds; all when left out. */
  events: z.array(NotificationKind).optional(),
});
export type Webhook = z.infer<typeof Webhook>;
