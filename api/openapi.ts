/** The API's OpenAPI 3.1 document, served at /api/openapi.json; schemas come from the domain's zod schemas. */
import { z } from 'zod';
import {
  ApprovalRecord,
  AuditEntry,
  AuditVerdict,
  CampaignStatus,
  Decision,
  LedgerEntry,
  UserRole,
} from '../domain/schema.js';
import {
  ApproveBody,
  ControlBody,
  HostActionBody,
  RejectBody,
  ReviewBody,
  SignInBody,
  StartBody,
} from './bodies.js';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: object) => ({ content: { 'application/json': { schema: s } } });
const ok = (s: object, description = 'OK') => ({ description, ...json(s) });
const errors = {
  '400': { description: 'Invalid input', ...json(ref('Error')) },
  '401': { description: 'No or unknown bearer token', ...json(ref('Error')) },
  '403': { description: 'The role may not do or see this (audited)', ...json(ref('Error')) },
  '404': { description: 'No such campaign', ...json(ref('Error')) },
  '409': { description: 'Refused by the campaign (its rules, its phase); audited', ...json(ref('Error')) },
  '503': {
    description:
      'Temporal or the worker did not answer (type Unavailable), or the identity provider did not (type IdentityProviderUnavailable)',
    ...json(ref('Error')),
  },
  '500': {
    description:
      'Internal error; or type AcceptedButIncomplete: the action was accepted and audited but a later write failed (do not repeat it)',
    ...json(ref('Error')),
  },
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
/** A request body, from the schema the route parses it with (api/bodies.ts). */
const request = (s: z.ZodType) => ({
  required: true,
  ...json(z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' })),
});
const campaignFile = {
  description: 'The campaign document: YAML or JSON text, or the object (see `rollout schema`)',
  oneOf: [{ type: 'string' }, { type: 'object' }],
};
/** A start or plan body: StartBody's schema, with the campaign document described. */
const startBody = () => {
  const body = request(StartBody);
  const schema = body.content['application/json'].schema as { properties: Record<string, unknown> };
  schema.properties.file = campaignFile;
  return body;
};
const action = (summary: string, requestBody: object, response: object) => ({
  post: { summary, parameters: [idParam], requestBody, responses: { '200': ok(response), ...errors } },
});

export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'PACS patch rollout API',
      version: '1',
      description:
        "Campaigns, approvals, host actions, the patch ledger and the audit log. Every request but this document and the two sign-in steps carries `Authorization: Bearer <token>`: a token issued by `rollout users add`, or, when sign-in with the hospital's OpenID Connect provider is set up (ROLLOUT_OIDC_*), an access token (JWT) from that provider whose groups map to a role. Roles: operator, vendor, on-call, auditor.",
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: { type: { type: 'string' }, message: { type: 'string' } },
              required: ['type', 'message'],
            },
          },
        },
        CampaignStatus: schema(CampaignStatus),
        ApprovalRecord: schema(ApprovalRecord),
        Decision: schema(Decision),
        AuditEntry: schema(AuditEntry),
        AuditVerdict: schema(AuditVerdict),
        LedgerEntry: schema(LedgerEntry),
        UserRole: schema(UserRole),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/sign-in/config': {
        get: {
          summary:
            'Where the dashboard sends a person to sign in (null when only local tokens are set up); no token',
          security: [],
          responses: { '200': ok({ type: 'object' }), '503': errors['503'] },
        },
      },
      '/api/sign-in/token': {
        post: {
          summary:
            "The identity provider's authorization code and the dashboard's PKCE verifier exchanged for an access token this API accepts; no token",
          security: [],
          requestBody: request(SignInBody),
          responses: {
            '200': ok({
              type: 'object',
              properties: {
                accessToken: { type: 'string' },
                expiresIn: { type: 'number' },
                name: { type: 'string' },
                role: ref('UserRole'),
              },
            }),
            '400': errors['400'],
            '401': errors['401'],
            '503': errors['503'],
          },
        },
      },
      '/api/me': {
        get: {
          summary: 'The signed-in user, role and views',
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
      },
      '/api/campaigns': {
        get: {
          summary: 'Campaigns from the ledger, newest first, with their state now',
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
        post: {
          summary: 'Validate and start a campaign (operator)',
          requestBody: startBody(),
          responses: {
            '201': ok({ type: 'object', properties: { campaignId: { type: 'string' } } }, 'Started'),
            ...errors,
          },
        },
      },
      '/api/plan': {
        post: {
          summary: 'Plan preview (dry run) of a campaign document',
          requestBody: startBody(),
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
      },
      '/api/campaigns/{id}': {
        get: {
          summary: 'Live status (workflow query)',
          parameters: [idParam],
          responses: { '200': ok(ref('CampaignStatus')), ...errors },
        },
      },
      '/api/campaigns/{id}/hosts': {
        get: {
          summary: 'Every host of the campaign with its state',
          parameters: [idParam, { name: 'state', in: 'query', schema: { type: 'string' } }],
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
      },
      '/api/campaigns/{id}/report': {
        get: {
          summary: 'Campaign report (JSON)',
          parameters: [idParam],
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
      },
      '/api/campaigns/{id}/report.html': {
        get: {
          summary: 'Campaign report (HTML)',
          parameters: [idParam],
          responses: { '200': { description: 'HTML page', content: { 'text/html': {} } }, ...errors },
        },
      },
      '/api/campaigns/{id}/approve': action(
        'Approve the open gate (vendor named by the gate or holding its role)',
        request(ApproveBody),
        ref('ApprovalRecord'),
      ),
      '/api/campaigns/{id}/reject': action(
        'Reject the open gate',
        request(RejectBody),
        ref('ApprovalRecord'),
      ),
      '/api/campaigns/{id}/review-soak': action(
        'Decide an inconclusive soak',
        request(ReviewBody),
        ref('Decision'),
      ),
      ...Object.fromEntries(
        (['pause', 'resume', 'abort'] as const).map((c) => [
          `/api/campaigns/{id}/${c}`,
          action(`${c} the campaign (operator)`, request(ControlBody), ref('Decision')),
        ]),
      ),
      '/api/campaigns/{id}/hosts/{host}/{action}': {
        post: {
          summary: 'retry | rollback | mark-fixed | skip a host that needs attention (on-call, operator)',
          parameters: [
            idParam,
            { name: 'host', in: 'path', required: true, schema: { type: 'string' } },
            {
              name: 'action',
              in: 'path',
              required: true,
              schema: { enum: ['retry', 'rollback', 'mark-fixed', 'skip'] },
            },
          ],
          requestBody: request(HostActionBody),
          responses: { '200': ok(ref('Decision')), ...errors },
        },
      },
      '/api/on-call': {
        get: {
          summary: 'Hosts needing attention in running campaigns',
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
      },
      '/api/ledger': {
        get: {
          summary: 'Hosts × patches; `missing=true` lists who lacks the patch; `format=csv` for CSV',
          parameters: [
            { name: 'patch', in: 'query', schema: { type: 'string' } },
            { name: 'missing', in: 'query', schema: { enum: ['true', 'false'] } },
            { name: 'format', in: 'query', schema: { enum: ['json', 'csv'] } },
          ],
          responses: { '200': ok({ type: 'object' }), ...errors },
        },
      },
      '/api/audit': {
        get: {
          summary: 'Audit entries, newest first',
          parameters: [
            { name: 'campaign', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer' } },
          ],
          responses: {
            '200': ok({
              type: 'object',
              properties: { entries: { type: 'array', items: ref('AuditEntry') } },
            }),
            ...errors,
          },
        },
      },
      '/api/audit/verify': {
        get: { summary: 'Verify the hash chain', responses: { '200': ok(ref('AuditVerdict')), ...errors } },
      },
    },
  };
}
