/**
 * The Windows dialect: PowerShell (Windows PowerShell 5.1) over Windows' OpenSSH Server, every script
 * sent as `powershell.exe -NoProfile -NonInteractive -EncodedCommand`, so no value ever meets cmd.exe
 * or the PowerShell parser as code: each is a verbatim string (`psQuote`).
 *
 * Everything lives under C:\ProgramData\rollout, restricted to Administrators and SYSTEM before use
 * (the install runs as SYSTEM from there). The install is detached through a scheduled task running as
 * SYSTEM, because Windows' OpenSSH ends every process of a session's job object when the session closes;
 * a run directory created atomically (`New-Item -ItemType Directory` fails when it exists) is the lock,
 * as on POSIX, and the poll prints the same words.
 */
import type { WindowsPatch } from '../../domain/platform.js';
import { artifactName, type Patch } from '../../domain/schema.js';
import type { HostDialect, HostFacts, InstallRun, PrerequisiteProbe } from './dialect.js';
import { msiProperty, psQuote, readPowerShellStderr, windowsArgument, wrapPowerShell } from './powershell.js';

export const WINDOWS_ROOT = 'C:\\ProgramData\\rollout';
const ARTIFACTS = `${WINDOWS_ROOT}\\artifacts`;
const RUNS = `${WINDOWS_ROOT}\\runs`;
const TASK_PATH = '\\rollout\\';

/** A script of ours: stops at the first error (exit 1, the error on stderr). */
const script = (...lines: string[]) => ["$ErrorActionPreference = 'Stop'", ...lines].join('\n');

/** Windows PowerShell's own path: a task running as SYSTEM does not search PATH for it. */
const POWERSHELL_EXE = "(Join-Path $env:SystemRoot 'System32\\WindowsPowerShell\\v1.0\\powershell.exe')";

/**
 * Runs a native program with its stderr folded away and returns its exit code. Under
 * `$ErrorActionPreference = 'Stop'` Windows PowerShell 5.1 turns each redirected stderr line of a native
 * program into a terminating error, so the program runs with 'Continue' in its own scope.
 */
const INVOKE_NATIVE =
  "function Invoke-Native([scriptblock]$program) { $ErrorActionPreference = 'Continue'; $null = & $program 2>&1; $LASTEXITCODE }";

/**
 * Only Administrators (S-1-5-32-544) and SYSTEM (S-1-5-18) may own or write the rollout tree: a user who
 * planted a file there would otherwise have it run as SYSTEM. Applied on every use: the root's whole ACL
 * is written anew (owner Administrators, inheritance off, exactly the two entries), so entries someone
 * else added are gone, and the tree is refused while any junction or symbolic link is in it (icacls /T
 * and a walk would follow one out of the tree). Then everything below is reset to inherit that ACL.
 */
const SECURE_ROOT = [
  INVOKE_NATIVE,
  `$root = ${psQuote(WINDOWS_ROOT)}`,
  'if (-not (Test-Path -LiteralPath $root -PathType Container)) { New-Item -ItemType Directory -Path $root | Out-Null }',
  '$links = @(Get-Item -LiteralPath $root -Force) + @(Get-ChildItem -LiteralPath $root -Recurse -Force -Attributes ReparsePoint -ErrorAction SilentlyContinue)',
  'if (@($links | Where-Object { $_.Attributes -band [System.IO.FileAttributes]::ReparsePoint }).Count -gt 0) { [Console]::Error.WriteLine("$root is or holds a junction or symbolic link; refusing to use it"); exit 5 }',
  '$acl = New-Object System.Security.AccessControl.DirectorySecurity',
  "$admins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'",
  '$acl.SetOwner($admins)',
  '$acl.SetAccessRuleProtection($true, $false)',
  "foreach ($sid in 'S-1-5-32-544', 'S-1-5-18') { $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule ((New-Object System.Security.Principal.SecurityIdentifier $sid), 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow'))) }",
  'try { Set-Acl -LiteralPath $root -AclObject $acl } catch { [Console]::Error.WriteLine("cannot restrict $root to Administrators and SYSTEM: $($_.Exception.Message)"); exit 5 }',
  "if (Get-ChildItem -LiteralPath $root -Force) { $null = Invoke-Native { icacls.exe (Join-Path $root '*') /reset /T /C /Q } }",
];

/** Unix seconds now, as the install's `started` file and the poll count them. */
const NOW = '[DateTimeOffset]::UtcNow.ToUnixTimeSeconds()';

/** Reads a file of the run directory `$d`, trimmed, or `$null`. */
const READ_TEXT =
  'function Read-RunFile([string]$name) { $p = Join-Path $d $name; if (Test-Path -LiteralPath $p -PathType Leaf) { ([string](Get-Content -LiteralPath $p -Raw)).Trim() } else { $null } }';

/** The file name an artifact gets on the host: its checksum, then its name with only safe characters. */
function hostArtifactName(patch: Patch): string {
  return `${patch.artifact.sha256}-${artifactName(patch.artifact).replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/**
 * The program (a PowerShell expression) and command line for each package kind; every part of the line
 * is quoted by Windows' rules.
 */
function installer(windows: WindowsPatch, artifact: string, dir: string): { program: string; line: string } {
  const extra = windows.arguments;
  switch (windows.package) {
    case 'msu':
      return {
        program: '"$env:SystemRoot\\System32\\wusa.exe"',
        line: [windowsArgument(artifact), '/quiet', '/norestart', ...extra.map(windowsArgument)].join(' '),
      };
    case 'msi':
      return {
        program: '"$env:SystemRoot\\System32\\msiexec.exe"',
        line: [
          '/i',
          windowsArgument(artifact),
          '/qn',
          '/norestart',
          '/l*v',
          windowsArgument(`${dir}\\msi.log`),
          ...extra.map(msiProperty),
        ].join(' '),
      };
    case 'exe':
      return { program: psQuote(artifact), line: extra.map(windowsArgument).join(' ') };
    case 'ps1':
      return {
        program: '"$env:SystemRoot\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"',
        line: [
          '-NoProfile',
          '-NonInteractive',
          '-ExecutionPolicy',
          'Bypass',
          '-File',
          windowsArgument(artifact),
          ...extra.map(windowsArgument),
        ].join(' '),
      };
  }
}

/**
 * The script the detached task runs: checks the artifact is still the approved one, starts the installer
 * and waits for it (`$p.Handle` first: without it Windows PowerShell may lose the exit code), prints its
 * output and, for an msi, the end of its log; exits with the installer's exit code.
 */
function installCommand(patch: Patch, artifact: string, dir: string): string {
  if (!patch.windows) throw new Error('a Windows install needs patch.windows');
  const { program, line } = installer(patch.windows, artifact, dir);
  const out = `${dir}\\installer-stdout.txt`;
  const err = `${dir}\\installer-stderr.txt`;
  return script(
    `$artifact = ${psQuote(artifact)}`,
    `if ((Get-FileHash -LiteralPath $artifact -Algorithm SHA256).Hash.ToLowerInvariant() -ne ${psQuote(patch.artifact.sha256)}) { 'the artifact on the host no longer matches the approved SHA-256; the installer was not started'; exit 1 }`,
    `$program = ${program}`,
    `$start = @{ FilePath = $program; NoNewWindow = $true; PassThru = $true; RedirectStandardOutput = ${psQuote(out)}; RedirectStandardError = ${psQuote(err)} }`,
    ...(line ? [`$start.ArgumentList = ${psQuote(line)}`] : []),
    '$p = Start-Process @start',
    '$null = $p.Handle',
    '$p.WaitForExit()',
    `Get-Content -LiteralPath ${psQuote(out)}, ${psQuote(err)} -ErrorAction SilentlyContinue`,
    ...(patch.windows.package === 'msi'
      ? [`Get-Content -LiteralPath ${psQuote(`${dir}\\msi.log`)} -Tail 60 -ErrorAction SilentlyContinue`]
      : []),
    'exit $p.ExitCode',
  );
}

/**
 * Runs as SYSTEM from the scheduled task: takes the run directory (the lock) or leaves, records itself
 * (`started` before `pid`, `launch` last), runs the install script with its output to `output`, and
 * writes the exit code last and atomically.
 */
export const INSTALL_WRAPPER = [
  'param([string]$d, [string]$t)',
  "$ErrorActionPreference = 'Stop'",
  'try { New-Item -ItemType Directory -Path $d | Out-Null } catch { Remove-Item -LiteralPath $t -Recurse -Force -ErrorAction SilentlyContinue; exit 0 }',
  "foreach ($name in 'command.ps1', 'owner', 'boot') { Move-Item -LiteralPath (Join-Path $t $name) -Destination (Join-Path $d $name) }",
  `Set-Content -LiteralPath (Join-Path $d 'started') -Value (${NOW})`,
  "Set-Content -LiteralPath (Join-Path $d 'pid.tmp') -Value $PID; Move-Item -LiteralPath (Join-Path $d 'pid.tmp') -Destination (Join-Path $d 'pid')",
  "Set-Content -LiteralPath (Join-Path $d 'launch.tmp') -Value $t; Move-Item -LiteralPath (Join-Path $d 'launch.tmp') -Destination (Join-Path $d 'launch')",
  'Remove-Item -LiteralPath $t -Recurse -Force',
  '$code = 1',
  // Not -File: an execution policy set by Group Policy (AllSigned) refuses script files, not commands.
  `$run = ${scriptFileLoader("(Join-Path $d 'command.ps1')")}`,
  // Native stderr into the output file must not become a terminating error (Windows PowerShell 5.1).
  `try { $ErrorActionPreference = 'Continue'; & ${POWERSHELL_EXE} -NoProfile -NonInteractive -EncodedCommand $run *> (Join-Path $d 'output'); $code = $LASTEXITCODE }`,
  "catch { Add-Content -LiteralPath (Join-Path $d 'output') -Value $_.Exception.Message }",
  "Set-Content -LiteralPath (Join-Path $d 'exit.tmp') -Value $code; Move-Item -LiteralPath (Join-Path $d 'exit.tmp') -Destination (Join-Path $d 'exit')",
].join('\n');

/**
 * A PowerShell expression, evaluated on the host, for the -EncodedCommand argument that runs the script
 * file at `pathExpression` (an expression of our own safe paths) with `args`: the file is read and run as
 * a script block, which no execution policy refuses.
 */
function scriptFileLoader(pathExpression: string, args: string[] = []): string {
  const tail = args.map((a) => ` + " '" + ${a} + "'"`).join('');
  return `[Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes("& ([scriptblock]::Create([System.IO.File]::ReadAllText('" + ${pathExpression} + "')))"${tail}))`;
}

/** Paths we pass to the task's command line: our own, never a value from outside; checked anyway. */
function taskSafe(path: string): string {
  if (!/^[A-Za-z0-9:\\._-]+$/.test(path)) throw new Error(`unsafe path for a task command line: ${path}`);
  return path;
}

function installStart(dir: string, command: string, run: InstallRun): string {
  const owner = psQuote(run.owner);
  const task = psQuote(`rollout-${dir.split('\\').pop() ?? 'install'}`);
  const limit = Math.max(1, Math.ceil(run.timeoutMs / 1000)) + 600;
  return script(
    ...SECURE_ROOT,
    `$d = ${psQuote(taskSafe(dir))}`,
    `New-Item -ItemType Directory -Force -Path ${psQuote(RUNS)} | Out-Null`,
    READ_TEXT,
    'if (Test-Path -LiteralPath $d -PathType Container) {',
    "  $prev = Read-RunFile 'owner'",
    "  $ended = (Test-Path -LiteralPath (Join-Path $d 'exit')) -or (Test-Path -LiteralPath (Join-Path $d 'timedout'))",
    // A finished run of another host-workflow run (an on-call retry): keep its files, start afresh.
    `  if ($prev -and $prev -ne ${owner} -and $ended) { Rename-Item -LiteralPath $d -NewName ((Split-Path -Leaf $d) + '.done-' + (Get-Date -Format 'yyyyMMddTHHmmss') + '-' + $PID) }`,
    "  else { 'attached'; exit 0 }",
    '}',
    `$boot = try { [string]$(${run.bootIdCommand}) } catch { '' }`,
    `$t = Join-Path ${psQuote(RUNS)} ('.launch-' + [guid]::NewGuid().ToString('N'))`,
    'New-Item -ItemType Directory -Path $t | Out-Null',
    `Set-Content -LiteralPath (Join-Path $t 'command.ps1') -Value ${psQuote(command)} -Encoding UTF8`,
    `Set-Content -LiteralPath (Join-Path $t 'owner') -Value ${owner}`,
    "Set-Content -LiteralPath (Join-Path $t 'boot') -Value $boot",
    `Set-Content -LiteralPath (Join-Path $t 'wrapper.ps1') -Value ${psQuote(INSTALL_WRAPPER)} -Encoding UTF8`,
    `$arguments = '-NoProfile -NonInteractive -EncodedCommand ' + ${scriptFileLoader("(Join-Path $t 'wrapper.ps1')", ['$d', '$t'])}`,
    `$action = New-ScheduledTaskAction -Execute ${POWERSHELL_EXE} -Argument $arguments`,
    "$principal = New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest",
    `$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Seconds ${limit})`,
    `Register-ScheduledTask -TaskPath ${psQuote(TASK_PATH)} -TaskName ${task} -Action $action -Principal $principal -Settings $settings -Force | Out-Null`,
    `Start-ScheduledTask -TaskPath ${psQuote(TASK_PATH)} -TaskName ${task}`,
    'for ($i = 0; $i -lt 100; $i++) {',
    "  $launch = Read-RunFile 'launch'",
    "  if ($launch) { if ($launch -eq $t) { 'started' } else { 'attached' }; exit 0 }",
    '  Start-Sleep -Milliseconds 100',
    '}',
    "'launching'",
  );
}

/**
 * The POSIX poll's rules in PowerShell: the exit file first and again once the process is gone; a live
 * process counts only on the boot it started on and if it started no later than the install did (PIDs
 * are reused quickly on Windows); past the limit `timedout` is written, then the process tree is stopped
 * (`taskkill /T /F`). Work an installer handed to a Windows service (Windows Installer, TrustedInstaller)
 * is not part of that tree.
 */
function installPoll(dir: string, run: InstallRun, options: { betweenObservations?: string } = {}): string {
  const limit = Math.max(1, Math.ceil(run.timeoutMs / 1000));
  return script(
    `$d = ${psQuote(dir)}`,
    READ_TEXT,
    INVOKE_NATIVE,
    "$v = Read-RunFile 'timedout'; if ($null -ne $v) { 'timedout ' + $v; exit 0 }",
    "$v = Read-RunFile 'exit'; if ($null -ne $v) { 'exit ' + $v; exit 0 }",
    "if (-not (Test-Path -LiteralPath $d -PathType Container)) { 'missing'; exit 0 }",
    "$procId = Read-RunFile 'pid'",
    ...(options.betweenObservations ? [options.betweenObservations] : []),
    '$alive = $false; $thenBoot = $null; $nowBoot = $null',
    `$began = Read-RunFile 'started'; if (-not $began) { $began = ${NOW} }`,
    'if ($procId) {',
    '  $proc = Get-Process -Id ([int]$procId) -ErrorAction SilentlyContinue',
    '  if ($proc) {',
    '    $alive = $true',
    "    $thenBoot = Read-RunFile 'boot'",
    `    if ($thenBoot) { $nowBoot = try { [string]$(${run.bootIdCommand}) } catch { $null }; if ($nowBoot -and $nowBoot -ne $thenBoot) { $alive = $false } }`,
    '    try { if (([DateTimeOffset]$proc.StartTime).ToUnixTimeSeconds() -gt ([long]$began + 60)) { $alive = $false } } catch { }',
    '  }',
    '}',
    'if ($alive) {',
    `  $elapsed = ${NOW} - [long]$began`,
    `  if ($elapsed -ge ${limit}) {`,
    "    Set-Content -LiteralPath (Join-Path $d 'timedout') -Value $elapsed",
    '    $null = Invoke-Native { taskkill.exe /PID $procId /T /F }',
    "    'timedout ' + $elapsed",
    "  } else { 'running ' + $elapsed }",
    '  exit 0',
    '}',
    // Gone (or never seen): the exit file may have appeared since the first look.
    "$v = Read-RunFile 'exit'; if ($null -ne $v) { 'exit ' + $v; exit 0 }",
    "if (-not $procId) { 'starting'; exit 0 }",
    "$out = Join-Path $d 'output'; $bytes = 0; if (Test-Path -LiteralPath $out) { $bytes = (Get-Item -LiteralPath $out).Length }",
    "$seenBoot = if ($thenBoot) { $thenBoot } else { 'unknown' }; $readBoot = if ($nowBoot) { $nowBoot } else { 'not read' }",
    "'vanished process ' + $procId + ' is gone without an exit code (boot at start ' + $seenBoot + ', now ' + $readBoot + '; ' + $bytes + ' bytes of output)'",
  );
}

/** Read once the install ended: its output's end; the finished task is removed. */
function installOutput(dir: string): string {
  return script(
    `$d = ${psQuote(dir)}`,
    `Unregister-ScheduledTask -TaskPath ${psQuote(TASK_PATH)} -TaskName ('rollout-' + (Split-Path -Leaf $d)) -Confirm:$false -ErrorAction SilentlyContinue`,
    "$out = Join-Path $d 'output'",
    'if (Test-Path -LiteralPath $out) { $text = [string](Get-Content -LiteralPath $out -Raw); if ($text.Length -gt 4000) { $text = $text.Substring($text.Length - 4000) }; $text }',
  );
}

const OS_FACTS = [
  '$os = Get-CimInstance -ClassName Win32_OperatingSystem',
  "$cv = Get-ItemProperty -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion'",
  '$ubr = 0; if ($null -ne $cv.UBR) { $ubr = [int]$cv.UBR }',
  "$build = [string]$os.BuildNumber + '.' + $ubr",
];

/**
 * One probe for everything Windows reports itself: caption, build + UBR, service pack, free space on the
 * drive of `minFreeDisk.path`, and a reboot already pending (Component Based Servicing, Windows Update,
 * pending file renames). Read-only; prints one JSON object.
 */
function prerequisiteProbes(patch: Patch): PrerequisiteProbe[] {
  const disk = patch.prerequisites.minFreeDisk;
  return [
    {
      what: 'Windows facts',
      script: script(
        ...OS_FACTS,
        '$pending = @()',
        "if (Test-Path -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending') { $pending += 'Component Based Servicing: RebootPending' }",
        "if (Test-Path -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired') { $pending += 'Windows Update: RebootRequired' }",
        "$renames = (Get-ItemProperty -LiteralPath 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager' -Name PendingFileRenameOperations -ErrorAction SilentlyContinue).PendingFileRenameOperations",
        "if ($renames) { $pending += 'Session Manager: PendingFileRenameOperations' }",
        '$facts = @{ caption = ([string]$os.Caption).Trim(); build = $build; servicePack = [int]$os.ServicePackMajorVersion; pendingReboot = @($pending) }',
        ...(disk
          ? [
              `$drive = New-Object System.IO.DriveInfo ([System.IO.Path]::GetPathRoot(${psQuote(disk.path)}))`,
              '$facts.freeMiB = [long][math]::Floor($drive.AvailableFreeSpace / 1048576)',
            ]
          : []),
        '$facts | ConvertTo-Json -Compress',
      ),
      read: readFacts,
    },
  ];
}

function readFacts(printed: string): HostFacts {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(printed.split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    return { problems: [`the Windows facts probe printed "${printed.slice(0, 80)}", not JSON`] };
  }
  const facts: HostFacts = {};
  if (typeof parsed.caption === 'string') facts.os = parsed.caption;
  if (typeof parsed.build === 'string') facts.build = parsed.build;
  if (typeof parsed.servicePack === 'number') facts.servicePack = parsed.servicePack;
  if (typeof parsed.freeMiB === 'number') facts.freeDiskMiB = parsed.freeMiB;
  const pending = parsed.pendingReboot;
  // ConvertTo-Json may give one reason as a string rather than an array.
  facts.pendingReboot = Array.isArray(pending)
    ? pending.filter((p): p is string => typeof p === 'string')
    : typeof pending === 'string'
      ? [pending]
      : [];
  return facts;
}

/** With a KB: the patch's version when Get-HotFix lists the KB, else the OS build without it. */
function versionCommand(patch: Patch): string {
  if (patch.versionCommand) return userCommand(patch.versionCommand);
  const kb = patch.windows?.kb ?? '';
  return script(
    `if (Get-HotFix -Id ${psQuote(kb)} -ErrorAction SilentlyContinue) { ${psQuote(patch.version)}; exit 0 }`,
    ...OS_FACTS,
    `'build ' + $build + ' without ' + ${psQuote(kb)}`,
  );
}

/**
 * A PowerShell command from the campaign file, exiting with its own code: the last native program's
 * exit code, else 1 when its last statement failed, else 0 (powershell.exe alone would say 0 or 1).
 */
function userCommand(command: string): string {
  return [
    '$global:LASTEXITCODE = 0',
    command,
    '$succeeded = $?',
    'if ($global:LASTEXITCODE -ne 0) { exit $global:LASTEXITCODE }',
    'if (-not $succeeded) { exit 1 }',
    'exit 0',
  ].join('\n');
}

/** Files under the protected paths, sorted by path (ordinal), one "<fingerprint> <path>" line each. */
function profile(patch: Patch, file: string): string {
  const { protectedPaths, mode } = patch.integrity;
  const fingerprint =
    mode === 'sha256'
      ? '(Get-FileHash -LiteralPath $f.FullName -Algorithm SHA256).Hash.ToLowerInvariant()'
      : "[string]$f.Length + ':' + [string]$f.LastWriteTimeUtc.Ticks";
  return script(
    // The profile lives in the rollout tree too: secured before anything is written there.
    ...SECURE_ROOT,
    `$paths = @(${protectedPaths.map(psQuote).join(', ')})`,
    "foreach ($p in $paths) { if (-not (Test-Path -LiteralPath $p)) { [Console]::Error.WriteLine('protected path ' + $p + ' does not exist'); exit 3 } }",
    "foreach ($p in $paths) { if ((Get-Item -LiteralPath $p -Force).Attributes -band [System.IO.FileAttributes]::ReparsePoint) { [Console]::Error.WriteLine('protected path ' + $p + ' is a junction or symbolic link: name the real path'); exit 3 } }",
    `$file = ${psQuote(file)}`,
    'New-Item -ItemType Directory -Force -Path (Split-Path -Parent $file) | Out-Null',
    "$rows = New-Object 'System.Collections.Generic.SortedDictionary[string,string]' ([System.StringComparer]::Ordinal)",
    // A walk of our own: Windows PowerShell's Get-ChildItem -Recurse follows junctions and symbolic links;
    // here a reparse point is neither entered nor profiled, as find -xdev stays on one file system.
    '$reparse = [System.IO.FileAttributes]::ReparsePoint',
    '$pending = New-Object System.Collections.Generic.Stack[System.IO.FileSystemInfo]',
    'foreach ($p in $paths) { $pending.Push((Get-Item -LiteralPath $p -Force)) }',
    'while ($pending.Count -gt 0) {',
    '  $f = $pending.Pop()',
    '  if ($f.Attributes -band $reparse) { continue }',
    '  if ($f.PSIsContainer) { foreach ($child in @(Get-ChildItem -LiteralPath $f.FullName -Force)) { $pending.Push($child) }; continue }',
    `  $rows[$f.FullName] = ${fingerprint}`,
    '}',
    "$lines = [string[]]@(foreach ($k in $rows.Keys) { $rows[$k] + ' ' + $k })",
    "[System.IO.File]::WriteAllLines($file + '.tmp', $lines, (New-Object System.Text.UTF8Encoding $false))",
    'if (Test-Path -LiteralPath $file) { Remove-Item -LiteralPath $file -Force }',
    "Move-Item -LiteralPath ($file + '.tmp') -Destination $file",
    "[string]$rows.Count + ' ' + (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant()",
  );
}

function compareProfiles(dir: string, allowNewFiles: boolean, listed: number): string {
  return script(
    `$d = ${psQuote(dir)}`,
    `$allowNew = $${allowNewFiles ? 'true' : 'false'}`,
    "$before = Join-Path $d 'before'; $after = Join-Path $d 'after'",
    "if (-not (Test-Path -LiteralPath $before)) { [Console]::Error.WriteLine('no before-install profile'); exit 3 }",
    "function Read-Profile([string]$path) { $map = New-Object 'System.Collections.Generic.Dictionary[string,string]' ([System.StringComparer]::Ordinal); foreach ($line in [System.IO.File]::ReadAllLines($path)) { $cut = $line.IndexOf(' '); if ($cut -gt 0) { $map[$line.Substring($cut + 1)] = $line.Substring(0, $cut) } }; return ,$map }",
    '$old = Read-Profile $before; $new = Read-Profile $after',
    "$changes = New-Object 'System.Collections.Generic.SortedDictionary[string,string]' ([System.StringComparer]::Ordinal)",
    "foreach ($k in $new.Keys) { if ($old.ContainsKey($k)) { if ($old[$k] -ne $new[$k]) { $changes[$k] = 'modified' } } elseif (-not $allowNew) { $changes[$k] = 'added' } }",
    "foreach ($k in $old.Keys) { if (-not $new.ContainsKey($k)) { $changes[$k] = 'removed' } }",
    "$lines = [string[]]@(foreach ($k in $changes.Keys) { $changes[$k] + ' ' + $k })",
    "[System.IO.File]::WriteAllLines((Join-Path $d 'changes'), $lines, (New-Object System.Text.UTF8Encoding $false))",
    '[string]$changes.Count',
    `$lines | Select-Object -First ${listed}`,
  );
}

export const windowsDialect: HostDialect = {
  platform: 'windows',
  wrap: wrapPowerShell,
  readStdout: (stdout) => stdout.replace(/\r\n/g, '\n'),
  readStderr: (stderr) => readPowerShellStderr(stderr).replace(/\r\n/g, '\n'),
  quote: psQuote,
  userCommand,

  artifactPath: (patch) => `${ARTIFACTS}\\${hostArtifactName(patch)}`,
  sftpPath: (path) => `/${path.replace(/\\/g, '/')}`,
  sha256: (path) =>
    script(
      `$p = ${psQuote(path)}`,
      "if (Test-Path -LiteralPath $p -PathType Leaf) { (Get-FileHash -LiteralPath $p -Algorithm SHA256).Hash.ToLowerInvariant() } else { 'absent' }",
    ),
  prepareArtifactDir: () =>
    script(...SECURE_ROOT, `New-Item -ItemType Directory -Force -Path ${psQuote(ARTIFACTS)} | Out-Null`),
  removeFile: (path) =>
    script(`Remove-Item -LiteralPath ${psQuote(path)} -Force -ErrorAction SilentlyContinue`),
  rename: (from, to) =>
    script(
      `if (Test-Path -LiteralPath ${psQuote(to)}) { Remove-Item -LiteralPath ${psQuote(to)} -Force }`,
      `[System.IO.File]::Move(${psQuote(from)}, ${psQuote(to)})`,
    ),

  runDir: (runKey) => `${RUNS}\\${runKey}`,
  installCommand,
  installStart,
  installPoll,
  installOutput,

  rebootCommand: script('Restart-Computer -Force'),
  versionCommand,
  prerequisiteProbes,

  integrityDir: (runKey) => `${WINDOWS_ROOT}\\integrity\\${runKey}`,
  profile,
  existingProfile: (file) =>
    script(
      `$file = ${psQuote(file)}`,
      "if (Test-Path -LiteralPath $file -PathType Leaf) { [string]([System.IO.File]::ReadAllLines($file).Length) + ' ' + (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant() }",
    ),
  compareProfiles,

  serviceCheck: (check) =>
    (check.manager ?? 'windows') === 'process'
      ? `if (Get-Process -Name ${psQuote(check.service.replace(/\.exe$/i, ''))} -ErrorAction SilentlyContinue) { exit 0 }\nexit 1`
      : `$s = Get-Service -Name ${psQuote(check.service)} -ErrorAction SilentlyContinue\nif ($s -and $s.Status -eq 'Running') { exit 0 }\nexit 1`,
  pathCheck: (check) =>
    `if (Test-Path -LiteralPath ${psQuote(check.path)} -PathType ${check.type === 'file' ? 'Leaf' : 'Container'}) { exit 0 }\nexit 1`,
};
