/** A synthetic campaign file of N hosts for the simulated executor (addresses are never dialled). */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { ArtifactPolicy } from '../adapters/artifacts.js';
import type { RolloutStore } from '../adapters/rollout-store.js';
import { approveStage, campaignStatus, type Signing } from '../client/campaigns.js';
import { decisionSigner, serviceSigner } from '../client/signing.js';
import { CampaignFile, type Role } from '../domain/schema.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** An empty artifact file in `dir/artifacts` and the policy that lets workers read it. */
export function simulatedArtifact(dir: string): { path: string; policy: ArtifactPolicy } {
  mkdirSync(`${dir}/artifacts`, { recursive: true });
  const path = `${dir}/artifacts/sim-secfix.sh`;
  writeFileSync(path, '');
  return { path, policy: { dirs: [`${dir}/artifacts`], maxBytes: 1024, hashTimeoutMs: 10_000 } };
}

export const BENCH_OPERATOR = 'bench-operator@hospital.example';
export const BENCH_VENDOR = 'bench-vendor@vendor.example';
export const BENCH_ON_CALL = 'bench-on-call@hospital.example';
const KEY = 'SHA256:pphxM2T9x6N5R+MBFqpSMwUTAgXKIqPURYlGJ6KkelI';
const ROLES: Role[] = ['archive', 'database', 'nas', 'diagnostic-workstation', 'qa-workstation'];

export function benchCampaign(
  hosts: number,
  options: { soak: string; probe: string; concurrency: number; artifactPath?: string },
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
      // Never read by the simulated executor; the start checks it, so it must be a real (empty) file.
      artifact: { path: options.artifactPath ?? '/nonexistent/sim-secfix.sh', sha256: EMPTY_SHA256 },
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

/** The bench's people sign with a service key registered in the bench's own rollout store. */
export async function benchSigners(
  store: RolloutStore,
  dir: string,
): Promise<{ operator: Signing; vendor: Signing; onCall: Signing }> {
  const signer = decisionSigner(await serviceSigner(store, `${dir}/keys/service.pem`), 'cli');
  return {
    operator: { signer, role: 'operator' },
    vendor: { signer, role: 'vendor' },
    onCall: { signer, role: 'on-call' },
  };
}

/** Approves the campaign's open gate as the bench vendor, bound to the evidence its status shows. */
export async function approveOpenGate(client: Client, campaignId: string, signing: Signing): Promise<void> {
  const status = await campaignStatus(client, campaignId);
  const gate = status.gates.find((g) => g.state === 'open');
  if (!gate) throw new Error(`campaign ${campaignId} has no open gate (${status.state})`);
  await approveStage(
    client,
    campaignId,
    {
      stage: gate.stage,
      identity: BENCH_VENDOR,
      artifactSha256: status.patch.sha256,
      hostSetDigest: gate.hostSetDigest,
    },
    signing,
  );
}
