/** The campaign: people, approvals, waves, windows, redundancy, soak; and the campaign file itself. */
import { z } from 'zod';
import { controllerParams, IMAGE_OPERATIONS, POWER_OPERATIONS } from '../controller-presets.js';
import { Duration, PositiveDuration } from '../duration.js';
import { platformIssues } from '../platform-rules.js';
import { Identity, Text } from '../text.js';
import { JumpHost, LIMITS, Name, Role } from './common.js';
import { Controller, controllerLacks, HealthCheck, Host } from './fleet.js';
import { Patch } from './patch.js';

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
