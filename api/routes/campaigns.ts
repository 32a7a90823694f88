/** Campaigns: list, plan preview, start, detail, hosts, reports. */
import { parseCampaignFile } from '../../client/campaign-file.js';
import { renderReportHtml } from '../../client/report-html.js';
import { planCampaign } from '../../domain/planner.js';
import { StartBody } from '../bodies.js';
import { body, CONTENT_TYPES, HttpError, type RouteContext } from '../http.js';

function campaignFileOf(file: string | Record<string, unknown>, source = 'request body') {
  return parseCampaignFile(typeof file === 'string' ? file : JSON.stringify(file), source);
}

export function campaignRoutes({ app, actions, actorOf, see, refuseView }: RouteContext): void {
  app.get('/api/campaigns', async (req) => {
    const actor = await see(req, 'campaigns');
    return { campaigns: await actions.list(actor) };
  });

  app.post('/api/plan', async (req) => {
    // A plan preview is for whoever may start a campaign: it costs work, and shows the whole fleet.
    const actor = await see(req, 'campaigns');
    if (actor.role !== 'operator') await refuseView(actor, 'preview plans');
    const { file, source } = body(StartBody, req.body);
    return { plan: planCampaign(campaignFileOf(file, source)) };
  });

  app.post('/api/campaigns', async (req, reply) => {
    const actor = actorOf(req);
    const { file, source } = body(StartBody, req.body);
    // Checking the artifact may take a while: stop it when the client goes away.
    const gone = new AbortController();
    const socket = req.raw.socket;
    const onClose = () => gone.abort();
    socket.once('close', onClose);
    try {
      const document = typeof file === 'string' ? file : JSON.stringify(file);
      const campaignId = await actions.start(actor, document, source ?? 'request body', gone.signal);
      return reply.status(201).send({ campaignId });
    } finally {
      socket.removeListener('close', onClose);
    }
  });

  app.get<{ Params: { id: string } }>('/api/campaigns/:id', async (req) => {
    const actor = await see(req, 'campaigns');
    const status = await actions.status(req.params.id);
    // A vendor sees the campaigns that name them, and no other (not even that one exists).
    if (!(await actions.mayFollow(actor, status.fileSha256)))
      throw new HttpError(404, 'NotFound', 'no such campaign');
    return status;
  });

  app.get<{ Params: { id: string }; Querystring: { state?: string } }>(
    '/api/campaigns/:id/hosts',
    async (req) => {
      await see(req, 'hosts');
      return { hosts: await actions.hosts(req.params.id, req.query.state || undefined) };
    },
  );

  app.get<{ Params: { id: string } }>('/api/campaigns/:id/report', async (req) => {
    await see(req, 'report');
    return actions.report(req.params.id);
  });

  app.get<{ Params: { id: string } }>('/api/campaigns/:id/report.html', async (req, reply) => {
    await see(req, 'report');
    const report = await actions.report(req.params.id);
    return reply.header('content-type', CONTENT_TYPES.html).send(renderReportHtml(report));
  });
}
