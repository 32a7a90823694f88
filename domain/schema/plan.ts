/** The plan: what the planner computes and the campaign workflow follows. */
import { z } from 'zod';
import { CampaignSpec, MaintenanceWindow, Person, PersonRole, SoakCriteria } from './campaign-file.js';
import { Sha256 } from './common.js';

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
