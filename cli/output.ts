/**
 * Everything the CLI prints goes through here: control characters and bidirectional overrides in
 * values (a host name, a reason, a comment from someone else) are shown as "\uFFFD", so no value can
 * clear the operator's screen, move the cursor or print a fake line. JSON output stays JSON.
 */
import { printable } from '../domain/text.js';

/** Writes text to stdout with every control character neutralised. */
export function print(text: string): void {
  process.stdout.write(printable(text));
}

/**
 * Writes CSV made by client/csv.ts `toCsv` as it is: its cells are neutralised there, and `print`
 * would also turn its CRLF line ends into "\uFFFD" + LF (it did, for `ledger --format csv`).
 */
export function printCsv(csv: string): void {
  process.stdout.write(csv);
}

/** Writes a message to stderr, neutralised the same way. */
export function printError(text: string): void {
  process.stderr.write(printable(text));
}

/** Clears the terminal (status --watch): the one escape sequence the CLI writes on purpose. */
export function clearScreen(): void {
  process.stdout.write('\x1b[2J\x1b[H');
}
