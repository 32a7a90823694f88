/**
 * RFC 4180 CSV for exports people open in a spreadsheet or read in a terminal. Each cell has its
 * control characters shown as "\uFFFD" (domain/text.ts `printable`: no value can move a terminal's
 * cursor), and a cell that a spreadsheet would run as a formula (it starts with = + - @ or a tab) is
 * prefixed with a quote. The only carriage returns left are the line ends, so the CLI prints it as it
 * is (`printCsv`).
 */
import { printable } from '../domain/text.js';

export function toCsv<T extends object>(columns: ReadonlyArray<keyof T & string>, rows: T[]): string {
  const cell = (value: unknown) => {
    let text = printable(value === undefined || value === null ? '' : String(value));
    if (/^[=+\-@\t]/.test(text)) text = `'${text}`;
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return (
    [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n'
  );
}
