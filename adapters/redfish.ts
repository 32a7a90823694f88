/**
 * Power control of a BMC over the Redfish HTTP API (DMTF DSP0266), from the worker: read
 * `/redfish/v1/Systems/<id>`, then POST its advertised `#ComputerSystem.Reset` action. Basic auth; the
 * password comes from the key store and is never logged or echoed in errors.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { RolloutError } from '../domain/errors.js';
import type { RedfishController } from '../domain/schema.js';

const MAX_ANSWER_BYTES = 1024 * 1024;

export type PowerOperation = 'powerStatus' | 'powerCycle' | 'powerOn' | 'powerOff';

const ComputerSystem = z.object({
  PowerState: z.string().optional(),
  Actions: z.object({ '#ComputerSystem.Reset': z.object({ target: z.string() }).optional() }).optional(),
});

interface HttpAnswer {
  status: number;
  body: string;
  location?: string | undefined;
}

function send(
  controller: RedfishController,
  secret: string,
  method: 'GET' | 'POST',
  path: string,
  payload?: unknown,
): Promise<HttpAnswer> {
  const url = new URL(path, controller.baseUrl);
  const body = payload === undefined ? undefined : JSON.stringify(payload);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  let ca: Buffer | undefined;
  try {
    ca = controller.caFile ? readFileSync(controller.caFile) : undefined;
  } catch (err) {
    return Promise.reject(
      new RolloutError(
        'PowerFailed',
        `Redfish ${controller.id}: cannot read caFile: ${(err as Error).message}`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        timeout: controller.timeout,
        rejectUnauthorized: !controller.insecureTls,
        ...(ca ? { ca } : {}),
        headers: {
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(secret).toString('base64')}`,
          ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // A Redfish answer is a few KiB; a BMC (or whoever answers in its place) cannot fill memory.
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            location: res.headers.location,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${controller.timeout} ms`)));
    req.on('error', reject);
    req.end(body);
  }).catch((err: Error) => {
    throw new RolloutError(
      'PowerFailed',
      `Redfish ${controller.id}: ${method} ${url.pathname}: ${err.message}`,
    );
  }) as Promise<HttpAnswer>;
}

function expectOk(controller: RedfishController, what: string, answer: HttpAnswer): void {
  if (answer.status >= 200 && answer.status < 300) return;
  const hint = answer.status === 401 || answer.status === 403 ? ' (check the credential)' : '';
  throw new RolloutError(
    'PowerFailed',
    `Redfish ${controller.id}: ${what} answered HTTP ${answer.status}${hint}: ${answer.body.slice(0, 200)}`,
  );
}

/** GET that follows a BMC's redirects (a system name redirecting to its UUID, say) on the same host. */
async function get(controller: RedfishController, secret: string, path: string): Promise<HttpAnswer> {
  let answer = await send(controller, secret, 'GET', path);
  for (let hops = 0; hops < 3 && [301, 302, 307, 308].includes(answer.status) && answer.location; hops++) {
    const next = new URL(answer.location, controller.baseUrl);
    if (next.origin !== new URL(controller.baseUrl).origin)
      throw new RolloutError(
        'PowerFailed',
        `Redfish ${controller.id}: redirected off the BMC to ${next.origin}`,
      );
    answer = await send(controller, secret, 'GET', next.pathname);
  }
  return answer;
}

async function readSystem(controller: RedfishController, secret: string, systemPath: string) {
  const answer = await get(controller, secret, systemPath);
  expectOk(controller, `GET ${systemPath}`, answer);
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    throw new RolloutError('PowerFailed', `Redfish ${controller.id}: ${systemPath} is not JSON`);
  }
  const system = ComputerSystem.safeParse(parsed);
  if (!system.success)
    throw new RolloutError('PowerFailed', `Redfish ${controller.id}: unexpected ComputerSystem`);
  return system.data;
}

const powerOf = (state: string | undefined): 'on' | 'off' =>
  state === 'On' || state === 'PoweringOff' ? 'on' : 'off';

/** One power operation on the system `machine` (the host's machine name, through `systemId`). */
export async function redfishPower(
  controller: RedfishController,
  machine: string,
  secret: string,
  operation: PowerOperation,
  pollMs = 500,
): Promise<{ power: 'on' | 'off' }> {
  const systemId = controller.systemId.replaceAll('{host}', machine);
  const systemPath = `/redfish/v1/Systems/${encodeURIComponent(systemId)}`;
  const system = await readSystem(controller, secret, systemPath);
  const current = powerOf(system.PowerState);
  if (operation === 'powerStatus') return { power: current };
  const target = system.Actions?.['#ComputerSystem.Reset']?.target;
  if (!target)
    throw new RolloutError(
      'PowerFailed',
      `Redfish ${controller.id}: ${systemPath} offers no ComputerSystem.Reset`,
    );
  const resetType =
    operation === 'powerOff'
      ? 'ForceOff'
      : operation === 'powerOn' || current === 'off'
        ? 'On'
        : controller.resetType;
  if (!(operation === 'powerOn' && current === 'on') && !(operation === 'powerOff' && current === 'off')) {
    const answer = await send(controller, secret, 'POST', target, { ResetType: resetType });
    expectOk(controller, `Reset ${resetType}`, answer);
  }
  const wanted = operation === 'powerOff' ? 'off' : 'on';
  const deadline = Date.now() + controller.timeout;
  for (;;) {
    const now = powerOf((await readSystem(controller, secret, systemPath)).PowerState);
    if (now === wanted) return { power: now };
    if (Date.now() > deadline)
      throw new RolloutError(
        'PowerFailed',
        `Redfish ${controller.id}: ${systemId} still ${now} after Reset ${resetType}`,
      );
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
