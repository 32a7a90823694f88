/**
 * Everything the Windows dialect can render, parsed by a real PowerShell grammar: no syntax error in
 * any script (every step, package kind, health kind and Hyper-V command), and hostile values in every
 * placeholder arrive as one literal string, never as code (checked in the syntax tree, by the language
 * specification's quoting rules). Plus the contract every dialect must meet, and the transport.
 */
import { describe, expect, it } from 'vitest';
import { DIALECTS } from '../../adapters/dialects/index.js';
import { HOST_OPERATIONS, renderTemplate, type HostDialect } from '../../adapters/dialects/dialect.js';
import {
  encodeCommand,
  MAX_COMMAND_LINE,
  POWERSHELL,
  psQuote,
  readPowerShellStderr,
  STDIN_LOADER,
  windowsArgument,
} from '../../adapters/dialects/powershell.js';
import { INSTALL_WRAPPER, windowsDialect as win } from '../../adapters/dialects/windows.js';
import { CONTROLLER_PRESETS } from '../../domain/controller-presets.js';
import { DEFAULT_BOOT_ID_COMMAND, type WindowsPackage } from '../../domain/platform.js';
import type { Patch } from '../../domain/schema.js';
import {
  parsePowerShell,
  syntaxProblems,
  verbatimLiterals,
  verbatimValue,
} from '../helpers/powershell-grammar.js';

const SHA = 'a'.repeat(64);
const RUN = {
  runKey: 'c1-kb5034441-2024.01',
  owner: 'run-1',
  timeoutMs: 1_800_000,
  bootIdCommand: DEFAULT_BOOT_ID_COMMAND.windows,
};
const DIR = win.runDir(RUN.runKey);

function windowsPatch(
  overrides: Partial<Patch> = {},
  windows: Partial<NonNullable<Patch['windows']>> = {},
): Patch {
  return {
    id: 'kb5034441',
    version: '2024.01',
    artifact: { path: '/srv/patches/windows10.0-kb5034441-x64.msu', sha256: SHA },
    windows: { kb: 'KB5034441', package: 'msu', arguments: [], pendingReboot: 'refuse', ...windows },
    prerequisites: { minFreeDisk: { path: 'C:\\', mebibytes: 2048 } },
    integrity: {
      protectedPaths: ['D:\\PACS\\Images'],
      mode: 'sha256',
      allowNewFiles: false,
      timeout: 60_000,
    },
    reboots: true,
    healthRetry: { attempts: 3, interval: 10_000 },
    installTimeout: 1_800_000,
    rebootGrace: 5_000,
    bootTimeout: 900_000,
    ...overrides,
  } as Patch;
}

const PACKAGES: WindowsPackage[] = ['msu', 'msi', 'exe', 'ps1'];

/** Every script the dialect renders for ordinary values, by name. */
function everyScript(): Array<[string, string]> {
  const scripts: Array<[string, string]> = [
    ['sha256', win.sha256('C:\\ProgramData\\rollout\\artifacts\\x.msu')],
    ['prepareArtifactDir', win.prepareArtifactDir()],
    ['removeFile', win.removeFile('C:\\ProgramData\\rollout\\artifacts\\x.part-1')],
    ['rename', win.rename('C:\\a.part', 'C:\\a')],
    ['installPoll', win.installPoll(DIR, RUN)],
    [
      'installPoll with a test seam',
      win.installPoll(DIR, RUN, { betweenObservations: 'Start-Sleep -Seconds 1' }),
    ],
    ['installOutput', win.installOutput(DIR)],
    ['rebootCommand', win.rebootCommand],
    ['versionCommand (KB)', win.versionCommand(windowsPatch())],
    [
      'versionCommand (own)',
      win.versionCommand(
        windowsPatch({ versionCommand: "(Get-Item 'C:\\PACS\\viewer.exe').VersionInfo.ProductVersion" }),
      ),
    ],
    ['userCommand', win.userCommand('Get-Service DcmQRSCP | Out-Null')],
    ['boot ID', win.userCommand(DEFAULT_BOOT_ID_COMMAND.windows)],
    ['existingProfile', win.existingProfile('C:\\ProgramData\\rollout\\integrity\\k\\before')],
    ['compareProfiles', win.compareProfiles('C:\\ProgramData\\rollout\\integrity\\k', false, 50)],
    [
      'compareProfiles (new files allowed)',
      win.compareProfiles('C:\\ProgramData\\rollout\\integrity\\k', true, 50),
    ],
    [
      'service (windows)',
      win.serviceCheck({ kind: 'service', name: 's', service: 'DcmQRSCP', manager: 'windows', timeout: 1 }),
    ],
    ['service (default)', win.serviceCheck({ kind: 'service', name: 's', service: 'DcmQRSCP', timeout: 1 })],
    [
      'process',
      win.serviceCheck({ kind: 'service', name: 's', service: 'viewer', manager: 'process', timeout: 1 }),
    ],
    [
      'path (file)',
      win.pathCheck({ kind: 'path', name: 'p', path: 'D:\\PACS\\pacs.ini', type: 'file', timeout: 1 }),
    ],
    [
      'path (directory)',
      win.pathCheck({ kind: 'path', name: 'p', path: 'D:\\PACS', type: 'directory', timeout: 1 }),
    ],
    ['loader', STDIN_LOADER],
    ['install wrapper (the scheduled task runs it as SYSTEM)', INSTALL_WRAPPER],
  ];
  for (const mode of ['sha256', 'metadata'] as const)
    scripts.push([
      `profile (${mode})`,
      win.profile(
        windowsPatch({
          integrity: {
            protectedPaths: ['D:\\PACS\\Images', 'E:\\Studies'],
            mode,
            allowNewFiles: false,
            timeout: 1,
          },
        }),
        'C:\\x\\before',
      ),
    ]);
  for (const probe of win.prerequisiteProbes(windowsPatch()))
    scripts.push([`probe: ${probe.what}`, probe.script]);
  for (const pkg of PACKAGES) {
    const patch = windowsPatch(
      {},
      {
        package: pkg,
        arguments: pkg === 'msi' ? ['ALLUSERS=1', 'INSTALLDIR=C:\\Program Files\\PACS'] : ['/S', 'two words'],
      },
    );
    const command = win.installCommand(patch, win.artifactPath(patch), DIR);
    scripts.push(
      [`install command (${pkg})`, command],
      [`install start (${pkg})`, win.installStart(DIR, command, RUN)],
    );
  }
  for (const pkg of PACKAGES) {
    const none = windowsPatch({}, { package: pkg, arguments: [] });
    scripts.push([
      `install command (${pkg}, no arguments)`,
      win.installCommand(none, win.artifactPath(none), DIR),
    ]);
  }
  for (const [operation, template] of Object.entries(CONTROLLER_PRESETS.hyperv.commands))
    scripts.push([
      `hyperv ${operation}`,
      renderTemplate(psQuote, template, {
        vm: 'rr-ws-01',
        host: 'rr-ws-01',
        image: 'rollout-20261201T000000-1',
      }),
    ]);
  return scripts;
}

/** The scripts a wrapped command carries: the inline one, or the loader and what it reads from stdin. */
function unwrap(sent: { command: string; stdin?: string }): string[] {
  const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf16le');
  const encoded = sent.command.slice(POWERSHELL.length + 1);
  return sent.stdin === undefined ? [decode(encoded)] : [decode(encoded), decode(sent.stdin)];
}

describe('every PowerShell script the Windows dialect renders', () => {
  it('parses without an ERROR or MISSING node, as sent (decoded from -EncodedCommand)', async () => {
    const scripts = everyScript();
    expect(scripts.length).toBeGreaterThan(40);
    for (const [name, source] of scripts) {
      for (const carried of unwrap(win.wrap(source))) {
        const problems = syntaxProblems(await parsePowerShell(carried));
        expect(problems, `${name}: ${problems.join('; ')}`).toEqual([]);
      }
    }
  });

  it('the grammar check is not vacuous: a broken script is reported', async () => {
    expect(syntaxProblems(await parsePowerShell("if ($a { 'x' }"))).not.toEqual([]);
    expect(syntaxProblems(await parsePowerShell("Write-Output 'unterminated"))).not.toEqual([]);
    // Accepted by the grammar, refused by PowerShell (argument mode): caught by the stricter check.
    expect(
      syntaxProblems(
        await parsePowerShell(
          'Set-Content -LiteralPath x -Value [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()',
        ),
      ),
    ).not.toEqual([]);
    expect(
      syntaxProblems(
        await parsePowerShell(
          'Set-Content -LiteralPath x -Value ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds())',
        ),
      ),
    ).toEqual([]);
  });
});

const MARK = 'ZQX';
const HOSTILE = [
  `${MARK}'; Remove-Item -Recurse -Force C:\\ ; '`,
  `${MARK}\u2018 \u2019 \u201a \u201b typographic quotes`,
  `${MARK}$(Stop-Computer -Force)`,
  `${MARK}\`n \`$env:PATH backtick`,
  `${MARK}; calc.exe | Out-Null`,
  `${MARK}\nRestart-Computer\r\nthird line`,
  `${MARK}%COMSPEC% & del /q *`,
  `${MARK}" -ArgumentList "/evil`,
  `${MARK}@{a=1} #comment <# block`,
  `${MARK}'' doubled`,
  `${MARK}\\' backslash then quote`,
  `${MARK}--% stop parsing`,
];

/**
 * Checks that every occurrence of the marker lies inside one verbatim string whose value (by the
 * specification's rules) contains one of `forms`; a literal that holds a whole script (the install
 * command written to a file) is parsed and checked the same way.
 */
async function assertLiteral(source: string, forms: string[], where: string, depth = 0): Promise<void> {
  const tree = await parsePowerShell(source);
  expect(syntaxProblems(tree), where).toEqual([]);
  const literals = verbatimLiterals(tree);
  let at = source.indexOf(MARK);
  expect(at, `${where}: the value is not in the script at all`).toBeGreaterThanOrEqual(0);
  while (at >= 0) {
    const inside = literals
      .filter((l) => l.start <= at && at < l.end)
      .sort((a, b) => a.end - a.start - (b.end - b.start))[0];
    expect(inside, `${where}: "${source.slice(at, at + 40)}" is code, not inside a literal`).toBeDefined();
    const value = inside!.value;
    expect(value, `${where}: the literal around the value ends early (an unescaped quote)`).toBeDefined();
    if (!forms.some((form) => value!.includes(form))) {
      expect(depth, `${where}: the literal holds neither the value nor a script`).toBeLessThan(2);
      await assertLiteral(value!, forms, `${where} (nested script)`, depth + 1);
    }
    at = source.indexOf(MARK, inside!.end);
  }
}

describe('hostile values in every placeholder', () => {
  const cases: Array<[string, (h: string) => string, (h: string) => string[]]> = [
    ['sha256 path', (h) => win.sha256(`C:\\${h}`), (h) => [`C:\\${h}`]],
    ['removeFile path', (h) => win.removeFile(`C:\\${h}`), (h) => [`C:\\${h}`]],
    ['rename paths', (h) => win.rename(`C:\\${h}.part`, `C:\\${h}`), (h) => [`C:\\${h}`]],
    ['install owner', (h) => win.installStart(DIR, 'exit 0', { ...RUN, owner: h }), (h) => [h]],
    ['install command text', (h) => win.installStart(DIR, `Write-Output ${psQuote(h)}`, RUN), (h) => [h]],
    ['poll directory', (h) => win.installPoll(`C:\\ProgramData\\rollout\\runs\\${h}`, RUN), (h) => [h]],
    ['output directory', (h) => win.installOutput(`C:\\ProgramData\\rollout\\runs\\${h}`), (h) => [h]],
    ['patch version', (h) => win.versionCommand(windowsPatch({ version: h })), (h) => [h]],
    [
      'free-disk path',
      (h) =>
        win.prerequisiteProbes(
          windowsPatch({ prerequisites: { minFreeDisk: { path: `D:\\${h}`, mebibytes: 1 } } }),
        )[0]!.script,
      (h) => [`D:\\${h}`],
    ],
    [
      'protected path',
      (h) =>
        win.profile(
          windowsPatch({
            integrity: { protectedPaths: [`D:\\${h}`], mode: 'sha256', allowNewFiles: false, timeout: 1 },
          }),
          'C:\\p\\before',
        ),
      (h) => [`D:\\${h}`],
    ],
    ['profile file', (h) => win.existingProfile(`C:\\${h}`), (h) => [`C:\\${h}`]],
    ['compare directory', (h) => win.compareProfiles(`C:\\${h}`, false, 50), (h) => [`C:\\${h}`]],
    [
      'service name',
      (h) => win.serviceCheck({ kind: 'service', name: 's', service: h, timeout: 1 }),
      (h) => [h],
    ],
    [
      'process name',
      (h) => win.serviceCheck({ kind: 'service', name: 's', service: h, manager: 'process', timeout: 1 }),
      (h) => [h],
    ],
    [
      'path check',
      (h) => win.pathCheck({ kind: 'path', name: 'p', path: `D:\\${h}`, type: 'file', timeout: 1 }),
      (h) => [`D:\\${h}`],
    ],
    ...PACKAGES.map((pkg): [string, (h: string) => string, (h: string) => string[]] => [
      `${pkg} installer argument`,
      (h) => {
        const patch = windowsPatch({}, { package: pkg, arguments: [pkg === 'msi' ? `PROP=${h}` : h] });
        return win.installStart(DIR, win.installCommand(patch, win.artifactPath(patch), DIR), RUN);
      },
      (h) => [windowsArgument(h), `PROP="${h.replace(/"/g, '""')}"`, `PROP=${h}`],
    ]),
    ...Object.entries(CONTROLLER_PRESETS.hyperv.commands).map(
      ([op, template]): [string, (h: string) => string, (h: string) => string[]] => [
        `hyperv ${op}`,
        (h) => renderTemplate(psQuote, template, { vm: h, host: h, image: h }),
        (h) => [h],
      ],
    ),
  ];

  for (const [name, render, forms] of cases)
    it(`${name}: each hostile value is one literal string`, async () => {
      for (const hostile of HOSTILE) {
        const where = `${name} with ${JSON.stringify(hostile)}`;
        // Inline, or the fixed stdin loader plus the script it reads: exactly one carries the value.
        const carrying = unwrap(win.wrap(render(hostile))).filter((carried) => carried.includes(MARK));
        expect(carrying, `${where}: the value is in no script sent`).toHaveLength(1);
        await assertLiteral(carrying[0]!, forms(hostile), where);
      }
    });

  it('the literal check is not vacuous: naive quoting is caught', async () => {
    const naive = (v: string) => `Get-Item -LiteralPath '${v}'`;
    const breakout = `${MARK}'; Stop-Computer; '`;
    await expect(assertLiteral(naive(breakout), [breakout], 'naive')).rejects.toThrow(
      'naive (nested script): "ZQX" is code, not inside a literal',
    );
    // The grammar takes ’ for a letter; PowerShell ends the string there. The check follows PowerShell.
    const smart = `${MARK}\u2019; Stop-Computer; \u2019`;
    await expect(assertLiteral(naive(smart), [smart], 'naive smart')).rejects.toThrow(
      'naive smart: the literal around the value ends early (an unescaped quote)',
    );
    expect(verbatimValue("'it''s'")).toBe("it's");
    expect(verbatimValue("'a\u2019b'")).toBeUndefined();
  });
});

describe('the transport', () => {
  it('sends every script as powershell.exe -NoProfile -NonInteractive -EncodedCommand (UTF-16LE base64)', () => {
    const sent = win.wrap("Write-Output 'ünïcödé ‘quoted’'");
    expect(sent.command.startsWith('powershell.exe -NoProfile -NonInteractive -EncodedCommand ')).toBe(true);
    expect(sent.stdin).toBeUndefined();
    expect(/^[A-Za-z0-9+/=]+$/.test(sent.command.split(' ').pop()!)).toBe(true);
    expect(unwrap(sent)[0]).toContain("Write-Output 'ünïcödé ‘quoted’'");
  });

  it('sends a script too long for cmd.exe on stdin, behind a short encoded loader', () => {
    const long = `$x = ${psQuote('y'.repeat(5_000))}`;
    const sent = win.wrap(long);
    expect(sent.command.length).toBeLessThanOrEqual(MAX_COMMAND_LINE);
    expect(sent.command).toBe(`${POWERSHELL} ${encodeCommand(STDIN_LOADER)}`);
    expect(unwrap(sent)[1]).toContain(long);
  });

  it('reads the CLIXML error stream PowerShell writes when stderr is not a console', () => {
    // As Windows PowerShell 5.1 printed it (PowerShell/PowerShell#5912).
    const clixml =
      '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">boom_x000D__x000A_</S><S S="Error">At line:1 char:1_x000D__x000A_</S></Objs>';
    expect(readPowerShellStderr(clixml)).toBe('boom\r\nAt line:1 char:1');
    // PowerShell 7 colours its errors (PowerShell/PowerShell#16678).
    const pwsh7 =
      '#< CLIXML\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">_x001B_[91mWrite-Error: _x001B_[91mboomed_x001B_[0m_x000A_</S></Objs>';
    expect(readPowerShellStderr(pwsh7)).toBe('Write-Error: boomed');
    expect(readPowerShellStderr('plain text')).toBe('plain text');
    expect(readPowerShellStderr('#< CLIXML\n<Objs><S S="Error">a &lt;b&gt; &amp; c</S></Objs>')).toBe(
      'a <b> & c',
    );
  });

  it('quotes native arguments by the Windows command-line rules', () => {
    expect(windowsArgument('/quiet')).toBe('/quiet');
    expect(windowsArgument('two words')).toBe('"two words"');
    expect(windowsArgument('say "hi"')).toBe('"say \\"hi\\""');
    expect(windowsArgument('C:\\dir with space\\')).toBe('"C:\\dir with space\\\\"');
    expect(windowsArgument('')).toBe('""');
  });
});

describe('the dialect contract', () => {
  const sample = windowsPatch();
  const posixSample = {
    ...sample,
    windows: undefined,
    installCommand: 'sh {artifact}',
    versionCommand: 'cat /VERSION',
    prerequisites: { minFreeDisk: { path: '/', mebibytes: 1 } },
    integrity: { ...sample.integrity, protectedPaths: ['/var/lib/pacs'] },
  } as Patch;

  for (const [platform, dialect] of Object.entries(DIALECTS) as Array<[string, HostDialect]>)
    it(`${platform} offers every host operation, each rendering something`, () => {
      const patch = platform === 'windows' ? sample : posixSample;
      const missing = Object.keys(HOST_OPERATIONS).filter((op) => !(op in dialect));
      expect(missing).toEqual([]);
      const rendered: Record<keyof typeof HOST_OPERATIONS, unknown> = {
        platform: dialect.platform,
        wrap: dialect.wrap('x').command,
        readStdout: dialect.readStdout('x'),
        readStderr: dialect.readStderr('x'),
        quote: dialect.quote('x'),
        userCommand: dialect.userCommand('x'),
        artifactPath: dialect.artifactPath(patch),
        sftpPath: dialect.sftpPath(dialect.artifactPath(patch)),
        sha256: dialect.sha256('f'),
        prepareArtifactDir: dialect.prepareArtifactDir(),
        removeFile: dialect.removeFile('f'),
        rename: dialect.rename('a', 'b'),
        runDir: dialect.runDir('k'),
        installCommand: dialect.installCommand(patch, dialect.artifactPath(patch), dialect.runDir('k')),
        installStart: dialect.installStart(dialect.runDir('k'), 'x', RUN),
        installPoll: dialect.installPoll(dialect.runDir('k'), RUN),
        installOutput: dialect.installOutput(dialect.runDir('k')),
        rebootCommand: dialect.rebootCommand,
        versionCommand: dialect.versionCommand(patch),
        prerequisiteProbes: dialect
          .prerequisiteProbes(patch)
          .map((p) => p.script)
          .join('\n'),
        integrityDir: dialect.integrityDir('k'),
        profile: dialect.profile(patch, 'f'),
        existingProfile: dialect.existingProfile('f'),
        compareProfiles: dialect.compareProfiles('d', false, 50),
        serviceCheck: dialect.serviceCheck({ kind: 'service', name: 's', service: 'x', timeout: 1 }),
        pathCheck: dialect.pathCheck({ kind: 'path', name: 'p', path: 'x', type: 'file', timeout: 1 }),
      };
      for (const [op, value] of Object.entries(rendered))
        expect(typeof value === 'string' && value.length > 0, `${platform}.${op}`).toBe(true);
    });

  it('the contract list is the interface: a dialect without an operation fails it', () => {
    const { installPoll: _dropped, ...partial } = win;
    expect(Object.keys(HOST_OPERATIONS).filter((op) => !(op in partial))).toEqual(['installPoll']);
  });
});
