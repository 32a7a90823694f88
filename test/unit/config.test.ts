/**
 * The one config module: every setting from one validated read of the environment, every wrong variable
 * named in one error, and the CLI turning that error into exit 2 with the message (not "internal error").
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  childEnvironment,
  cliToken,
  ConfigError,
  embeddedSettings,
  loadSettings,
} from '../../runtime/config.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';

const run = promisify(execFile);

describe('loadSettings', () => {
  it('gives the documented defaults for an empty environment', () => {
    const s = loadSettings({});
    expect(s.dataDir).toBe(`${PROJECT_ROOT}/.data`);
    expect(s.toolsDir).toBe(`${PROJECT_ROOT}/.tools`);
    expect(s.bindShim).toBe(`${PROJECT_ROOT}/.tools/bindaddr.so`);
    expect(s.labDir).toBe(`${PROJECT_ROOT}/.data/lab`);
    expect(s.keyDir).toBe(`${PROJECT_ROOT}/.data/lab/keys`);
    expect(s.database).toEqual({
      sqliteFile: `${PROJECT_ROOT}/.data/rollout.sqlite`,
      legacyStoreDir: `${PROJECT_ROOT}/.data/store`,
    });
    expect(s.temporal).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'pacs-rollout',
    });
    expect(s.api).toEqual({ host: '127.0.0.1', port: 8088 });
    expect(s.artifacts).toEqual({
      dirs: [`${PROJECT_ROOT}/.data/artifacts`, `${PROJECT_ROOT}/examples/artifacts`],
      maxBytes: 8 * 1024 ** 3,
      hashTimeoutMs: 600_000,
      cacheDir: `${PROJECT_ROOT}/.data/artifact-cache`,
      urlPrefixes: [],
    });
    expect(s.serviceKeyFile).toBe(`${PROJECT_ROOT}/.data/keys/service-ed25519.pem`);
    expect(s.metricsAddress).toBe('127.0.0.1:9464');
    expect(s.sdkLogLevel).toBe('WARN');
    expect(s.logLevel).toBeUndefined();
    expect(s.webhooks).toEqual([]);
    expect(s.hostname).toBe('localhost');
    expect(s.sshAgentSocket).toBeUndefined();
  });

  it('derives the directories from ROLLOUT_DATA_DIR and takes each variable as given', () => {
    const s = loadSettings({
      ROLLOUT_DATA_DIR: '/srv/rollout',
      ROLLOUT_DATABASE_URL: 'postgres://rollout@127.0.0.1/rollout',
      TEMPORAL_ADDRESS: 'temporal.hospital.example:7233',
      ROLLOUT_TASK_QUEUE: 'radiology',
      ROLLOUT_API_PORT: '9443',
      ROLLOUT_API_TLS_CERT: '/etc/rollout/api.crt',
      ROLLOUT_API_TLS_KEY: '/etc/rollout/api.key',
      ROLLOUT_ARTIFACT_DIRS: '/srv/patches:/mnt/vendor',
      ROLLOUT_ARTIFACT_MAX_BYTES: '1024',
      ROLLOUT_ARTIFACT_CA_FILE: '/etc/rollout/artifact-ca.pem',
      ROLLOUT_ARTIFACT_URLS: 'https://portal.vendor.example/patches/, https://mirror.hospital.example/',
      ROLLOUT_SDK_LOG_LEVEL: 'debug',
      ROLLOUT_LOG_LEVEL: 'warn',
      ROLLOUT_METRICS_ADDRESS: '',
      ROLLOUT_WEBHOOKS: '[{"name":"ops","url":"https://hooks.hospital.example/x"}]',
      SSH_AUTH_SOCK: '/run/agent.sock',
      HOSTNAME: 'pacs-admin-01',
    });
    expect(s.labDir).toBe('/srv/rollout/lab');
    expect(s.database).toEqual({
      databaseUrl: 'postgres://rollout@127.0.0.1/rollout',
      sqliteFile: '/srv/rollout/rollout.sqlite',
      legacyStoreDir: '/srv/rollout/store',
    });
    expect(s.temporal.address).toBe('temporal.hospital.example:7233');
    expect(s.temporal.taskQueue).toBe('radiology');
    expect(s.api).toEqual({
      host: '127.0.0.1',
      port: 9443,
      tlsCertFile: '/etc/rollout/api.crt',
      tlsKeyFile: '/etc/rollout/api.key',
    });
    expect(s.artifacts).toEqual({
      dirs: ['/srv/patches', '/mnt/vendor'],
      maxBytes: 1024,
      hashTimeoutMs: 600_000,
      cacheDir: '/srv/rollout/artifact-cache',
      caFile: '/etc/rollout/artifact-ca.pem',
      urlPrefixes: ['https://portal.vendor.example/patches/', 'https://mirror.hospital.example/'],
    });
    expect(s.sdkLogLevel).toBe('DEBUG');
    expect(s.logLevel).toBe('warn');
    // Set but empty turns the metrics endpoint off.
    expect(s.metricsAddress).toBeUndefined();
    expect(s.webhooks.map((w) => w.name)).toEqual(['ops']);
    expect(s.sshAgentSocket).toBe('/run/agent.sock');
    expect(s.hostname).toBe('pacs-admin-01');
  });

  it('takes ROLLOUT_API_URL only where a token may go: https, or http to loopback; no credentials or query', () => {
    const remote = (url: string) => loadSettings({ ROLLOUT_API_URL: url }).remoteApi;
    expect(remote('https://rollout.hospital.example:8443/')).toEqual({
      url: 'https://rollout.hospital.example:8443',
    });
    expect(remote('http://127.0.0.1:8088')).toEqual({ url: 'http://127.0.0.1:8088' });
    expect(remote('http://[::1]:8088')).toEqual({ url: 'http://[::1]:8088' });
    expect(
      loadSettings({ ROLLOUT_API_URL: 'https://r.example', ROLLOUT_API_CA_FILE: '/etc/ca.pem' }).remoteApi,
    ).toEqual({ url: 'https://r.example', caFile: '/etc/ca.pem' });
    expect(loadSettings({}).remoteApi).toBeUndefined();
    const refused = (env: Record<string, string>) => {
      try {
        loadSettings(env);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ ROLLOUT_API_URL: 'http://rollout.hospital.example' })).toBe(
      'bad settings: ROLLOUT_API_URL: must be https (http only to a loopback address)',
    );
    expect(refused({ ROLLOUT_API_URL: 'https://op:secret@rollout.example' })).toBe(
      'bad settings: ROLLOUT_API_URL: must not carry a user name or password (the token is ROLLOUT_TOKEN)',
    );
    expect(refused({ ROLLOUT_API_URL: 'https://rollout.example/?token=x' })).toBe(
      'bad settings: ROLLOUT_API_URL: must not have a query string or fragment',
    );
    expect(refused({ ROLLOUT_API_URL: 'rollout.example' })).toBe(
      'bad settings: ROLLOUT_API_URL: must be a URL such as https://rollout.hospital.example:8443',
    );
    expect(refused({ ROLLOUT_API_URL: 'https://r.example', ROLLOUT_API_CA_FILE: 'ca.pem' })).toBe(
      'bad settings: ROLLOUT_API_CA_FILE: must be an absolute path',
    );
  });

  it('reads sign-in with an identity provider from ROLLOUT_OIDC_*, and names what is missing or wrong', () => {
    const oidc = loadSettings({
      ROLLOUT_OIDC_ISSUER: 'https://login.hospital.example/realms/pacs/',
      ROLLOUT_OIDC_CLIENT_ID: 'rollout-dashboard',
      ROLLOUT_OIDC_ROLES: 'operator=pacs-operators,auditor=compliance',
      ROLLOUT_OIDC_AUDIENCE: 'api://rollout',
    }).oidc;
    expect(oidc).toEqual({
      issuer: 'https://login.hospital.example/realms/pacs/',
      clientId: 'rollout-dashboard',
      audience: 'api://rollout',
      scope: 'openid email',
      claims: { name: 'email', groups: 'groups' },
      roles: { 'pacs-operators': 'operator', compliance: 'auditor' },
    });
    expect(() => loadSettings({ ROLLOUT_OIDC_ISSUER: 'https://login.example' })).toThrow(
      "bad settings: ROLLOUT_OIDC_CLIENT_ID: the dashboard's client ID at the identity provider is required; ROLLOUT_OIDC_ROLES: maps no group to a role; ROLLOUT_OIDC_AUDIENCE: the `aud` of the provider's access tokens for this API is required",
    );
    expect(() =>
      loadSettings({
        ROLLOUT_OIDC_ISSUER: 'https://login.example',
        ROLLOUT_OIDC_CLIENT_ID: 'rollout-dashboard',
        ROLLOUT_OIDC_ROLES: 'operator=a',
        ROLLOUT_OIDC_AUDIENCE: 'rollout-dashboard',
      }),
    ).toThrow(
      "bad settings: ROLLOUT_OIDC_AUDIENCE: must name the API, not the dashboard's client ID (that is the audience of ID tokens)",
    );
    expect(() => loadSettings({ ROLLOUT_OIDC_ISSUER: 'https://x:y@login.example' })).toThrow(
      'ROLLOUT_OIDC_ISSUER: must not carry a user name or password (the issuer is a public URL)',
    );
    expect(() => loadSettings({ ROLLOUT_OIDC_CLIENT_ID: 'x', ROLLOUT_OIDC_ROLES: 'operator=a' })).toThrow(
      'bad settings: ROLLOUT_OIDC_ISSUER: set it with ROLLOUT_OIDC_CLIENT_ID and ROLLOUT_OIDC_ROLES',
    );
    expect(() =>
      loadSettings({ ROLLOUT_OIDC_ISSUER: 'http://login.example', ROLLOUT_OIDC_CLIENT_ID: 'x' }),
    ).toThrow('ROLLOUT_OIDC_ISSUER: must be https (http only to a loopback address)');
  });

  it('takes an empty variable as unset', () => {
    const s = loadSettings({ ROLLOUT_DATA_DIR: '', TEMPORAL_ADDRESS: ' ', ROLLOUT_API_PORT: '' });
    expect(s.dataDir).toBe(`${PROJECT_ROOT}/.data`);
    expect(s.temporal.address).toBe('127.0.0.1:7233');
    expect(s.api.port).toBe(8088);
  });

  it('names every wrong variable in one ConfigError, without the webhook URL', () => {
    const wrong = () =>
      loadSettings({
        ROLLOUT_ARTIFACT_MAX_BYTES: '-5',
        ROLLOUT_SERVICE_KEY: 'relative/key.pem',
        ROLLOUT_SDK_LOG_LEVEL: 'chatty',
        ROLLOUT_DATABASE_URL: 'mysql://db',
        ROLLOUT_ARTIFACT_DIRS: '/ok:relative',
        ROLLOUT_ARTIFACT_URLS: 'https://portal.example/patches/,https://portal.example.evil',
      });
    expect(wrong).toThrow(ConfigError);
    expect(wrong).toThrow(
      'bad settings: ROLLOUT_DATABASE_URL: must be a postgres:// URL; ROLLOUT_ARTIFACT_DIRS: every directory must be absolute (":"-separated); ROLLOUT_ARTIFACT_MAX_BYTES: must be a positive whole number; ROLLOUT_ARTIFACT_URLS: every prefix must be an https URL ending in "/", written as a browser would (","-separated); ROLLOUT_SERVICE_KEY: must be an absolute path; ROLLOUT_SDK_LOG_LEVEL: Invalid option: expected one of "TRACE"|"DEBUG"|"INFO"|"WARN"|"ERROR"',
    );
    const later = () =>
      loadSettings({
        ROLLOUT_API_PORT: '70000',
        ROLLOUT_API_TLS_CERT: '/etc/api.crt',
        ROLLOUT_WEBHOOKS: '[{"name":"ops","url":"ftp://secret-token@hooks.example/"}]',
      });
    expect(later).toThrow(
      'bad settings: ROLLOUT_WEBHOOKS: 0.url: Invalid URL; 0.url: must not hold a user name or password; put a token in the path or a header the receiver checks; ROLLOUT_API_PORT: must be a port number (0-65535)',
    );
    expect(later).not.toThrow(/secret-token/);
  });

  it('reads the token from ROLLOUT_TOKEN_FILE only when asked, and says which file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rollout-config-'));
    try {
      writeFileSync(`${dir}/token`, 'tok-123\nignored\n');
      const s = loadSettings({ ROLLOUT_TOKEN_FILE: `${dir}/token` });
      expect(cliToken(s)).toBe('tok-123');
      expect(cliToken(loadSettings({ ROLLOUT_TOKEN: ' tok-9 ', ROLLOUT_TOKEN_FILE: `${dir}/token` }))).toBe(
        'tok-9',
      );
      const missing = loadSettings({ ROLLOUT_TOKEN_FILE: `${dir}/none` });
      expect(() => cliToken(missing)).toThrow(`ROLLOUT_TOKEN_FILE: cannot read ${dir}/none: ENOENT`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives an embedded worker its own server and directories, no metrics endpoint and quiet SDK logs', () => {
    const s = embeddedSettings({
      temporal: { address: '127.0.0.1:40000', taskQueue: 'q' },
      keyDir: '/tmp/k',
    });
    expect(s.temporal).toEqual({ address: '127.0.0.1:40000', namespace: 'default', taskQueue: 'q' });
    expect([s.keyDir, s.metricsAddress, s.sdkLogLevel]).toEqual(['/tmp/k', undefined, 'ERROR']);
  });
});

describe('the CLI with a wrong setting', () => {
  it('exits 2 with the variable named (a user error, not "internal error"), before reaching Temporal', async () => {
    const failed = await run(process.execPath, [`${PROJECT_ROOT}/bin/rollout.js`, 'status', 'c-1'], {
      env: childEnvironment({ ROLLOUT_ARTIFACT_HASH_TIMEOUT_MS: 'soon', TEMPORAL_ADDRESS: '127.0.0.1:1' }),
    }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr.trim()).toBe(
      'rollout: bad settings: ROLLOUT_ARTIFACT_HASH_TIMEOUT_MS: must be a positive whole number',
    );
  }, 30_000);
});
