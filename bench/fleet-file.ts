/** A synthetic campaign file of N hosts for the simulated executor (addresses are never dialled). */
import type { z } from 'zod';
import { CampaignFile, type Role } from '../domain/schema.js';

export const BENCH_OPERATOR = 'bench-operator@hospital.example';
export const BENCH_VENDOR = 'bench-vendor@vendor.example';
const KEY = 'SHA256:pphxM2T9x6N5R+MBFqpSMwUTAgXKIqPURYlGJ6KkelI';
const ROLES: Role[] = ['archive', 'database', 'nas', 'diagnostic-workstation', 'qa-workstation'];

export function benchCampaign(
  hosts: number,
  options: { soak: string; probe: string; concurrency: number },
): CampaignFile {
  const raw: z.input<typeof CampaignFile> = {
    apiVersion: 'rollout/v1',
    fleet: {
      controllers: [
        {
          id: 'sim',
          address: '127.0.0.1',
          user: 'root',
          hostKey: KEY,
          commands: {
            snapshot: 's',
            verify: 'v',
            restore: 'r',
            delete: 'd',
            powerCycle: 'p',
            powerStatus: 'q',
          },
        },
      ],
      healthChecks: [{ kind: 'tcp', name: 'dicom-port', port: 104 }],
      hosts: Array.from({ length: hosts + 1 }, (_, i) => ({
        id: i === 0 ? 'sim-test' : `sim-${String(i).padStart(5, '0')}`,
        address: '127.0.0.1',
        user: 'pacsadm',
        hostKey: KEY,
        role: i === 0 ? 'test-system' : (ROLES[i % ROLES.length] ?? 'other'),
        controller: 'sim',
        // Pairs of archives, trios of databases: redundancy groups the scheduler must respect.
        ...(i > 0 && i % 5 === 0 ? { redundancyGroup: `archive-${Math.floor(i / 10)}` } : {}),
        healthChecks: ['dicom-port'],
      })),
    },
    patch: {
      id: 'sim-secfix',
      version: '1.1.0',
      artifact: {
        path: '/dev/null',
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      installCommand: 'sh {artifact}',
      versionCommand: 'cat /opt/pacs/VERSION',
      rebootGrace: '100ms',
      bootTimeout: '20s',
    },
    campaign: {
      name: `bench ${hosts} hosts`,
      people: [
        { identity: BENCH_OPERATOR, roles: ['operator'] },
        { identity: BENCH_VENDOR, roles: ['vendor'] },
      ],
      testHosts: ['sim-test'],
      soak: { duration: options.soak, probeInterval: options.probe },
      approvals: [{ stage: 'production', roles: ['vendor'] }],
      waves: [
        { name: 'canary', size: 10 },
        { name: 'early', size: '10%' },
        { name: 'rest', size: '100%' },
      ],
      concurrency: options.concurrency,
      failureBudget: { maxFailedPercent: 5 },
    },
  };
  return CampaignFile.parse(raw);
}
