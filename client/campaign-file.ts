/** Parsing and validating the operator's campaign file: every error names the field and the reason. */
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { CampaignFile } from '../domain/schema.js';

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

/** Parses YAML or JSON text (JSON is YAML) and validates it; throws CampaignFileError naming each bad field. */
export function parseCampaignFile(text: string, source = 'campaign file'): CampaignFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new CampaignFileError(source, [
      `(file): not YAML or JSON: ${(err as Error).message.split('\n')[0]}`,
    ]);
  }
  const result = CampaignFile.safeParse(raw);
  if (!result.success) throw new CampaignFileError(source, describeIssues(result.error));
  return result.data;
}
