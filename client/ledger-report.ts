/**
 * The ledger as people read it: one row per known host and patch (the host's latest entry), with the
 * approvals its campaign went out under; filtered to the hosts that lack a patch; as JSON or CSV.
 */
import { HAS_PATCH, type RolloutStore } from '../adapters/rollout-store.js';
import { toCsv } from './csv.js';

export interface LedgerRow {
  hostId: string;
  role: string;
  site?: string;
  patchId: string;
  patchVersion: string;
  /** The latest state, or `never` for a known host no campaign has given this patch. */
  state: string;
  hasPatch: boolean;
  campaignId?: string;
  fromVersion?: string;
  toVersion?: string;
  imageId?: string;
  artifactSha256?: string;
  approvedBy?: string;
  updatedAt?: string;
  failure?: string;
}

export async function ledgerRows(
  store: RolloutStore,
  filter: { patchId?: string; missing?: boolean } = {},
): Promise<LedgerRow[]> {
  const matrix = await store.patchMatrix();
  const patches = matrix.patches.filter((p) => !filter.patchId || p.patchId === filter.patchId);
  if (filter.patchId && patches.length === 0) patches.push({ patchId: filter.patchId, patchVersion: '' });
  const cells = new Map(matrix.cells.map((c) => [`${c.hostId}\u0000${c.patchId}`, c]));
  const approvals = new Map<string, string>();
  for (const campaignId of new Set(matrix.cells.map((c) => c.campaignId)))
    approvals.set(
      campaignId,
      (await store.approvals(campaignId)).map((a) => `${a.actor} (${a.stage}, ${a.at})`).join('; '),
    );
  const rows: LedgerRow[] = [];
  for (const host of matrix.hosts)
    for (const patch of patches) {
      const cell = cells.get(`${host.hostId}\u0000${patch.patchId}`);
      const hasPatch = !!cell && (HAS_PATCH as readonly string[]).includes(cell.state);
      if (filter.missing && hasPatch) continue;
      const approvedBy = cell ? approvals.get(cell.campaignId) : undefined;
      rows.push({
        hostId: host.hostId,
        role: host.role,
        ...(host.site ? { site: host.site } : {}),
        patchId: patch.patchId,
        patchVersion: cell?.patchVersion ?? patch.patchVersion,
        state: cell?.state ?? 'never',
        hasPatch,
        ...(cell
          ? {
              campaignId: cell.campaignId,
              ...(cell.fromVersion ? { fromVersion: cell.fromVersion } : {}),
              ...(cell.toVersion ? { toVersion: cell.toVersion } : {}),
              ...(cell.imageId ? { imageId: cell.imageId } : {}),
              artifactSha256: cell.artifactSha256,
              updatedAt: cell.updatedAt,
              ...(cell.failure ? { failure: cell.failure } : {}),
            }
          : {}),
        ...(approvedBy ? { approvedBy } : {}),
      });
    }
  return rows;
}

const CSV_COLUMNS: (keyof LedgerRow)[] = [
  'hostId',
  'role',
  'site',
  'patchId',
  'patchVersion',
  'state',
  'hasPatch',
  'campaignId',
  'fromVersion',
  'toVersion',
  'imageId',
  'artifactSha256',
  'approvedBy',
  'updatedAt',
  'failure',
];

/** The ledger as CSV (client/csv.ts: RFC 4180, formula cells neutralised). */
export function ledgerCsv(rows: LedgerRow[]): string {
  return toCsv(CSV_COLUMNS, rows);
}
