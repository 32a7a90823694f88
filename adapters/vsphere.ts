/**
 * VMware vSphere images and power through govc (VMware's own vSphere CLI, built by `npm run setup`),
 * run on the worker: snapshots without memory (`snapshot.create -m=false`), revert, remove, power on /
 * off / reset, power state. The user and password come from the key store (a `vsphere` credential
 * allowed for the controller's URL) and reach govc only in its environment: never in arguments (other
 * users can read those), never in a message (govc's stderr is scrubbed of them).
 *
 * Why a retry cannot misjudge: power operations read the power state first and act only when needed,
 * then read it again (govc exits 0 after refusing to power off a VM that is off, so its exit code alone
 * proves nothing); a second revert to the same snapshot writes the same disk state; deleting a snapshot
 * that is gone is done; a second snapshot after an interrupted one is a fresh image, and the activity
 * returns the one it saw finish.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { RolloutError } from '../domain/errors.js';
import type { VsphereController } from '../domain/schema.js';
import type { PowerOperation } from './redfish.js';

/** The govc binary and the home directory it runs with (its only inherited settings). */
export interface GovcTool {
  binary: string;
  home: string;
}

export interface GovcRun {
  govc: GovcTool;
  controller: VsphereController;
  /** `user:password` from the key store. */
  secret: string;
}

type Failure = 'ImageFailed' | 'PowerFailed';

/** The environment govc reads its target from; sessions are never cached on disk. */
export function govcEnvironment(
  controller: VsphereController,
  secret: string,
  home: string,
): NodeJS.ProcessEnv {
  const cut = secret.indexOf(':');
  if (cut <= 0)
    throw new RolloutError(
      'CredentialUnusable',
      `vSphere credential "${controller.credential}" must hold user:password`,
    );
  return {
    PATH: '/usr/bin:/bin',
    HOME: home,
    GOVC_URL: controller.url,
    GOVC_USERNAME: secret.slice(0, cut),
    GOVC_PASSWORD: secret.slice(cut + 1),
    GOVC_INSECURE: controller.insecureTls ? '1' : '0',
    GOVC_PERSIST_SESSION: 'false',
    ...(controller.caFile ? { GOVC_TLS_CA_CERTS: controller.caFile } : {}),
  };
}

/** govc's complaint, in one line, without the credential or govc's own path. */
function scrub(text: string, run: GovcRun): string {
  let out = text.trim().split('\n').pop() ?? '';
  const cut = run.secret.indexOf(':');
  for (const secret of [run.secret, run.secret.slice(cut + 1)])
    if (secret) out = out.split(secret).join('***');
  return out.replace(/^\S*govc: /, '').slice(0, 300);
}

function govc(run: GovcRun, args: string[], failure: Failure, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      run.govc.binary,
      args,
      {
        env: govcEnvironment(run.controller, run.secret, run.govc.home),
        timeout: run.controller.timeout,
        maxBuffer: 4 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const code = (err as NodeJS.ErrnoException).code;
        const reason =
          code === 'ENOENT'
            ? `govc is not installed at ${run.govc.binary} (npm run setup builds it)`
            : (err as { killed?: boolean }).killed
              ? `govc ran longer than ${run.controller.timeout} ms`
              : scrub(String(stderr), run) || `govc exited ${String(code)}`;
        reject(new RolloutError(failure, `vSphere ${run.controller.id}: ${what} failed: ${reason}`));
      },
    );
  });
}

/** A fresh snapshot name: "rollout-<UTC time>-<random>", unique per VM. */
export function snapshotName(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `rollout-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The names in `snapshot.tree -D -i -f` output: "[snapshot-78 2026-…]  a1/a2" gives "a2". */
export function snapshotNames(tree: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const line of tree.split('\n')) {
    const match = /^\s*\[(\S+) [^\]]*\]\s+(.+)$/.exec(line);
    if (!match || match[2] === '.') continue;
    const name = (match[2] ?? '').split('/').pop() ?? '';
    names.set(name, match[1] ?? '');
  }
  return names;
}

async function snapshots(run: GovcRun, vmPath: string, failure: Failure): Promise<Map<string, string>> {
  try {
    return snapshotNames(
      await govc(run, ['snapshot.tree', '-vm', vmPath, '-D', '-i', '-f'], failure, 'listing snapshots'),
    );
  } catch (err) {
    // A VM without snapshots is not an error for a lookup.
    if (err instanceof RolloutError && /no snapshots/.test(err.message)) return new Map();
    throw err;
  }
}

export async function vsphereSnapshot(
  run: GovcRun,
  vmPath: string,
): Promise<{ imageId: string; location: string }> {
  const name = snapshotName();
  await govc(
    run,
    [
      'snapshot.create',
      '-vm',
      vmPath,
      '-m=false',
      `-q=${run.controller.quiesce}`,
      '-d',
      'pre-patch image (rollout)',
      name,
    ],
    'ImageFailed',
    `snapshot of ${vmPath}`,
  );
  const moref = (await snapshots(run, vmPath, 'ImageFailed')).get(name);
  if (!moref)
    throw new RolloutError(
      'ImageFailed',
      `vSphere ${run.controller.id}: snapshot ${name} of ${vmPath} is not listed after creation`,
    );
  return { imageId: name, location: `vsphere ${new URL(run.controller.url).host} ${vmPath} ${moref}` };
}

export async function vsphereVerify(run: GovcRun, vmPath: string, image: string): Promise<{ ok: boolean }> {
  return { ok: (await snapshots(run, vmPath, 'ImageFailed')).has(image) };
}

export async function vsphereRevert(run: GovcRun, vmPath: string, image: string): Promise<{ ok: true }> {
  await govc(
    run,
    ['snapshot.revert', '-vm', vmPath, image],
    'ImageFailed',
    `revert of ${vmPath} to ${image}`,
  );
  return { ok: true };
}

export async function vsphereRemove(run: GovcRun, vmPath: string, image: string): Promise<{ ok: true }> {
  if (!(await snapshots(run, vmPath, 'ImageFailed')).has(image)) return { ok: true };
  await govc(
    run,
    ['snapshot.remove', '-vm', vmPath, image],
    'ImageFailed',
    `removal of ${image} from ${vmPath}`,
  );
  return { ok: true };
}

async function powerState(run: GovcRun, vmPath: string): Promise<'on' | 'off'> {
  const state = (
    await govc(
      run,
      ['object.collect', '-s', vmPath, 'runtime.powerState'],
      'PowerFailed',
      `power state of ${vmPath}`,
    )
  ).trim();
  if (state === 'poweredOn') return 'on';
  if (state === 'poweredOff' || state === 'suspended') return 'off';
  throw new RolloutError(
    'PowerFailed',
    `vSphere ${run.controller.id}: ${vmPath} reports power state "${state.slice(0, 40)}"`,
  );
}

export async function vspherePower(
  run: GovcRun,
  vmPath: string,
  operation: PowerOperation,
): Promise<{ power: 'on' | 'off' }> {
  const before = await powerState(run, vmPath);
  const act = (flag: string) =>
    govc(run, ['vm.power', flag, vmPath], 'PowerFailed', `${flag.slice(1)} of ${vmPath}`);
  const want: 'on' | 'off' = operation === 'powerOff' ? 'off' : 'on';
  if (operation === 'powerStatus') return { power: before };
  if (operation === 'powerCycle') await act(before === 'on' ? '-reset' : '-on');
  else if (operation === 'powerOn' && before === 'off') await act('-on');
  else if (operation === 'powerOff' && before === 'on') await act('-off');
  const after = await powerState(run, vmPath);
  if (after !== want)
    throw new RolloutError(
      'PowerFailed',
      `vSphere ${run.controller.id}: ${vmPath} is ${after} after ${operation}`,
    );
  return { power: after };
}
