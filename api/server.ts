/**
 * The HTTP API (Fastify) and the web dashboard it serves. Every request but the OpenAPI document and the
 * dashboard's static files carries a bearer token issued by `rollout users add`; the token's user and
 * role decide what it may see and do (domain/access.ts), every action goes through the audited action
 * service, and every refusal is audited. Errors are JSON: `{ error: { type, message } }`.
 */
import { readFileSync } from 'node:fs';
import { PROJECT_ROOT } from '../runtime/paths.js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RolloutStore } from '../adapters/rollout-store.js';
import { refusalOf, type Actor, type RolloutActions } from '../client/actions.js';
import { parseCampaignFile } from '../client/campaign-file.js';
import { BadInput } from '../client/campaigns.js';
import { ledgerCsv, ledgerRows } from '../client/ledger-report.js';
import { renderReportHtml } from '../client/report-html.js';
import { roleMaySee, viewsOf, type View } from '../domain/access.js';
import { FAILURE_KINDS, isUnreachableText, refusalKind } from '../domain/failure-kinds.js';
import { planCampaign } from '../domain/planner.js';
import { HostAction, type User } from '../domain/schema.js';
import { openApiDocument } from './openapi.js';
import { signInGuard } from './sign-in-guard.js';

export interface ApiOptions {
  actions: RolloutActions;
  store: RolloutStore;
  /** PEM files; when both are given the API serves HTTPS. */
  tls?: { certFile: string; keyFile: string };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const WEB_DIR = `${PROJECT_ROOT}/web/`;
const WEB_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

function body<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success)
    throw new HttpError(
      400,
      'InvalidInput',
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
    );
  return parsed.data;
}

const StartBody = z.strictObject({
  /** The campaign document: YAML or JSON text, or the parsed object. */
  file: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
});
/** An approval names what the approver was shown: nothing is filled in on their behalf. */
const ApproveBody = z.strictObject({
  stage: z.string().min(1),
  comment: z.string().max(2000).default(''),
  artifactSha256: z.string().regex(/^[a-f0-9]{64}$/, 'the patch checksum you were shown'),
  hostSetDigest: z.string().regex(/^[a-f0-9]{64}$/, 'the host-set digest you were shown'),
});
const RejectBody = z.strictObject({ stage: z.string().min(1), reason: z.string().min(1).max(2000) });
const ReviewBody = z.strictObject({
  decision: z.enum(['accept', 'fail']),
  reason: z.string().min(1).max(2000),
});
const ControlBody = z.strictObject({ reason: z.string().max(2000).default('') });
const HostActionBody = z.strictObject({ note: z.string().max(2000).default('') });

const MAX_JSON_DEPTH = 64;

/** How deeply a JSON text nests (brackets outside strings), without parsing it. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
    else if (c === '}' || c === ']') depth -= 1;
  }
  return deepest;
}

function campaignFileOf(file: string | Record<string, unknown>) {
  return parseCampaignFile(typeof file === 'string' ? file : JSON.stringify(file), 'request body');
}

export async function createApi({ actions, store, tls }: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 5 * 1024 * 1024,
    ...(tls ? { https: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } } : {}),
  });

  const users = new WeakMap<FastifyRequest, User>();
  const actorOf = (req: FastifyRequest): Actor => {
    const user = users.get(req);
    if (!user) throw new HttpError(401, 'Unauthenticated', 'sign in with a bearer token');
    return { identity: user.name, role: user.role, via: 'api' };
  };

  /** A view the role may not see is refused, and the refusal audited. */
  const see = async (req: FastifyRequest, view: View) => {
    const actor = actorOf(req);
    if (roleMaySee(actor.role, view)) return actor;
    await store.appendAudit({
      at: new Date().toISOString(),
      actor: actor.identity,
      role: actor.role,
      via: 'api',
      action: 'view',
      outcome: 'refused',
      detail: `NotPermitted: role ${actor.role} may not see ${view}`,
    });
    throw new HttpError(403, 'NotPermitted', `role ${actor.role} may not see ${view}`);
  };

  const guard = signInGuard((entry) => store.appendAudit(entry));
  app.addHook('onClose', async () => guard.stop());

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/') || path === '/api/openapi.json') return;
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (\S+)$/.exec(header)?.[1];
    const user = token ? await store.userByToken(token) : undefined;
    if (!user) {
      // A valid token always gets in; a source that keeps failing is slowed down, not everyone behind it.
      const limited = !guard.mayTry(req.ip);
      await guard.refused(
        req.ip,
        token ? 'Unauthenticated: unknown or expired token' : 'Unauthenticated: no bearer token',
      );
      if (limited)
        throw new HttpError(
          429,
          'TooManyAttempts',
          'too many refused sign-ins from this address; wait a minute',
        );
      throw new HttpError(
        401,
        'Unauthenticated',
        token ? 'unknown or expired token' : 'send Authorization: Bearer <token>',
      );
    }
    users.set(req, user);
  });

  // Defence in depth for the dashboard: no framing, no sniffing, scripts and styles only from here.
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header(
      'content-security-policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    reply.header('x-frame-options', 'DENY');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (tls) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });

  // JSON bodies nested deeper than any request needs are refused before they are parsed.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const body = String(text);
    if (jsonDepth(body) > MAX_JSON_DEPTH)
      return done(
        new HttpError(400, 'InvalidInput', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`),
        undefined,
      );
    try {
      done(null, body.length ? JSON.parse(body) : {});
    } catch (err) {
      done(new HttpError(400, 'InvalidInput', `not JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler(async (err: unknown, _req, reply: FastifyReply) => {
    if (err instanceof HttpError)
      return reply.status(err.status).send({ error: { type: err.type, message: err.message } });
    const refusal = refusalOf(err);
    if (refusal) return reply.status(FAILURE_KINDS[refusalKind(refusal.type)].http).send({ error: refusal });
    const fastifyError = err as { statusCode?: number; message?: string };
    if (fastifyError.statusCode && fastifyError.statusCode < 500)
      return reply
        .status(fastifyError.statusCode)
        .send({ error: { type: 'InvalidInput', message: fastifyError.message } });
    const message = (err as Error)?.message ?? String(err);
    if (isUnreachableText(message))
      return reply
        .status(FAILURE_KINDS.unreachable.http)
        .send({ error: { type: 'Unavailable', message: 'Temporal or the worker did not answer' } });
    return reply
      .status(FAILURE_KINDS.internal.http)
      .send({ error: { type: 'Internal', message: 'internal error' } });
  });

  for (const [path, file] of Object.entries(WEB_FILES))
    app.get(path, async (_req, reply) => {
      const ext = file.split('.').pop() ?? 'html';
      return reply
        .header('content-type', CONTENT_TYPES[ext] ?? 'application/octet-stream')
        .header('cache-control', 'no-store')
        .send(readFileSync(`${WEB_DIR}${file}`));
    });

  app.get('/api/openapi.json', async () => openApiDocument());

  app.get('/api/me', async (req) => {
    const user = users.get(req)!;
    return { name: user.name, role: user.role, views: viewsOf(user.role) };
  });

  app.get('/api/campaigns', async (req) => {
    const actor = await see(req, 'campaigns');
    return { campaigns: await actions.list(actor) };
  });

  app.post('/api/plan', async (req) => {
    // A plan preview is for whoever may start a campaign: it costs work, and shows the whole fleet.
    const actor = await see(req, 'campaigns');
    if (actor.role !== 'operator') {
      await store.appendAudit({
        at: new Date().toISOString(),
        actor: actor.identity,
        role: actor.role,
        via: 'api',
        action: 'view',
        outcome: 'refused',
        detail: `NotPermitted: role ${actor.role} may not preview plans`,
      });
      throw new HttpError(403, 'NotPermitted', `role ${actor.role} may not preview plans`);
    }
    const { file } = body(StartBody, req.body);
    return { plan: planCampaign(campaignFileOf(file)) };
  });

  app.post('/api/campaigns', async (req, reply) => {
    const actor = actorOf(req);
    const { file } = body(StartBody, req.body);
    // Checking the artifact may take a while: stop it when the client goes away.
    const gone = new AbortController();
    const socket = req.raw.socket;
    const onClose = () => gone.abort();
    socket.once('close', onClose);
    try {
      const document = typeof file === 'string' ? file : JSON.stringify(file);
      const campaignId = await actions.start(actor, document, 'request body', gone.signal);
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

  return app;
}

/** Where the API listens: loopback unless told otherwise (ROLLOUT_API_HOST / ROLLOUT_API_PORT). */
export const ApiConfig = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8088),
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
});
export type ApiConfig = z.infer<typeof ApiConfig>;

export function apiConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = ApiConfig.safeParse({
    host: env.ROLLOUT_API_HOST || undefined,
    port: env.ROLLOUT_API_PORT || undefined,
    tlsCertFile: env.ROLLOUT_API_TLS_CERT || undefined,
    tlsKeyFile: env.ROLLOUT_API_TLS_KEY || undefined,
  });
  if (!parsed.success)
    throw new BadInput(
      `bad API settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  if (Boolean(parsed.data.tlsCertFile) !== Boolean(parsed.data.tlsKeyFile))
    throw new BadInput('set both ROLLOUT_API_TLS_CERT and ROLLOUT_API_TLS_KEY, or neither');
  return parsed.data;
}
