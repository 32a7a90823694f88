/** approve, reject, review-soak: a person's decision, bound to the evidence they were shown. */
import { createInterface } from 'node:readline';
import { Refused } from '../../client/campaigns.js';
import { EXIT, requireFlag, stringFlag, UsageError, type CommandInput, type Flags } from '../common.js';
import { print } from '../output.js';
import { withActing, withReading } from '../session.js';

export async function run({ command, rest, flags }: CommandInput): Promise<number> {
  if (command === 'approve') {
    const id = requireFlag(rest[0], 'campaign ID');
    const stage = requireFlag(flags.stage, '--stage NAME');
    const shown = await evidenceSeen(id, stage, 'approve', flags);
    const record = await withActing((acting) =>
      acting.approve(id, {
        stage,
        artifactSha256: shown.artifactSha256,
        hostSetDigest: shown.hostSetDigest,
        comment: stringFlag(flags, 'comment') ?? '',
      }),
    );
    print(
      flags.json
        ? `${JSON.stringify(record)}\n`
        : `approved stage ${record.stage} as ${record.identity} at ${record.at} (${record.hostCount} hosts)\n`,
    );
    return EXIT.ok;
  }
  if (command === 'reject') {
    const id = requireFlag(rest[0], 'campaign ID');
    const stage = requireFlag(flags.stage, '--stage NAME');
    const reason = requireFlag(flags.reason, '--reason TEXT');
    await evidenceSeen(id, stage, 'reject', flags);
    const record = await withActing((acting) => acting.reject(id, stage, reason));
    print(
      flags.json ? `${JSON.stringify(record)}\n` : `rejected stage ${record.stage} as ${record.identity}\n`,
    );
    return EXIT.ok;
  }
  const [id, decision] = rest;
  if (decision !== 'accept' && decision !== 'fail')
    throw new UsageError('usage: rollout review-soak ID accept|fail');
  const reason = requireFlag(flags.reason, '--reason TEXT');
  const campaignId = requireFlag(id, 'campaign ID');
  await evidenceSeen(campaignId, undefined, `${decision} the soak of`, flags);
  const record = await withActing((acting) => acting.reviewSoak(campaignId, decision, reason));
  print(flags.json ? `${JSON.stringify(record)}\n` : `soak ${record.action} recorded at ${record.at}\n`);
  return EXIT.ok;
}

/** The evidence a decision is bound to: the checksum and host set the person saw. */
interface Seen {
  artifactSha256: string;
  hostSetDigest: string;
}

/**
 * What the person deciding was shown. With --checksum and --host-set: those (the workflow refuses them
 * if they are stale). On a terminal without them: the evidence is printed (patch checksum, host count
 * and digest, soak verdict and probes) and the person confirms. Without a terminal, or with --json, an
 * approval needs both values: nothing is filled in on the person's behalf.
 */
async function evidenceSeen(
  campaignId: string,
  stage: string | undefined,
  verb: string,
  flags: Flags,
): Promise<Seen> {
  const checksum = stringFlag(flags, 'checksum');
  const hostSet = stringFlag(flags, 'host-set');
  if (checksum && hostSet) return { artifactSha256: checksum, hostSetDigest: hostSet };
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !flags.json;
  if (!interactive) {
    if (verb !== 'approve') return { artifactSha256: '', hostSetDigest: '' };
    throw new UsageError(
      'an approval binds to what you were shown: give --checksum SHA256 and --host-set SHA256 (rollout status ID shows both)',
    );
  }
  const status = await withReading((reading) => reading.status(campaignId));
  const gate = status.gates.find((g) => g.stage === (stage ?? status.gates[0]?.stage));
  const probes = status.soak.probes;
  print(
    [
      `campaign:  ${status.campaignId} (${status.name}), ${status.state}`,
      `patch:     ${status.patch.id} ${status.patch.version}`,
      `checksum:  ${status.patch.sha256}`,
      ...(gate ? [`stage:     ${gate.stage}: ${gate.hostCount} hosts, host-set ${gate.hostSetDigest}`] : []),
      `soak:      ${status.soak.verdict ?? 'not decided'}${status.soak.reason ? ` (${status.soak.reason})` : ''}; ${probes.length} probes, ${probes.filter((p) => p.result !== 'ok').length} not ok`,
      '',
    ].join('\n'),
  );
  const answer = await ask(
    `${verb} ${stage ? `stage ${stage} of ` : ''}campaign ${campaignId} as shown? [y/N] `,
  );
  if (!/^y(es)?$/i.test(answer.trim())) throw new Refused('NotConfirmed', 'not confirmed; nothing was sent');
  return { artifactSha256: status.patch.sha256, hostSetDigest: gate?.hostSetDigest ?? '' };
}

function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) =>
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    }),
  );
}
