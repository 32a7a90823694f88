/** Parsing and validating the operator's campaign file: every error names the field and the reason. */
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { CampaignFile, LIMITS } from '../domain/schema.js';

export class CampaignFileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is not a valid campaign file:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CampaignFileError';
  }
}

function describePath(path: PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return text ? `${text}.${String(key)}` : String(key);
  }, '');
}

/** Turns zod issues into "field: reason" lines a person can act on. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${describePath(issue.path) || '(file)'}: ${issue.message}`);
}

/** How deep the value nests (objects and arrays); stops counting past `limit`. */
function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, limit, depth + 1));
  return deepest;
}

/**
 * Parses YAML or JSON text (JSON is YAML) and validates it; throws CampaignFileError naming each bad
 * field. A file over 4 MiB or nested deeper than 32 levels is refused before it is validated: one
 * request must not cost the process gigabytes.
 */
export function parseCampaignFile(text: string, source = 'campaign file'): CampaignFile {
  if (Buffer.byteLength(text) > LIMITS.fileBytes)
    throw new CampaignFileError(source, [`(file): larger than ${LIMITS.fileBytes / 1024 / 1024} MiB`]);
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 50, uniqueKeys: true });
  } catch (err) {
    throw new CampaignFileError(source, [
      `(file): not YAML or JSON: ${(err as Error).message.split('\n')[0]}`,
    ]);
  }
  if (depthOf(raw, LIMITS.depth) > LIMITS.depth)
    throw new CampaignFileError(source, [`(file): nested deeper than ${LIMITS.depth} levels`]);
  const result = CampaignFile.safeParse(raw);
  if (!result.success) throw new CampaignFileError(source, describeIssues(result.error));
  return result.data;
}
