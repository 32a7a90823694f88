/**
 * A SIMULATED host executor for benchmarks and history recording: the real workflows, the real campaign
 * store and campaign activities, but host activities that touch no machine. Each step waits `stepMs`;
 * hosts listed in `brokenBoot` never come back from reboot until their image is restored, like the NAS in
 * the demo. Never used by the product: the worker (`rollout worker`) always runs the real activities.
 */
import { foldedReads, type HostActivities, type HostSteps } from '../activities/host-activities.js';
import type { HealthReport, HostPatchInput } from '../domain/schema.js';

export interface SimulatedFleet {
  stepMs: number;
  brokenBoot: Set<string>;
  /** Test-system probes fail from this probe on (undefined: always healthy). */
  soakFailsFrom?: number;
  /** Hosts whose first health check after install fails (a service still starting). */
  slowToHealth?: Set<string>;
  /** Hosts whose upload fails (the connection keeps dropping): they are never changed. */
  uploadFails?: Set<string>;
}

const SHA = '0'.repeat(64);

export function simulatedHostActivities(fleet: SimulatedFleet): HostActivities {
  const versions = new Map<string, string>();
  const restored = new Set<string>();
  let probes = 0;
  const step = () => new Promise((r) => setTimeout(r, fleet.stepMs));
  const report = (ok: boolean): HealthReport => ({
    ok,
    at: new Date().toISOString(),
    checks: [{ name: 'simulated', ok, durationMs: fleet.stepMs, detail: ok ? 'ok' : 'simulated failure' }],
  });
  const id = (input: HostPatchInput) => input.host.id;
  const steps: HostSteps = {
    async verifySourceArtifact() {},
    async preflight(input) {
      await step();
      const version = versions.get(id(input)) ?? '1.0.0';
      return { version, alreadyPatched: version === input.patch.version, bootId: 'boot-1' };
    },
    async profileProtectedPaths() {
      await step();
      return { files: 1, digest: SHA };
    },
    async compareProtectedPaths() {
      await step();
      return { files: 1, digest: SHA, changes: [], moreChanges: 0 };
    },
    async snapshotImage(input) {
      await step();
      return { imageId: `${id(input)}-sim`, location: `simulated:${id(input)}`, sha256: SHA };
    },
    async uploadArtifact(input) {
      await step();
      if (fleet.uploadFails?.has(id(input)))
        throw Object.assign(new Error(`${id(input)}: upload failed: connection lost`), {
          name: 'ConnectionLost',
        });
      return '.rollout/artifacts/simulated';
    },
    async installPatch(input) {
      await step();
      versions.set(id(input), input.patch.version);
      return { exitCode: 0, outputTail: 'simulated install', reattached: false };
    },
    async triggerReboot() {
      await step();
    },
    async waitForBoot(input) {
      await step();
      if (fleet.brokenBoot.has(id(input)) && !restored.has(id(input)))
        throw Object.assign(new Error(`${id(input)} is not up yet`), { name: 'HostNotUp' });
      return 'boot-2';
    },
    async readVersion(input) {
      return versions.get(id(input)) ?? '1.0.0';
    },
    async checkHealth(input) {
      await step();
      if (input.host.role === 'test-system' && fleet.soakFailsFrom !== undefined && !restored.has(id(input)))
        return report(probes++ < fleet.soakFailsFrom);
      if (fleet.slowToHealth?.delete(id(input))) return report(false);
      return report(true);
    },
    async restoreImage(input) {
      await step();
      restored.add(id(input));
      versions.set(id(input), '1.0.0');
    },
    async powerCycle() {
      await step();
    },
    async deleteImage() {
      await step();
    },
  };
  return { ...steps, ...foldedReads(steps) };
}
