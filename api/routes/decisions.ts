/** People's decisions: approvals, rejections, soak reviews, operator controls, on-call host actions. */
import { HostAction } from '../../domain/schema.js';
import { ApproveBody, ControlBody, HostActionBody, RejectBody, ReviewBody } from '../bodies.js';
import { body, HttpError, type RouteContext } from '../http.js';

export function decisionRoutes({ app, actions, actorOf }: RouteContext): void {
  app.post<{ Params: { id: string } }>('/api/campaigns/:id/approve', async (req) => {
    const b = body(ApproveBody, req.body);
    return actions.approve(actorOf(req), req.params.id, {
      stage: b.stage,
      comment: b.comment,
      artifactSha256: b.artifactSha256,
      hostSetDigest: b.hostSetDigest,
    });
  });

  app.post<{ Params: { id: string } }>('/api/campaigns/:id/reject', async (req) => {
    const b = body(RejectBody, req.body);
    return actions.reject(actorOf(req), req.params.id, b.stage, b.reason);
  });

  app.post<{ Params: { id: string } }>('/api/campaigns/:id/review-soak', async (req) => {
    const b = body(ReviewBody, req.body);
    return actions.reviewSoak(actorOf(req), req.params.id, b.decision, b.reason);
  });

  for (const control of ['pause', 'resume', 'abort'] as const)
    app.post<{ Params: { id: string } }>(`/api/campaigns/:id/${control}`, async (req) => {
      const b = body(ControlBody, req.body);
      return actions.control(actorOf(req), req.params.id, control, b.reason);
    });

  app.post<{ Params: { id: string; host: string; action: string } }>(
    '/api/campaigns/:id/hosts/:host/:action',
    async (req) => {
      const action = HostAction.shape.action.safeParse(req.params.action);
      if (!action.success)
        throw new HttpError(
          404,
          'NotFound',
          `no host action "${req.params.action}" (retry, rollback, mark-fixed, skip)`,
        );
      const b = body(HostActionBody, req.body);
      return actions.actOnHost(actorOf(req), req.params.id, req.params.host, action.data, b.note);
    },
  );
}
