/**
 * Who a verified token from the hospital's identity provider is, in the product's terms: the person's
 * name from one claim (e-mail by default) and their one role from the groups claim, through the mapping
 * the installation sets (ROLLOUT_OIDC_ROLES: `operator=pacs-operators,vendor=vendor-engineers,…`).
 * A person is one role: groups that map to two roles are refused rather than guessed, because four eyes
 * and gate roles depend on it.
 */
import { UserRole } from './schema.js';

/** Group name → the role it grants. */
export type RoleMapping = Record<string, UserRole>;

/** `role=group[|group…],…` as ROLLOUT_OIDC_ROLES spells it; a problem names the part that is wrong. */
export function parseRoleMapping(text: string): { mapping: RoleMapping } | { problem: string } {
  // No prototype: a group called `constructor` or `__proto__` is a group like any other.
  const mapping: RoleMapping = Object.create(null) as RoleMapping;
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [role, groups, ...extra] = part.split('=');
    const parsed = UserRole.safeParse(role?.trim());
    if (!parsed.success || extra.length || !groups?.trim())
      return {
        problem: `"${part}" is not role=group (roles: ${UserRole.options.join(', ')}; groups separated by |)`,
      };
    for (const group of groups
      .split('|')
      .map((g) => g.trim())
      .filter(Boolean)) {
      const earlier = Object.hasOwn(mapping, group) ? mapping[group] : undefined;
      if (earlier && earlier !== parsed.data)
        return { problem: `group "${group}" is mapped to both ${earlier} and ${parsed.data}` };
      mapping[group] = parsed.data;
    }
  }
  if (!Object.keys(mapping).length) return { problem: 'maps no group to a role' };
  return { mapping };
}

export interface ClaimNames {
  /** The claim that names the person (their identity in campaign files and the audit log). */
  name: string;
  /** The claim that lists the person's groups (an array of strings, or one string). */
  groups: string;
}

/** The person a token's verified claims stand for, or why they stand for no one the product knows. */
export function personFromClaims(
  claims: Record<string, unknown>,
  names: ClaimNames,
  mapping: RoleMapping,
): { name: string; role: UserRole } | { refused: string } {
  const name = claims[names.name];
  if (typeof name !== 'string' || !name.trim() || name.length > 200)
    return { refused: `the token has no ${names.name} claim to name the person` };
  // An address the provider itself has not verified names nobody (gates and four eyes go by it).
  if (names.name === 'email' && claims.email_verified === false)
    return { refused: 'the provider has not verified the e-mail address that names the person' };
  const raw = claims[names.groups];
  const groups = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
  const roles = [
    ...new Set(
      groups
        .filter((g): g is string => typeof g === 'string' && Object.hasOwn(mapping, g))
        .map((g) => mapping[g]!),
    ),
  ];
  if (roles.length === 0)
    return { refused: `no group in the token's ${names.groups} claim maps to a role (ROLLOUT_OIDC_ROLES)` };
  if (roles.length > 1)
    return {
      refused: `the token's groups map to several roles (${roles.sort().join(', ')}): one per person`,
    };
  return { name: name.trim(), role: roles[0]! };
}
