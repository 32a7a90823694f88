/**
 * A real PowerShell grammar (tree-sitter-powershell, through web-tree-sitter's WebAssembly runtime) for
 * the tests of what the Windows dialect renders: syntax errors, and where each literal string is.
 * String ends are judged by the PowerShell language specification's rules (any of ' ‘ ’ ‚ ‛ closes a
 * verbatim string unless doubled), which are stricter than the grammar's.
 */
import { createRequire } from 'node:module';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

const require = createRequire(import.meta.url);
let parser: Parser | undefined;

export async function parsePowerShell(source: string): Promise<Tree> {
  if (!parser) {
    await Parser.init();
    const language = await Language.load(
      require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'),
    );
    parser = new Parser();
    parser.setLanguage(language);
  }
  const tree = parser.parse(source);
  if (!tree) throw new Error('the PowerShell grammar returned no tree');
  return tree;
}

function* nodes(node: Node): Generator<Node> {
  yield node;
  for (const child of node.children) if (child) yield* nodes(child);
}

const LEFTMOST_THROUGH = new Set([
  'array_literal_expression',
  'unary_expression',
  'member_access',
  'invokation_expression',
]);

/**
 * A command argument that starts with a type literal (`-Value [DateTimeOffset]::UtcNow...`): the grammar
 * reads it as an expression, but PowerShell parses command arguments in argument mode, where it is a
 * bare word, and a `()` after it is a parse error. Only `([type]::Member)` is an expression there.
 */
function typeLiteralArgument(element: Node): boolean {
  let node: Node | null = element;
  while (node && LEFTMOST_THROUGH.has(node.type)) node = node.child(0);
  return node?.type === 'type_literal';
}

/**
 * ERROR and MISSING nodes, with line and column, and what the grammar accepts but PowerShell refuses
 * (a type literal as a bare command argument).
 */
export function syntaxProblems(tree: Tree): string[] {
  const found: string[] = [];
  const at = (node: Node) => `${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
  for (const node of nodes(tree.rootNode)) {
    if (node.type === 'ERROR' || node.isMissing)
      found.push(
        `${node.isMissing ? `MISSING ${node.type}` : 'ERROR'} at ${at(node)}: ${node.text.slice(0, 60)}`,
      );
    if (node.type === 'command_elements')
      for (const element of node.children)
        if (element && typeLiteralArgument(element))
          found.push(`TYPE LITERAL AS A COMMAND ARGUMENT at ${at(element)}: ${element.text.slice(0, 60)}`);
  }
  return found;
}

const QUOTE = /['\u2018\u2019\u201a\u201b]/;

/**
 * The value of a verbatim string literal as PowerShell reads it, or `undefined` when, by the
 * specification, the string would end before the node does (an unescaped quote inside).
 */
export function verbatimValue(text: string): string | undefined {
  const chars = [...text];
  if (chars.length < 2 || !QUOTE.test(chars[0]!) || !QUOTE.test(chars[chars.length - 1]!)) return undefined;
  let value = '';
  for (let i = 1; i < chars.length - 1; i++) {
    const ch = chars[i]!;
    if (!QUOTE.test(ch)) {
      value += ch;
      continue;
    }
    if (i + 1 < chars.length - 1 && QUOTE.test(chars[i + 1]!)) {
      value += ch;
      i++;
      continue;
    }
    return undefined;
  }
  return value;
}

export interface Literal {
  start: number;
  end: number;
  value: string | undefined;
}

/** Every verbatim string literal of the tree: where it is in the source, and its value. */
export function verbatimLiterals(tree: Tree): Literal[] {
  const out: Literal[] = [];
  for (const node of nodes(tree.rootNode))
    if (node.type === 'verbatim_string_characters')
      out.push({ start: node.startIndex, end: node.endIndex, value: verbatimValue(node.text) });
  return out;
}
