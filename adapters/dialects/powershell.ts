/**
 * PowerShell as a transport: literal quoting, `-EncodedCommand`, Windows command-line quoting for
 * native programs, and the CLIXML that PowerShell writes on a redirected error stream. Pure.
 */

/**
 * The characters PowerShell takes for a single quote: ' and the typographic ‘ ’ ‚ ‛ (the language
 * specification's single-quote-character). Inside a verbatim string each is escaped by doubling it.
 */
const SINGLE_QUOTES = /['\u2018\u2019\u201a\u201b]/g;

/** One value as a PowerShell verbatim string: nothing in it is expanded or parsed. */
export function psQuote(value: string): string {
  return `'${value.replace(SINGLE_QUOTES, (quote) => quote + quote)}'`;
}

/** The base64 of the script's UTF-16LE bytes, as `-EncodedCommand` takes it. */
export function encodeCommand(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}

export const POWERSHELL = 'powershell.exe -NoProfile -NonInteractive -EncodedCommand';

/**
 * Windows' OpenSSH runs a command through the user's DefaultShell, cmd.exe unless changed, whose command
 * line holds at most 8,191 characters. A script whose encoding does not fit is sent on stdin instead,
 * as base64 that a short encoded loader decodes and runs.
 */
export const MAX_COMMAND_LINE = 8_000;

/** Every script starts so: no progress records (they reach stderr as CLIXML), UTF-8 output. */
const PREAMBLE = [
  "$ProgressPreference = 'SilentlyContinue'",
  '[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false',
].join('\n');

export const STDIN_LOADER = [
  "$ErrorActionPreference = 'Stop'",
  '$encoded = [Console]::In.ReadToEnd()',
  '$text = [System.Text.Encoding]::Unicode.GetString([System.Convert]::FromBase64String($encoded.Trim()))',
  '. ([scriptblock]::Create($text))',
  // As powershell.exe -EncodedCommand ends a script run inline: 1 when its last statement failed.
  'if ($?) { exit 0 } else { exit 1 }',
].join('\n');

export function wrapPowerShell(script: string): { command: string; stdin?: string } {
  const encoded = encodeCommand(`${PREAMBLE}\n${script}`);
  const inline = `${POWERSHELL} ${encoded}`;
  if (inline.length <= MAX_COMMAND_LINE) return { command: inline };
  return { command: `${POWERSHELL} ${encodeCommand(STDIN_LOADER)}`, stdin: encoded };
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * PowerShell serialises its error stream as CLIXML when stderr is not a console (`#< CLIXML` then
 * `<Objs>` with `<S S="Error">` strings, `_x000D__x000A_` for control characters). Returns the error
 * text a person reads; other stderr passes through.
 */
export function readPowerShellStderr(stderr: string): string {
  const at = stderr.indexOf('#< CLIXML');
  if (at < 0) return stderr;
  const xml = stderr.slice(at + '#< CLIXML'.length);
  const errors = [...xml.matchAll(/<S S="Error">([\s\S]*?)<\/S>/g)].map((m) =>
    (m[1] ?? '')
      .replace(/&(lt|gt|amp|quot|apos);/g, (_, name: string) => XML_ENTITIES[name] ?? '')
      .replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
      // eslint-disable-next-line no-control-regex -- ANSI colour sequences PowerShell 7 puts in errors
      .replace(/\u001b\[[0-9;]*m/g, ''),
  );
  return `${stderr.slice(0, at)}${errors.join('')}`.trim();
}

/**
 * One argument for a native Windows program, quoted by the rules programs use to split their command
 * line (CommandLineToArgvW / the C runtime): quotes around anything with spaces or quotes, backslashes
 * doubled before a quote.
 */
export function windowsArgument(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg;
  let quoted = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    quoted += ch === '"' ? `${'\\'.repeat(backslashes * 2 + 1)}"` : `${'\\'.repeat(backslashes)}${ch}`;
    backslashes = 0;
  }
  return `${quoted}${'\\'.repeat(backslashes * 2)}"`;
}

/** An msiexec property `NAME=value`, its value quoted as msiexec reads it (inner quotes doubled). */
export function msiProperty(arg: string): string {
  const cut = arg.indexOf('=');
  const name = arg.slice(0, cut);
  const value = arg.slice(cut + 1);
  return /^[^\s"]*$/.test(value) ? `${name}=${value}` : `${name}="${value.replace(/"/g, '""')}"`;
}
