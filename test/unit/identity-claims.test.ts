/** The group → role mapping of sign-in with the identity provider (domain/identity-claims.ts). */
import { describe, expect, it } from 'vitest';
import { parseRoleMapping, personFromClaims } from '../../domain/identity-claims.js';

const NAMES = { name: 'email', groups: 'groups' };
const mapping = {
  'pacs-operators': 'operator',
  'radiology-admins': 'operator',
  'vendor-engineers': 'vendor',
  compliance: 'auditor',
} as const;

describe('parseRoleMapping', () => {
  it('reads role=group|group, pairs separated by commas', () => {
    expect(
      parseRoleMapping(
        'operator=pacs-operators|radiology-admins, vendor=vendor-engineers,auditor=compliance',
      ),
    ).toEqual({ mapping });
  });

  it('names what is wrong: an unknown role, a missing group, a group given two roles, nothing at all', () => {
    expect(parseRoleMapping('admin=it')).toEqual({
      problem:
        '"admin=it" is not role=group (roles: vendor, operator, on-call, auditor; groups separated by |)',
    });
    expect(parseRoleMapping('operator=')).toMatchObject({ problem: expect.stringContaining('"operator="') });
    expect(parseRoleMapping('operator=staff,auditor=staff')).toEqual({
      problem: 'group "staff" is mapped to both operator and auditor',
    });
    expect(parseRoleMapping(' , ')).toEqual({ problem: 'maps no group to a role' });
  });
});

describe('personFromClaims', () => {
  it('names the person by the name claim and gives the one role their groups map to', () => {
    expect(
      personFromClaims(
        { email: ' o.lind@h.example ', groups: ['staff', 'pacs-operators', 'radiology-admins'] },
        NAMES,
        mapping,
      ),
    ).toEqual({ name: 'o.lind@h.example', role: 'operator' });
    // One group as a string (some providers send it so).
    expect(personFromClaims({ email: 'a@h.example', groups: 'compliance' }, NAMES, mapping)).toEqual({
      name: 'a@h.example',
      role: 'auditor',
    });
  });

  it('refuses a token without the name claim, without a mapped group, or with groups of two roles', () => {
    expect(personFromClaims({ groups: ['compliance'] }, NAMES, mapping)).toEqual({
      refused: 'the token has no email claim to name the person',
    });
    expect(personFromClaims({ email: 'x@h.example', groups: ['staff', 7] }, NAMES, mapping)).toEqual({
      refused: "no group in the token's groups claim maps to a role (ROLLOUT_OIDC_ROLES)",
    });
    expect(personFromClaims({ email: 'x@h.example' }, NAMES, mapping)).toMatchObject({
      refused: expect.stringContaining('no group'),
    });
    expect(
      personFromClaims({ email: 'x@h.example', groups: ['compliance', 'vendor-engineers'] }, NAMES, mapping),
    ).toEqual({ refused: "the token's groups map to several roles (auditor, vendor): one per person" });
  });

  it('refuses an e-mail the provider says it has not verified, when the e-mail names the person', () => {
    expect(
      personFromClaims(
        { email: 'x@h.example', email_verified: false, groups: ['compliance'] },
        NAMES,
        mapping,
      ),
    ).toEqual({ refused: 'the provider has not verified the e-mail address that names the person' });
    expect(
      personFromClaims(
        { email: 'x@h.example', email_verified: true, groups: ['compliance'] },
        NAMES,
        mapping,
      ),
    ).toEqual({ name: 'x@h.example', role: 'auditor' });
  });

  it('takes group names such as constructor or __proto__ as plain names, not object properties', () => {
    const parsed = parseRoleMapping('auditor=constructor');
    expect(parsed).toMatchObject({ mapping: { constructor: 'auditor' } });
    const odd = (parsed as { mapping: Record<string, 'auditor'> }).mapping;
    expect(personFromClaims({ email: 'x@h.example', groups: ['constructor'] }, NAMES, odd)).toEqual({
      name: 'x@h.example',
      role: 'auditor',
    });
    expect(
      personFromClaims({ email: 'x@h.example', groups: ['__proto__', 'toString'] }, NAMES, mapping),
    ).toMatchObject({ refused: expect.stringContaining('no group') });
  });
});
