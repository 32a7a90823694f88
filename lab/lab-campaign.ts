/** A campaign file for the running lab: its hosts, pinned keys, controller, checks, and the demo patch. */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { CampaignFile, Role } from '../domain/schema.js';
import { PROJECT_ROOT } from '../runtime/paths.js';
import { CONTROLLER_CREDENTIAL, HOST_CREDENTIAL, MOUNT_POINT, type LabInventory } from './lab.js';

export const DEMO_ARTIFACT = `${PROJECT_ROOT}/examples/artifacts/pacs-secfix-1.1.0.sh`;
export const DEMO_OPERATOR = 'operator@radiology.hospital.example';
export const DEMO_VENDOR = 'field-engineer@pacs-vendor.example';
export const DEMO_ONCALL = 'oncall@radiology.hospital.example';
export const DEMO_AUDITOR = 'auditor@hospital.example';

export interface LabCampaignOptions {
  soak: string;
  probeInterval: string;
  rebootGrace: string;
  bootTimeout: string;
  concurrency: number;
}

export const DEMO_TIMINGS: LabCampaignOptions = {
  soak: '20s',
  probeInterval: '4s',
  rebootGrace: '1s',
  bootTimeout: '20s',
  concurrency: 4,
};

/** The campaign file as written (input form, durations as text), ready to print as YAML or validate. */
export function labCampaign(
  inventory: LabInventory,
  options: LabCampaignOptions = DEMO_TIMINGS,
): z.input<typeof CampaignFile> {
  const sha256 = createHash('sha256').update(readFileSync(DEMO_ARTIFACT)).digest('hex');
  const testHost = inventory.hosts.find((h) => h.role === 'test-system');
  if (!testHost) throw new Error('the lab has no test-system host');
  // Archives run in mirrored pairs, as at real sites: at most one member of each pair down at once.
  const archives = inventory.hosts.filter((h) => h.role === 'archive').map((h) => h.id);
  const pairOf = (id: string) => `archive-pair-${Math.floor(archives.indexOf(id) / 2) + 1}`;
  const pairs = [...new Set(archives.map(pairOf))];
  return {
    apiVersion: 'rollout/v1',
    fleet: {
      controllers: [
        {
          id: 'lab-controller',
          address: inventory.controller.address,
          port: inventory.controller.port,
          user: inventory.controller.user,
          hostKey: inventory.controller.hostKey,
          credential: CONTROLLER_CREDENTIAL,
          preset: 'lab',
        },
      ],
      healthChecks: [
        { kind: 'command', name: 'pacs-version-file', command: 'test -s "$PACS_ROOT/opt/pacs/VERSION"' },
        { kind: 'command', name: 'dicom-scp-running', command: 'pgrep -x storescp >/dev/null' },
        { kind: 'tcp', name: 'dicom-port', port: 104 },
        { kind: 'dicom-echo', name: 'dicom-echo', port: 104, callingAet: 'ROLLOUT' },
        {
          kind: 'http',
          name: 'web-viewer',
          scheme: 'http',
          port: 8080,
          path: '/status',
          bodyMatch: 'PACS .* OK',
        },
        { kind: 'service', name: 'web-server', service: 'python3', manager: 'process' },
        { kind: 'path', name: 'disk-mounted', path: MOUNT_POINT, type: 'mount' },
      ],
      hosts: inventory.hosts.map((h) => ({
        id: h.id,
        address: h.address,
        port: h.port,
        user: 'pacsadm',
        hostKey: h.hostKey,
        credential: HOST_CREDENTIAL,
        role: h.role as Role,
        os: 'pacs-linux',
        servicePack: 3,
        site: 'main-campus',
        ...(h.role === 'archive' ? { redundancyGroup: pairOf(h.id) } : {}),
        controller: 'lab-controller',
        bootIdCommand: 'cat "$PACS_ROOT/run/boot_id"',
        dicomAet: h.dicomAet,
        healthChecks: [
          'pacs-version-file',
          'dicom-scp-running',
          'dicom-port',
          'dicom-echo',
          'web-viewer',
          'web-server',
          'disk-mounted',
        ],
      })),
    },
    patch: {
      id: 'pacs-secfix',
      version: '1.1.0',
      artifact: { path: DEMO_ARTIFACT, sha256 },
      installCommand: 'sh {artifact}',
      versionCommand: 'cat "$PACS_ROOT/opt/pacs/VERSION"',
      reboots: true,
      healthRetry: { attempts: 3, interval: '1s' },
      prerequisites: {
        os: ['pacs-linux'],
        minServicePack: 2,
        servicePackCommand: 'sed -n "s/^SERVICE_PACK=//p" "$PACS_ROOT/etc/pacs-release"',
        osCommand: 'sed -n "s/^NAME=//p" "$PACS_ROOT/etc/pacs-release"',
        minFreeDisk: { path: MOUNT_POINT, mebibytes: 16 },
      },
      // The clinical image store: the patch must not change a byte of it.
      integrity: { protectedPaths: [`${MOUNT_POINT}/var/lib/pacs/studies`] },
      installTimeout: '2m',
      rebootGrace: options.rebootGrace,
      bootTimeout: options.bootTimeout,
    },
    campaign: {
      name: 'pacs-secfix 1.1.0 lab rollout',
      testHosts: [testHost.id],
      soak: { duration: options.soak, probeInterval: options.probeInterval },
      people: [
        { identity: DEMO_OPERATOR, roles: ['operator'] },
        { identity: DEMO_VENDOR, roles: ['vendor'] },
        { identity: DEMO_ONCALL, roles: ['on-call'] },
        { identity: DEMO_AUDITOR, roles: ['auditor'] },
      ],
      approvals: [{ stage: 'production', roles: ['vendor'], expiresAfter: '72h', reminders: ['24h', '48h'] }],
      waves: [
        { name: 'canary', size: 1 },
        { name: 'rest', size: '100%' },
      ],
      concurrency: options.concurrency,
      failureBudget: { maxFailures: 1 },
      redundancy: {
        defaultMaxUnavailable: 1,
        groups: pairs.map((name) => ({ name, maxUnavailable: 1 })),
      },
      rollback: { onHostFailure: 'automatic', testSystemOnSoakFailure: true },
    },
  };
}
