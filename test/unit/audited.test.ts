import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { auditWriter } from '../../adapters/audit-writer.js';
import {
  AcceptedButIncomplete,
  runAudited,
  type AuditedAction,
  type WriteEntry,
} from '../../client/audited.js';
import { Refused } from '../../client/campaigns.js';
import type { AuditInput } from '../../domain/schema.js';
import { sourceFiles } from '../../bin/build-state.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';

const who = { identity: 'oncall@hospital.example', role: 'on-call', via: 'cli' as const };
const refusalOf = (err: unknown) =>
  err instanceof Refused ? { type: err.type, message: err.message } : undefined;

/** A store that keeps what it is given (and fails the first `failFirst` writes), behind the real writer. */
function log(failFirst = 0) {
  const entries: AuditInput[] = [];
  let failures = failFirst;
  const audit = auditWriter({
    appendAudit: async (input: AuditInput) => {
      if (failures-- > 0) throw new Error('database is locked');
      entries.push(input);
    },
  });
  const append: WriteEntry = (outcome, detail, extra) =>
    audit.write(who, 'skip', outcome, detail, { campaignId: 'c-1', hostId: 'nas-01', ...extra });
  return { entries, append };
}

const action = <T>(over: Partial<AuditedAction<T>> & Pick<AuditedAction<T>, 'act'>): AuditedAction<T> => ({
  notPermitted: undefined,
  detail: () => 'host replaced',
  ...over,
});

describe('every accepted action is in the audit log', () => {
  it('a follow-up write that fails (the ledger) comes after the accepted entry and is reported as such', async () => {
    const audit = log();
    const run = runAudited(audit.append, refusalOf, {
      ...action({ act: async () => 'decided' }),
      followUp: {
        what: "the ledger's entry for the host",
        run: async () => {
          throw new Error('disk full');
        },
      },
    });
    await expect(run).rejects.toThrow(AcceptedButIncomplete);
    await expect(run).rejects.toThrow(
      "accepted and audited, but the ledger's entry for the host failed: disk full",
    );
    expect(audit.entries.map((e) => [e.outcome, e.detail])).toEqual([['accepted', 'host replaced']]);
  });

  it('the accepted entry is retried past a passing store failure', async () => {
    const audit = log(2);
    await expect(runAudited(audit.append, refusalOf, action({ act: async () => 1 }))).resolves.toBe(1);
    expect(audit.entries.map((e) => e.outcome)).toEqual(['accepted']);
  });

  it('a refusal is audited with its reason; an outage is not an outcome and is passed on', async () => {
    const audit = log();
    await expect(
      runAudited(
        audit.append,
        refusalOf,
        action({ act: () => Promise.reject(new Refused('GateClosed', 'no open gate')) }),
      ),
    ).rejects.toThrow('no open gate');
    await expect(
      runAudited(audit.append, refusalOf, action({ act: () => Promise.reject(new Error('ECONNREFUSED')) })),
    ).rejects.toThrow('ECONNREFUSED');
    expect(audit.entries.map((e) => [e.outcome, e.detail])).toEqual([
      ['refused', 'GateClosed: no open gate'],
    ]);
  });

  it('a role that may not act is refused and audited, and the action never runs', async () => {
    const audit = log();
    let ran = false;
    const refused = runAudited(audit.append, refusalOf, {
      ...action({
        act: async () => {
          ran = true;
        },
      }),
      notPermitted: 'role auditor may not skip',
    });
    await expect(refused).rejects.toThrow(Refused);
    await expect(refused).rejects.toMatchObject({
      type: 'NotPermitted',
      message: 'role auditor may not skip',
    });
    expect(ran).toBe(false);
    expect(audit.entries.map((e) => [e.outcome, e.detail])).toEqual([
      ['refused', 'NotPermitted: role auditor may not skip'],
    ]);
  });

  it('the accepted entry takes what the result says (the new campaign ID) and the detail known after the act', async () => {
    const audit = log();
    let summary = 'campaign file from -';
    await runAudited(audit.append, refusalOf, {
      ...action({
        act: async () => {
          summary = 'KB5034441 wave';
          return 'c-42';
        },
      }),
      detail: () => summary,
      describe: (id) => ({ campaignId: id }),
    });
    expect(audit.entries[0]).toMatchObject({
      outcome: 'accepted',
      campaignId: 'c-42',
      detail: 'KB5034441 wave',
    });
  });
});

describe('one audit writer', () => {
  it('no module but the writer (adapters/audit-writer.ts) appends audit entries', () => {
    const writers = sourceFiles(PROJECT_ROOT).filter((file) =>
      /\.appendAudit\(/.test(readFileSync(`${PROJECT_ROOT}/${file}`, 'utf8')),
    );
    expect(writers).toEqual(['adapters/audit-writer.ts']);
  });
});
