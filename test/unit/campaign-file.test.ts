import { describe, expect, it } from 'vitest';
import { printable } from '../../domain/text.js';
import { Webhook } from '../../domain/schema.js';
import { stringify } from 'yaml';
import { parseCampaignFile } from '../../client/campaign-file.js';
import { parseDuration } from '../../domain/duration.js';
import { validCampaign } from '../fixtures/campaign.js';
import { problemsOf } from '../helpers/campaign-problems.js';

describe('campaign file validation', () => {
  it('accepts a valid file in YAML and in JSON, with defaults filled in', () => {
    const yaml = parseCampaignFile(stringify(validCampaign()));
    const json = parseCampaignFile(JSON.stringify(validCampaign()));
    expect(json).toEqual(yaml);
    expect(yaml.campaign.soak.duration).toBe(48 * 3_600_000);
    expect(yaml.campaign.soak.probeInterval).toBe(15 * 60_000);
    expect(yaml.fleet.hosts[0]?.port).toBe(22);
    expect(yaml.campaign.waves.map((w) => w.name)).toEqual(['canary', 'rest']);
  });

  it('names the field and the reason for a bad host key fingerprint', () => {
    const file = validCampaign();
    file.fleet.hosts[2]!.hostKey = 'AAAA-not-a-fingerprint';
    expect(problemsOf(file)).toEqual([
      'fleet.hosts[2].hostKey: must be a SHA256 fingerprint as printed by ssh-keygen -lf',
    ]);
  });

  it('names unknown references: controller, health check, test host', () => {
    const file = validCampaign();
    file.fleet.hosts[1]!.controller = 'nope';
    file.fleet.hosts[3]!.healthChecks = ['missing-check'];
    file.campaign.testHosts = ['ghost'];
    expect(problemsOf(file)).toEqual([
      'fleet.hosts[1].controller: unknown controller "nope"',
      'fleet.hosts[3].healthChecks[0]: unknown health check "missing-check"',
      'campaign.testHosts[0]: unknown host "ghost"',
    ]);
  });

  it('refuses bad durations, unknown fields, duplicate hosts and a bad checksum', () => {
    const file = validCampaign() as unknown as {
      campaign: { soak: { duration: string }; surprise?: boolean };
      fleet: { hosts: Array<{ id: string }> };
      patch: { artifact: { sha256: string } };
    };
    file.campaign.soak.duration = 'two days';
    file.campaign.surprise = true;
    file.fleet.hosts[1]!.id = 'h0';
    file.patch.artifact.sha256 = 'abc';
    // The duplicate host ID is not among them: it is checked once the shape is valid (next test).
    expect(problemsOf(file)).toEqual([
      'patch.artifact.sha256: must be 64 lower-case hex digits',
      'campaign.soak.duration: "two days" is not a duration; use e.g. 30s, 15m, 48h, 2d',
      'campaign: Unrecognized key: "surprise"',
    ]);
  });

  it('reports the duplicate host ID once the shape is valid', () => {
    const file = validCampaign();
    file.fleet.hosts[1]!.id = 'h0';
    expect(problemsOf(file)).toEqual(['fleet.hosts[1].id: duplicate host id "h0"']);
  });

  it('refuses text that is not YAML at all', () => {
    expect(problemsOf('{ unclosed: [')).toEqual([
      '(file): not YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 14:',
    ]);
  });

  it('parses durations', () => {
    expect(parseDuration('48h')).toBe(172_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('printing and webhooks', () => {
  it('shows control characters and bidi overrides in values as U+FFFD, keeping tabs and newlines', () => {
    expect(printable('ok\u001b[2J\u001b[Hfake line\u202e\tx\ny')).toBe(
      'ok\uFFFD[2J\uFFFD[Hfake line\uFFFD\tx\ny',
    );
  });

  it('refuses a webhook URL that carries a user name or password', () => {
    expect(Webhook.safeParse({ name: 'ops', url: 'https://user:secret@hooks.example/x' }).success).toBe(
      false,
    );
    expect(Webhook.safeParse({ name: 'ops', url: 'https://hooks.example/x/token' }).success).toBe(true);
  });
});
