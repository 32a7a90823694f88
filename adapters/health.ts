/**
 * Health probes for one host: a command, a service, a process or a path over SSH (in the host's
 * dialect), a TCP port, an HTTP(S) answer and a DICOM C-ECHO (Verification SOP class). Every probe has a deadline and reports its timing and, on failure, the reason.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import dimse from 'dcmjs-dimse';
import type { CheckResult, HealthCheck, HealthReport } from '../domain/schema.js';
import { tail, type CommandResult, type SshSession } from './ssh.js';

dimse.log.setLevel('silent');

/** Resolves when a TCP connection opens; rejects on refusal or after `timeoutMs` (the socket is destroyed). */
export function probeTcp(address: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: address, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP connection to ${address}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`TCP ${address}:${port}: ${err.message}`));
    });
  });
}

/**
 * One C-ECHO. A TCP probe with a deadline goes first: dcmjs-dimse leaves its socket open against a
 * black-holed address until the kernel gives up, minutes later.
 */
export async function dicomEcho(
  address: string,
  port: number,
  callingAet: string,
  calledAet: string,
  timeoutMs: number,
): Promise<void> {
  await probeTcp(address, port, timeoutMs);
  await new Promise<void>((resolve, reject) => {
    const client = new dimse.Client();
    const request = new dimse.requests.CEchoRequest();
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`C-ECHO got no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('response', (response: { getStatus(): number }) => {
      const status = response.getStatus();
      if (status === dimse.constants.Status.Success) finish();
      else finish(new Error(`C-ECHO status 0x${status.toString(16).padStart(4, '0')}`));
    });
    client.on('associationRejected', (result: { reason?: number }) =>
      finish(new Error(`association rejected (reason ${result.reason ?? '?'}); check the called AE title`)),
    );
    client.on('networkError', (e: Error) => finish(new Error(`DICOM network error: ${e.message.trim()}`)));
    client.on('closed', () => finish(new Error('association closed before a C-ECHO response')));
    client.addRequest(request);
    client.send(address, port, callingAet, calledAet, {
      connectTimeout: timeoutMs,
      associationTimeout: timeoutMs,
      pduTimeout: timeoutMs,
    });
  });
}

const MAX_BODY_BYTES = 65_536;

/** One HTTP(S) GET: resolves with the status and the first 64 KiB of the body; rejects on a network error or timeout. */
export function httpGet(
  url: URL,
  timeoutMs: number,
  insecureTls: boolean,
): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => req.destroy(new Error(`no HTTP answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const req = request(url, { method: 'GET', rejectUnauthorized: !insecureTls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8'),
        });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`HTTP ${url.origin}: ${err.message}`));
    });
    req.end();
  });
}

/** Runs a script of the host's dialect that must exit 0; `what` names the condition for the failure reason. */
async function sshCondition(
  ssh: SshSession | undefined,
  script: (session: SshSession) => string,
  timeoutMs: number,
  what: string,
  ran?: CommandResult,
) {
  if (!ssh) throw new Error('no SSH session');
  const result = ran ?? (await ssh.run(script(ssh), timeoutMs));
  if (result.code === null) throw new Error('connection lost');
  if (result.code !== 0) throw new Error(`${what} (exit ${result.code})`);
}

async function timed(name: string, probe: () => Promise<string>): Promise<CheckResult> {
  const started = Date.now();
  try {
    const detail = await probe();
    return { name, ok: true, durationMs: Date.now() - started, detail };
  } catch (err) {
    return { name, ok: false, durationMs: Date.now() - started, detail: (err as Error).message };
  }
}

export interface ProbeTarget {
  address: string;
  dicomAet?: string;
}

/** The script a check runs on the host over SSH (command, service and path checks), or none. */
function sshScriptOf(check: HealthCheck, ssh: SshSession): string | undefined {
  if (check.kind === 'command') return ssh.dialect.userCommand(check.command);
  if (check.kind === 'service') return ssh.dialect.serviceCheck(check);
  if (check.kind === 'path') return ssh.dialect.pathCheck(check);
  return undefined;
}

/** `ran`: the check's script already run (in one batch with the host's other checks). */
export async function runCheck(
  check: HealthCheck,
  target: ProbeTarget,
  ssh: SshSession | undefined,
  ran?: CommandResult,
): Promise<CheckResult> {
  const { address } = target;
  switch (check.kind) {
    case 'command':
      return timed(check.name, async () => {
        if (!ssh) throw new Error('no SSH session');
        const result = ran ?? (await ssh.run(ssh.dialect.userCommand(check.command), check.timeout));
        if (result.code !== check.expectExitCode)
          throw new Error(
            `exit ${result.code ?? 'none (connection lost)'}, expected ${check.expectExitCode}: ${tail(result.stderr.trim(), 200)}`,
          );
        return `exit ${result.code}`;
      });
    case 'tcp':
      return timed(check.name, async () => {
        await probeTcp(address, check.port, check.timeout);
        return `port ${check.port} open`;
      });
    case 'dicom-echo':
      return timed(check.name, async () => {
        const called = check.calledAet ?? target.dicomAet;
        if (!called)
          throw new Error('no called AE title: set dicomAet on the host or calledAet on the check');
        await dicomEcho(address, check.port, check.callingAet, called, check.timeout);
        return `C-ECHO ${check.callingAet} -> ${called}@${check.port} success`;
      });
    case 'http':
      return timed(check.name, async () => {
        const port = check.port ?? (check.scheme === 'https' ? 443 : 80);
        const host = address.includes(':') ? `[${address}]` : address;
        const url = new URL(`${check.scheme}://${host}:${port}${check.path}`);
        const { status, body } = await httpGet(url, check.timeout, check.insecureTls);
        if (status !== check.expectStatus)
          throw new Error(`${url.pathname} answered HTTP ${status}, expected ${check.expectStatus}`);
        if (check.bodyMatch !== undefined && !new RegExp(check.bodyMatch).test(body))
          throw new Error(`${url.pathname} body does not match /${check.bodyMatch}/`);
        return `HTTP ${status}${check.bodyMatch ? ', body matches' : ''}`;
      });
    case 'service':
      return timed(check.name, async () => {
        await sshCondition(
          ssh,
          (s) => s.dialect.serviceCheck(check),
          check.timeout,
          `service ${check.service} is not running`,
          ran,
        );
        return `${check.service} active`;
      });
    case 'path':
      return timed(check.name, async () => {
        await sshCondition(
          ssh,
          (s) => s.dialect.pathCheck(check),
          check.timeout,
          `${check.path} is not a ${check.type === 'mount' ? 'mount point' : check.type}`,
          ran,
        );
        return `${check.path} is a ${check.type === 'mount' ? 'mount point' : check.type}`;
      });
  }
}

/** Runs `fn` on an SSH session to the host being checked (a pooled one or a new one: the caller's choice). */
export type SessionScope = <T>(fn: (session: SshSession) => Promise<T>) => Promise<T>;

/**
 * Runs every check; getting an SSH session counts as the first check. When there is none, the checks
 * that need SSH fail and the others (TCP, HTTP, DICOM) still run.
 */
export async function runHealthChecks(
  target: ProbeTarget,
  checks: HealthCheck[],
  withSession: SessionScope,
  nowIso: () => string = () => new Date().toISOString(),
): Promise<HealthReport> {
  const report = (results: CheckResult[]): HealthReport => ({
    ok: results.every((r) => r.ok),
    at: nowIso(),
    checks: results,
  });
  const started = Date.now();
  let loggedIn = false;
  try {
    return await withSession(async (ssh) => {
      loggedIn = true;
      const results: CheckResult[] = [
        {
          name: 'ssh-login',
          ok: true,
          durationMs: Date.now() - started,
          detail: 'logged in with pinned host key',
        },
      ];
      // The checks that run a script on the host go in one command, bounded by the longest of their
      // timeouts; each shows the command's time. If it fails as a whole, so does each of them.
      const scripted = checks.filter((check) => sshScriptOf(check, ssh) !== undefined);
      const ran = new Map<HealthCheck, CommandResult>();
      let batchMs = 0;
      let batchError: string | undefined;
      if (scripted.length > 1) {
        const began = Date.now();
        const outputs = await ssh
          .runAll(
            scripted.map((check) => sshScriptOf(check, ssh)!),
            Math.max(...scripted.map((check) => check.timeout)),
          )
          .catch((err: Error) => {
            batchError = err.message;
            return undefined;
          });
        batchMs = Date.now() - began;
        outputs?.forEach((output, i) => ran.set(scripted[i]!, output));
      }
      // The others (a port, a C-ECHO, a web page, a single script) at the same time: each has its own
      // timeout and connection, and none changes the host. Reported in the campaign's order.
      results.push(
        ...(await Promise.all(
          checks.map(async (check): Promise<CheckResult> => {
            if (batchError !== undefined && scripted.includes(check))
              return { name: check.name, ok: false, durationMs: batchMs, detail: batchError };
            const result = await runCheck(check, target, ssh, ran.get(check));
            return ran.has(check) ? { ...result, durationMs: batchMs } : result;
          }),
        )),
      );
      return report(results);
    });
  } catch (err) {
    if (loggedIn) throw err;
    const results: CheckResult[] = [
      { name: 'ssh-login', ok: false, durationMs: Date.now() - started, detail: (err as Error).message },
    ];
    for (const check of checks) results.push(await runCheck(check, target, undefined));
    return report(results);
  }
}
