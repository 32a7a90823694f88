/**
 * The single source of domain types: every value that crosses an edge (campaign files, workflow inputs,
 * activity results, queries, update arguments) is one of these schemas, and its TypeScript type has the
 * same name (`export const Host = z.object(...)`, `export type Host = z.infer<typeof Host>`).
 */
import { z } from 'zod';
import { Duration } from './duration.js';

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

/** How to reach a machine over SSH. The key itself is never here: `credential` names a key the worker holds. */
const SshEndpoint = {
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name'),
  hostKey: HostKeyFingerprint,
  credential: Name.default('default'),
};

export const HealthCheck = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('command'),
    name: Name,
    command: z.string().min(1),
    expectExitCode: z.number().int().default(0),
    timeout: Duration.default(10_000),
  }),
  z.strictObject({
    kind: z.literal('tcp'),
    name: Name,
    port: z.number().int().min(1).max(65535),
    timeout: Duration.default(3_000),
  }),
  z.strictObject({
    kind: z.literal('dicom-echo'),
    name: Name,
    port: z.number().int().min(1).max(65535).default(104),
    /** Defaults to the host's own `dicomAet`. */
    calledAet: z.string().min(1).max(16).optional(),
    callingAet: z.string().min(1).max(16).default('ROLLOUT'),
    timeout: Duration.default(5_000),
  }),
]);
export type HealthCheck = z.infer<typeof HealthCheck>;

/**
 * An out-of-band controller (hypervisor, imaging server, lab controller) reached over SSH. Each command is
 * a template; `{host}`, `{image}` are replaced by shell-quoted values. Commands print one JSON object.
 */
export const Controller = z.strictObject({
  id: Name,
  ...SshEndpoint,
  commands: z.strictObject({
    snapshot: z.string().min(1),
    verify: z.string().min(1),
    restore: z.string().min(1),
    delete: z.string().min(1),
    powerCycle: z.string().min(1),
    powerStatus: z.string().min(1),
  }),
});
export type Controller = z.infer<typeof Controller>;

export const Host = z.strictObject({
  id: Name,
  ...SshEndpoint,
  role: Role,
  site: z.string().optional(),
  redundancyGroup: Name.optional(),
  controller: Name,
  /** Prints an ID that changes on every boot; proves a reboot really happened. */
  bootIdCommand: z.string().min(1).default('cat /proc/sys/kernel/random/boot_id'),
  /** The host's DICOM application entity title, the called AE of its C-ECHO check. */
  dicomAet: z.string().min(1).max(16).optional(),
  healthChecks: z.array(Name).default([]),
});
export type Host = z.infer<typeof Host>;

export const Patch = z.strictObject({
  id: Name,
  version: z.string().min(1).max(64),
  artifact: z.strictObject({
    path: z.string().min(1),
    sha256: Sha256,
  }),
  /** Run on the host; `{artifact}` is the uploaded file's path, `{version}` the target version. */
  installCommand: z.string().min(1),
  /** Prints the installed version; equal to `version` means the host is patched. */
  versionCommand: z.string().min(1),
  reboots: z.boolean().default(true),
  installTimeout: Duration.default(1_800_000),
  /** Time given to a host to go down after the reboot trigger, before polling starts. */
  rebootGrace: Duration.default(5_000),
  bootTimeout: Duration.default(900_000),
});
export type Patch = z.infer<typeof Patch>;

export const Approver = z.strictObject({
  identity: z.string().min(1),
  role: z.enum(['vendor', 'operator']).default('vendor'),
});
export type Approver = z.infer<typeof Approver>;

export const WaveSpec = z.strictObject({
  name: Name,
  /** Number of hosts, or a percentage ("50%") of the targets; the last wave always takes the rest. */
  size: z.union([z.number().int().positive(), z.string().regex(/^\d{1,3}%$/, 'use a percentage like "25%"')]),
});
export type WaveSpec = z.infer<typeof WaveSpec>;

export const TargetSelector = z.strictObject({
  roles: z.array(Role).optional(),
  groups: z.array(Name).optional(),
  sites: z.array(z.string()).optional(),
  hosts: z.array(Name).optional(),
});
export type TargetSelector = z.infer<typeof TargetSelector>;

export const CampaignSpec = z.strictObject({
  name: z.string().min(1).max(80),
  targets: TargetSelector.default({}),
  testHosts: z.array(Name).min(1, 'name at least one test system'),
  soak: z
    .strictObject({
      duration: Duration.default(172_800_000),
      probeInterval: Duration.default(900_000),
    })
    .default({ duration: 172_800_000, probeInterval: 900_000 }),
  approval: z.strictObject({
    stage: Name.default('production'),
    approvers: z.array(Approver).min(1, 'name at least one approver'),
  }),
  waves: z
    .array(WaveSpec)
    .min(1)
    .default([
      { name: 'canary', size: 1 },
      { name: 'rest', size: '100%' },
    ]),
  concurrency: z.number().int().positive().max(500).default(5),
});
export type CampaignSpec = z.infer<typeof CampaignSpec>;

/** The operator's input file (YAML or JSON). */
export const CampaignFile = z
  .strictObject({
    apiVersion: z.literal('rollout/v1'),
    fleet: z.strictObject({
      controllers: z.array(Controller).min(1),
      healthChecks: z.array(HealthCheck).default([]),
      hosts: z.array(Host).min(1),
    }),
    patch: Patch,
    campaign: CampaignSpec,
  })
  .superRefine((file, ctx) => {
    const unique = (ids: string[], path: (string | number)[], what: string) => {
      const seen = new Set<string>();
      ids.forEach((id, i) => {
        if (seen.has(id))
          ctx.addIssue({ code: 'custom', path: [...path, i, 'id'], message: `duplicate ${what} "${id}"` });
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
    file.fleet.hosts.forEach((host, i) => {
      if (!controllers.has(host.controller))
        ctx.addIssue({
          code: 'custom',
          path: ['fleet', 'hosts', i, 'controller'],
          message: `unknown controller "${host.controller}"`,
        });
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
    file.campaign.testHosts.forEach((id, i) => {
      if (!hosts.has(id))
        ctx.addIssue({ code: 'custom', path: ['campaign', 'testHosts', i], message: `unknown host "${id}"` });
    });
    file.campaign.targets.hosts?.forEach((id, i) => {
      if (!hosts.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['campaign', 'targets', 'hosts', i],
          message: `unknown host "${id}"`,
        });
    });
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
]);
export type HostState = z.infer<typeof HostState>;

export const CampaignState = z.enum([
  'test-install',
  'soaking',
  'awaiting-approval',
  'rolling-out',
  'completed',
  'test-failed',
  'soak-failed',
]);
export type CampaignState = z.infer<typeof CampaignState>;

export const ImageRecord = z.strictObject({
  imageId: z.string(),
  location: z.string(),
  sha256: Sha256,
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

/** The outcome of one host's workflow: what the campaign report and the ledger record. */
export const HostOutcome = z.strictObject({
  hostId: z.string(),
  state: HostState,
  fromVersion: z.string().optional(),
  toVersion: z.string().optional(),
  image: ImageRecord.optional(),
  failure: z.strictObject({ step: z.string(), type: z.string(), message: z.string() }).optional(),
  rollbackFailure: z.strictObject({ step: z.string(), type: z.string(), message: z.string() }).optional(),
  installOutputTail: z.string().optional(),
  health: HealthReport.optional(),
  timings: z.array(StepTiming),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type HostOutcome = z.infer<typeof HostOutcome>;

export const ApprovalDecision = z.strictObject({
  stage: Name,
  identity: z.string().min(1),
  /** The patch checksum the approver saw; refused if it is not the campaign's. */
  artifactSha256: Sha256,
  comment: z.string().max(2000).default(''),
});
export type ApprovalDecision = z.input<typeof ApprovalDecision>;

export const ApprovalRecord = z.strictObject({
  stage: z.string(),
  identity: z.string(),
  role: z.string(),
  artifactSha256: Sha256,
  comment: z.string(),
  at: z.string(),
  soakVerdict: z.string(),
  probesSeen: z.number(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

export const SoakProbe = z.strictObject({ at: z.string(), ok: z.boolean(), failed: z.array(z.string()) });
export type SoakProbe = z.infer<typeof SoakProbe>;

export const SoakVerdict = z.enum(['pass', 'fail']);
export type SoakVerdict = z.infer<typeof SoakVerdict>;

export const WavePlan = z.strictObject({ name: z.string(), hosts: z.array(z.string()) });
export type WavePlan = z.infer<typeof WavePlan>;

export const CampaignStatus = z.strictObject({
  campaignId: z.string(),
  name: z.string(),
  state: CampaignState,
  startedBy: z.string(),
  patch: z.strictObject({ id: z.string(), version: z.string(), sha256: Sha256 }),
  testHosts: z.array(z.string()),
  soak: z.strictObject({
    durationMs: z.number(),
    probeIntervalMs: z.number(),
    startedAt: z.string().optional(),
    endsAt: z.string().optional(),
    probes: z.array(SoakProbe),
    verdict: SoakVerdict.optional(),
  }),
  approvals: z.array(ApprovalRecord),
  waves: z.array(WavePlan),
  currentWave: z.number(),
  hosts: z.record(z.string(), HostState),
  outcomes: z.array(HostOutcome),
});
export type CampaignStatus = z.infer<typeof CampaignStatus>;

/** What the campaign workflow starts with: the validated file plus who started it. */
export const CampaignInput = z.strictObject({
  campaignId: z.string(),
  startedBy: z.string().min(1),
  file: z.custom<CampaignFile>(),
});
export type CampaignInput = z.infer<typeof CampaignInput>;

/** What one host workflow needs: its own host record, its controller, its checks, the patch. */
export const HostPatchInput = z.strictObject({
  campaignId: z.string(),
  host: z.custom<Host>(),
  controller: z.custom<Controller>(),
  healthChecks: z.array(z.custom<HealthCheck>()),
  patch: z.custom<Patch>(),
});
export type HostPatchInput = z.infer<typeof HostPatchInput>;
