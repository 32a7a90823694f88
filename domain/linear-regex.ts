/**
 * A regular-expression matcher that runs in time linear in the input: Thompson's construction, an NFA
 * simulated over all states at once (no backtracking), so no pattern from a campaign file can hang a
 * worker (`(a+)+$` against 64 KiB costs what `a` does). The syntax is the part of JavaScript's that
 * needs no backtracking: literals, `.`, classes `[a-z0-9_]` and `[^…]`, escapes `\d \w \s \D \W \S`
 * and escaped punctuation, groups `(…)` and `(?:…)`, `|`, `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`
 * (m ≤ 50), anchors `^` and `$`. Backreferences and lookaround are refused with the reason.
 * `find` reports whether the pattern matches anywhere in the text, like `RegExp.prototype.test`.
 */

export class UnsupportedPattern extends Error {
  override name = 'UnsupportedPattern';
}

type CharTest = (c: string) => boolean;

type Node =
  | { kind: 'char'; test: CharTest }
  | { kind: 'start' }
  | { kind: 'end' }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; node: Node; min: number; max: number | undefined };

const MAX_PATTERN = 500;
const MAX_REPEAT = 50;
/** Bounds the work per character: a 64 KiB body costs at most 64 Ki × this many steps. */
const MAX_STATES = 2_000;

const isDigit: CharTest = (c) => c >= '0' && c <= '9';
const isWord: CharTest = (c) => isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isSpace: CharTest = (c) => /\s/.test(c);

const ESCAPED_CLASSES: Record<string, CharTest> = {
  d: isDigit,
  w: isWord,
  s: isSpace,
  D: (c) => !isDigit(c),
  W: (c) => !isWord(c),
  S: (c) => !isSpace(c),
};
const ESCAPED_CHARS: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v', '0': '\0' };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) throw this.fail(`unexpected "${this.src[this.i]}"`);
    return node;
  }

  private fail(why: string): UnsupportedPattern {
    return new UnsupportedPattern(`${why} at position ${this.i}`);
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.peek() === '|') {
      this.i += 1;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.peek() !== '|' && this.peek() !== ')')
      items.push(this.quantified());
    return { kind: 'seq', items };
  }

  private quantified(): Node {
    const atom = this.atom();
    const c = this.peek();
    let min: number;
    let max: number | undefined;
    if (c === '*') [min, max] = [0, undefined];
    else if (c === '+') [min, max] = [1, undefined];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{' && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.i))) {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i))!;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
      if (min > MAX_REPEAT || (max !== undefined && (max > MAX_REPEAT || max < min)))
        throw this.fail(`repetition ${m[0]} out of range (at most ${MAX_REPEAT})`);
      this.i += m[0].length - 1;
    } else return atom;
    this.i += 1;
    if (this.peek() === '?') this.i += 1; // lazy: the same set of matches for a yes/no answer
    if (atom.kind === 'start' || atom.kind === 'end') throw this.fail('an anchor cannot repeat');
    return { kind: 'repeat', node: atom, min, max };
  }

  private atom(): Node {
    const c = this.peek();
    if (c === undefined) throw this.fail('unexpected end');
    this.i += 1;
    switch (c) {
      case '^':
        return { kind: 'start' };
      case '$':
        return { kind: 'end' };
      case '.':
        return { kind: 'char', test: (x) => x !== '\n' && x !== '\r' };
      case '(': {
        if (this.src.startsWith('?:', this.i)) this.i += 2;
        else if (this.peek() === '?') throw this.fail('lookaround and named groups are not supported');
        const inner = this.alternation();
        if (this.peek() !== ')') throw this.fail('unclosed group');
        this.i += 1;
        return inner;
      }
      case ')':
        throw this.fail('unmatched ")"');
      case '[':
        return this.charClass();
      case '\\':
        return { kind: 'char', test: this.escape(false) };
      case '*':
      case '+':
      case '?':
        throw this.fail(`nothing to repeat before "${c}"`);
      default:
        return { kind: 'char', test: (x) => x === c };
    }
  }

  /** After a backslash: a class (\d …) or one character. */
  private escape(inClass: boolean): CharTest {
    const c = this.peek();
    if (c === undefined) throw this.fail('pattern ends with a backslash');
    this.i += 1;
    const named = ESCAPED_CLASSES[c];
    if (named) return named;
    if (/[1-9]/.test(c) || c === 'k') throw this.fail('backreferences are not supported');
    if (!inClass && (c === 'b' || c === 'B')) throw this.fail('word boundaries are not supported');
    const ch = ESCAPED_CHARS[c] ?? (/[A-Za-z]/.test(c) ? undefined : c);
    if (ch === undefined) throw this.fail(`unknown escape \\${c}`);
    return (x) => x === ch;
  }

  private charClass(): Node {
    const negated = this.peek() === '^';
    if (negated) this.i += 1;
    const tests: CharTest[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw this.fail('unclosed character class');
      if (c === ']' && !first) break;
      first = false;
      this.i += 1;
      let lo: string | undefined;
      if (c === '\\') {
        const before = this.i;
        const test = this.escape(true);
        const escaped = this.src[before];
        if (escaped && ESCAPED_CLASSES[escaped]) {
          tests.push(test);
          continue;
        }
        lo = ESCAPED_CHARS[escaped ?? ''] ?? escaped;
      } else lo = c;
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.src[this.i + 1] !== undefined) {
        this.i += 1;
        let hi = this.peek()!;
        this.i += 1;
        if (hi === '\\') {
          const escaped = this.peek();
          this.i += 1;
          hi = ESCAPED_CHARS[escaped ?? ''] ?? escaped ?? '';
        }
        if (lo === undefined || hi < lo) throw this.fail(`bad range ${lo}-${hi}`);
        const [from, to] = [lo, hi];
        tests.push((x) => x >= from && x <= to);
      } else {
        const only = lo;
        tests.push((x) => x === only);
      }
    }
    this.i += 1;
    const any: CharTest = (x) => tests.some((t) => t(x));
    return { kind: 'char', test: negated ? (x) => !any(x) : any };
  }
}

/** NFA states: a character test, an assertion, a split (two ε-edges), or the accepting state. */
type State =
  | { kind: 'char'; test: CharTest; out: number }
  | { kind: 'start' | 'end'; out: number }
  | { kind: 'split'; out: number; alt: number }
  | { kind: 'match' };

class Compiler {
  readonly states: State[] = [];

  private add(state: State): number {
    if (this.states.length >= MAX_STATES)
      throw new UnsupportedPattern('pattern too large once its repetitions are expanded');
    this.states.push(state);
    return this.states.length - 1;
  }

  /** Compiles `node` so that it continues at `next`; returns its entry state. */
  compile(node: Node, next: number): number {
    switch (node.kind) {
      case 'char':
        return this.add({ kind: 'char', test: node.test, out: next });
      case 'start':
      case 'end':
        return this.add({ kind: node.kind, out: next });
      case 'seq':
        return node.items.reduceRight((out, item) => this.compile(item, out), next);
      case 'alt': {
        const entries = node.options.map((o) => this.compile(o, next));
        return entries.reduceRight((alt, entry) => this.add({ kind: 'split', out: entry, alt }));
      }
      case 'repeat': {
        let out = next;
        if (node.max === undefined) {
          // x* : a split that loops through x back to itself.
          const loop = this.add({ kind: 'split', out: -1, alt: next });
          const body = this.compile(node.node, loop);
          (this.states[loop] as { out: number }).out = body;
          out = loop;
        } else
          // x? copies: each either takes one more x, or goes on with what follows.
          for (let k = node.min; k < node.max; k++)
            out = this.add({ kind: 'split', out: this.compile(node.node, out), alt: out });
        for (let k = 0; k < node.min; k++) out = this.compile(node.node, out);
        return out;
      }
    }
  }
}

export interface LinearPattern {
  find(text: string): boolean;
}

/** Compiles a pattern; throws UnsupportedPattern naming what it cannot match in linear time. */
export function compileLinear(source: string): LinearPattern {
  if (source.length > MAX_PATTERN) throw new UnsupportedPattern(`longer than ${MAX_PATTERN} characters`);
  const ast = new Parser(source).parse();
  const compiler = new Compiler();
  const accept = compiler.states.length;
  compiler.states.push({ kind: 'match' });
  const entry = compiler.compile(ast, accept);
  const states = compiler.states;
  return {
    find(text: string): boolean {
      const chars = [...text];
      let current = new Set<number>();
      /** Adds a state and everything reachable by ε-moves at position `pos`. */
      const close = (set: Set<number>, s: number, pos: number): boolean => {
        const stack = [s];
        while (stack.length) {
          const id = stack.pop()!;
          if (set.has(id)) continue;
          set.add(id);
          const st = states[id]!;
          if (st.kind === 'match') return true;
          if (st.kind === 'split') stack.push(st.out, st.alt);
          else if (st.kind === 'start' && pos === 0) stack.push(st.out);
          else if (st.kind === 'end' && pos === chars.length) stack.push(st.out);
        }
        return false;
      };
      for (let pos = 0; pos <= chars.length; pos++) {
        // Unanchored search: a new attempt may begin at every position.
        if (close(current, entry, pos)) return true;
        if (pos === chars.length) break;
        const next = new Set<number>();
        const c = chars[pos]!;
        for (const id of current) {
          const st = states[id]!;
          if (st.kind === 'char' && st.test(c) && close(next, st.out, pos + 1)) return true;
        }
        current = next;
      }
      return false;
    },
  };
}
