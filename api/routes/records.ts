/** Records: the on-call queue, the patch ledger, the audit log and its verdict. */
import { ledgerCsv, ledgerRows } from '../../client/ledger-report.js';
import type { RouteContext } from '../http.js';

export function recordRoutes({ app, actions, store, see }: RouteContext): void {
  app.get('/api/on-call', async (req) => {
    await see(req, 'on-call-queue');
    return { hosts: await actions.attentionQueue() };
  });

  app.get<{ Querystring: { patch?: string; missing?: string; format?: string } }>(
    '/api/ledger',
    async (req, reply) => {
      await see(req, 'ledger');
      const rows = await ledgerRows(store, {
        ...(req.query.patch ? { patchId: req.query.patch } : {}),
        missing: req.query.missing === 'true',
      });
      if (req.query.format === 'csv')
        return reply.header('content-type', 'text/csv; charset=utf-8').send(ledgerCsv(rows));
      return { rows };
    },
  );

  app.get<{ Querystring: { campaign?: string; limit?: string } }>('/api/audit', async (req) => {
    await see(req, 'audit');
    const limit = req.query.limit ? Number(req.query.limit) : undefined;
    return {
      entries: await store.auditEntries({
        ...(req.query.campaign ? { campaignId: req.query.campaign } : {}),
        ...(limit && Number.isFinite(limit) ? { limit } : {}),
      }),
    };
  });

  app.get('/api/audit/verify', async (req) => {
    await see(req, 'audit');
    return store.verifyAudit();
  });
}
