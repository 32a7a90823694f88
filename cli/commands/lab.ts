import { stringify as toYaml } from 'yaml';
import { labDown, labStatus, labUp, readInventory } from '../../lab/lab.js';
import { labCampaign } from '../../lab/lab-campaign.js';
import { settings } from '../../runtime/config.js';
import { EXIT, hostCount, stringFlag, UsageError, type CommandInput } from '../common.js';
import { print } from '../output.js';

export async function run({ rest, flags }: CommandInput): Promise<number> {
  const [sub] = rest;
  const { labDir } = settings();
  if (sub === 'up') {
    const inventory = await labUp({
      dir: labDir,
      hosts: hostCount(flags),
      net: stringFlag(flags, 'net') ?? '127.0.10',
      sshPort: 2222,
      bootDelayMs: 1500,
    });
    print(
      `lab up: ${inventory.hosts.length} hosts, controller ${inventory.controller.address}; state in ${labDir}\n`,
    );
    return EXIT.ok;
  }
  if (sub === 'down') {
    await labDown(labDir);
    print('lab down\n');
    return EXIT.ok;
  }
  if (sub === 'status') {
    const status = labStatus(labDir);
    if (flags.json) print(`${JSON.stringify(status, null, 2)}\n`);
    else {
      print(`lab ${status.running ? 'running' : 'not running'} in ${labDir}\n`);
      for (const h of status.hosts)
        print(
          `  ${h.id.padEnd(12)} ${h.address.padEnd(14)} ${h.role.padEnd(24)} power ${h.power.padEnd(4)} ${h.booted ? 'booted' : 'down  '} version ${h.version}\n`,
        );
    }
    return EXIT.ok;
  }
  if (sub === 'campaign') {
    const inventory = readInventory(labDir);
    if (!inventory) throw new UsageError('no lab: run `rollout lab up` first');
    print(toYaml(labCampaign(inventory)));
    return EXIT.ok;
  }
  throw new UsageError('usage: rollout lab up|down|status|campaign');
}
