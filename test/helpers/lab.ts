/** A throw-away lab for one test file: its own directory and its own 127.0.N.x addresses. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { labDown, labUp, type LabInventory } from '../../lab/lab.js';

export interface TestLab {
  inventory: LabInventory;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestLab(net: string, hosts = 4): Promise<TestLab> {
  const dir = mkdtempSync(`${tmpdir()}/rollout-lab-`);
  const inventory = await labUp({ dir, hosts, net, sshPort: 2222, bootDelayMs: 800 });
  return {
    inventory,
    dir,
    async stop() {
      await labDown(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
