/**
 * The HTTP API (Fastify) and the web dashboard it serves. Every request but the OpenAPI document and the
 * dashboard's static files carries a bearer token issued by `rollout users add`; the token's user and
 * role decide what it may see and do (domain/access.ts), every action goes through the audited action
 * service, and every refusal by role or by the campaign's rules is audited (a malformed body is refused
 * with 400 before it reaches an action, and is not). Errors are JSON: `{ error: { type, message } }`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { PROJECT_ROOT } from '../runtime/paths.js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { auditWriter } from '../adapters/audit-writer.js';
import type { RolloutStore } from '../adapters/rollout-store.js';
import { refusalOf, type Actor, type RolloutActions } from '../client/actions.js';
import { AcceptedButIncomplete } from '../client/audited.js';
import { roleMaySee, viewsOf, type View } from '../domain/access.js';
import { FAILURE_KINDS, isUnreachableText, refusalKind } from '../domain/failure-kinds.js';
import { looksLikeJwt, IdentityProviderUnavailable, type OidcSignIn } from '../adapters/oidc.js';
import type { User } from '../domain/schema.js';
import { SignInBody } from './bodies.js';
import { body, CONTENT_TYPES, HttpError, type RouteContext } from './http.js';
import { openApiDocument } from './openapi.js';
import { campaignRoutes } from './routes/campaigns.js';
import { decisionRoutes } from './routes/decisions.js';
import { recordRoutes } from './routes/records.js';
import { signInGuard } from './sign-in-guard.js';

export interface ApiOptions {
  actions: RolloutActions;
  store: RolloutStore;
  /** PEM files; when both are given the API serves HTTPS. */
  tls?: { certFile: string; keyFile: string };
  /** Sign-in with the hospital's identity provider: its JWTs are accepted beside the local tokens. */
  oidc?: OidcSignIn;
}

/** Routes anyone may call: the OpenAPI document, and the two steps of signing in. */
const PUBLIC_ROUTES = new Set(['/api/openapi.json', '/api/sign-in/config', '/api/sign-in/token']);

const unavailable = (err: IdentityProviderUnavailable) =>
  new HttpError(
    503,
    'IdentityProviderUnavailable',
    `${err.message}; try again, or sign in with a local token`,
  );

const WEB_DIR = `${PROJECT_ROOT}/web/`;
/** The dashboard's files by URL path: every .html, .js and .css under web/ (one route each, no lookup). */
function webFiles(): Record<string, string> {
  const files: Record<string, string> = { '/': 'index.html' };
  const walk = (dir: string) => {
    for (const entry of readdirSync(`${WEB_DIR}${dir}`, { withFileTypes: true })) {
      const file = `${dir}${entry.name}`;
      if (entry.isDirectory()) walk(`${file}/`);
      else if (/\.(html|js|css)$/.test(entry.name)) files[`/${file}`] = file;
    }
  };
  walk('');
  return files;
}
const WEB_FILES = webFiles();
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

export async function createApi({ actions, store, tls, oidc }: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 5 * 1024 * 1024,
    // A URL the router refuses (malformed, a parameter past 100 characters): the API's error shape.
    frameworkErrors: (err, _req, reply) =>
      (reply as FastifyReply)
        .status(err.statusCode ?? 400)
        .send({ error: { type: 'InvalidInput', message: err.message.slice(0, 200) } }),
    ...(tls ? { https: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } } : {}),
  });

  const audit = auditWriter(store);
  const users = new WeakMap<FastifyRequest, Pick<User, 'name' | 'role'>>();
  const actorOf = (req: FastifyRequest): Actor => {
    const user = users.get(req);
    if (!user) throw new HttpError(401, 'Unauthenticated', 'sign in with a bearer token');
    return { identity: user.name, role: user.role, via: 'api' };
  };

  /** Refuses what the actor's role may not see or do here, and audits the refusal. */
  const refuseView = async (actor: Actor, what: string): Promise<never> => {
    const message = `role ${actor.role} may not ${what}`;
    await audit.refused(actor, 'view', `NotPermitted: ${message}`);
    throw new HttpError(403, 'NotPermitted', message);
  };

  /** A view the role may not see is refused, and the refusal audited. */
  const see = async (req: FastifyRequest, view: View) => {
    const actor = actorOf(req);
    if (roleMaySee(actor.role, view)) return actor;
    return refuseView(actor, `see ${view}`);
  };

  const guard = signInGuard((detail) => audit.refusedSignIn('api', detail));
  app.addHook('onClose', async () => guard.stop());

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/') || PUBLIC_ROUTES.has(path)) return;
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (\S+)$/.exec(header)?.[1];
    // The identity provider's JWTs when sign-in with it is on; the local tokens (`rot_…`) always.
    let user: Pick<User, 'name' | 'role'> | undefined;
    let refusal = 'unknown or expired token';
    if (token && oidc && looksLikeJwt(token)) {
      const verified = await oidc.verify(token).catch((err: unknown) => {
        throw err instanceof IdentityProviderUnavailable ? unavailable(err) : err;
      });
      if ('refused' in verified) refusal = verified.refused;
      else user = verified;
    } else if (token) user = await store.userByToken(token);
    if (!user) {
      // A valid token always gets in; a source that keeps failing is slowed down, not everyone behind it.
      const limited = !guard.mayTry(req.ip);
      await guard.refused(req.ip, token ? `Unauthenticated: ${refusal}` : 'Unauthenticated: no bearer token');
      if (limited)
        throw new HttpError(
          429,
          'TooManyAttempts',
          'too many refused sign-ins from this address; wait a minute',
        );
      throw new HttpError(401, 'Unauthenticated', token ? refusal : 'send Authorization: Bearer <token>');
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
    if (err instanceof AcceptedButIncomplete)
      return reply
        .status(FAILURE_KINDS.incomplete.http)
        .send({ error: { type: 'AcceptedButIncomplete', message: err.summary } });
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

  // No route: the same error shape as every other refusal (not Fastify's own), the path without its query.
  app.setNotFoundHandler(async (req, reply) =>
    reply.status(404).send({
      error: {
        type: 'NotFound',
        message: `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`,
      },
    }),
  );

  for (const [path, file] of Object.entries(WEB_FILES))
    app.get(path, async (_req, reply) => {
      const ext = file.split('.').pop() ?? 'html';
      return reply
        .header('content-type', CONTENT_TYPES[ext] ?? 'application/octet-stream')
        .header('cache-control', 'no-store')
        .send(readFileSync(`${WEB_DIR}${file}`));
    });

  app.get('/api/openapi.json', async () => openApiDocument());

  // Signing in with the identity provider: where to send the person, and their code exchanged for a token.
  app.get('/api/sign-in/config', async () => {
    if (!oidc) return { oidc: null };
    try {
      return { oidc: await oidc.dashboard() };
    } catch (err) {
      throw err instanceof IdentityProviderUnavailable ? unavailable(err) : err;
    }
  });

  app.post('/api/sign-in/token', async (req) => {
    if (!oidc) throw new HttpError(404, 'NotFound', 'sign-in with an identity provider is not set up here');
    const input = body(SignInBody, req.body);
    // A source refused too often this minute does not get the provider asked on its behalf.
    if (!guard.mayTry(req.ip))
      throw new HttpError(
        429,
        'TooManyAttempts',
        'too many refused sign-ins from this address; wait a minute',
      );
    const result = await oidc.exchange(input).catch((err: unknown) => {
      throw err instanceof IdentityProviderUnavailable ? unavailable(err) : err;
    });
    if ('refused' in result) {
      await guard.refused(req.ip, `Unauthenticated: ${result.refused}`);
      throw new HttpError(401, 'Unauthenticated', result.refused);
    }
    return {
      accessToken: result.accessToken,
      ...(result.expiresIn ? { expiresIn: result.expiresIn } : {}),
      name: result.name,
      role: result.role,
    };
  });

  app.get('/api/me', async (req) => {
    const user = users.get(req)!;
    return { name: user.name, role: user.role, views: viewsOf(user.role) };
  });

  const context: RouteContext = { app, actions, store, actorOf, see, refuseView };
  campaignRoutes(context);
  decisionRoutes(context);
  recordRoutes(context);

  return app;
}
