/** What the API's routes share: JSON errors with a status, request bodies parsed or refused. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { RolloutStore } from '../adapters/rollout-store.js';
import type { Actor, RolloutActions } from '../client/actions.js';
import type { View } from '../domain/access.js';

/** A refusal with its HTTP status: sent as `{ error: { type, message } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function parsedOr400<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success)
    throw new HttpError(
      400,
      'InvalidInput',
      parsed.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; '),
    );
  return parsed.data;
}

/** The request body as the schema reads it, or a 400 naming every field that is wrong. */
export function body<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  return parsedOr400(schema, value, 'body');
}

/** The query string as the schema reads it, or a 400 naming every parameter that is wrong. */
export function query<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  return parsedOr400(schema, value, 'query');
}

export const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** What every route module gets from the server: the app, the action service, who asks. */
export interface RouteContext {
  app: FastifyInstance;
  actions: RolloutActions;
  store: RolloutStore;
  /** The signed-in actor (401 without one). */
  actorOf(req: FastifyRequest): Actor;
  /** The actor, if their role may see the view; else refused (403) and audited. */
  see(req: FastifyRequest, view: View): Promise<Actor>;
  /** Refuses what the actor may not do here (403), audited. */
  refuseView(actor: Actor, what: string): Promise<never>;
}
