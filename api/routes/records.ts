/** Records: the on-call queue, the patch ledger, the audit log and its verdict. */
import { ledgerCsv, ledgerRows } from '../../client/ledger-report.js';
import { AuditQuery, LedgerQuery } from '../bodies.js';
import { query, type RouteContext } from '../http.js';

export function recordRoutes({ app, actions, store, see }: RouteContext): void {
  app.get('/api/on-call', async (req) => {
    await see(req, 'on-call-queue');
    return { hosts: await actions.attentionQueue() };
  });

  app.get('/api/ledger', async (req, reply) => {
    await see(req, 'ledger');
    const q = query(LedgerQuery, req.query);
    const rows = await ledgerRows(store, {
      ...(q.patch ? { patchId: q.patch } : {}),
      missing: q.missing === 'true',
    });
    if (q.format === 'csv')
      return reply.header('content-type', 'text/csv; charset=utf-8').send(ledgerCsv(rows));
    return { rows };
  });

  app.get('/api/audit', async (req) => {
    await see(req, 'audit');
    const q = query(AuditQuery, req.query);
    return {
      entries: await store.auditEntries({
        ...(q.campaign ? { campaignId: q.campaign } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
      }),
    };
  });

  app.get('/api/audit/verify', async (req) => {
    await see(req, 'audit');
    return store.verifyAudit();
  });
}
