/**
 * Manifest text from users (a request body, a file given to the CLI): YAML with one or more
 * documents, or JSON. What the text can make the parser do is bounded before the parser
 * does it, because the YAML library's cost is not: flow nesting is counted on the lexer's
 * tokens (its parser slows down with depth, and its composer recurses until V8 aborts the
 * process), documents are counted as they complete, nesting and alias uses on the syntax
 * tree, and duplicate keys are found with one set per mapping (the library's own check
 * compares every key with every other). An alias to an unknown or enclosing anchor, or one
 * that expands too far, is refused like a syntax error: `invalid_yaml`, with the JSON
 * pointer of where it is in its document and `file:line:col` in the message.
 */
import {
  Composer,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Parser,
  visit,
  type CST,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import { TenancyError, toPointer, validationError, type FieldError } from '../errors.js';
import { MAX_BUNDLE_ITEMS } from './bundle-schema.js';

/** Deepest nesting of mappings and sequences accepted (a manifest needs fewer than ten). */
export const MAX_YAML_DEPTH = 64;
/** Most alias uses (`*name`) in one text. */
export const MAX_YAML_ALIASES = 100;
/**
 * Most copies the aliases of one document may expand to, as the YAML library counts them
 * (uses of an anchor times the aliases nested in it): a few nested anchors would otherwise
 * expand a short text a billion times.
 */
export const MAX_YAML_ALIAS_EXPANSION = 1_000;
/** Most documents in one text: as many as a bundle may hold. */
export const MAX_YAML_DOCUMENTS = MAX_BUNDLE_ITEMS;

/** A refusal found before the documents are built: where it is, and why. */
class Refused {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

/** Parse YAML (one or more documents) or JSON text; errors carry `file:line:col`. */
export function parseManifestText(text: string, source: string): unknown[] {
  const lines = new LineCounter();
  const at = (offset: number): string => {
    const pos = lines.linePos(Math.max(0, Math.min(offset, text.length)));
    return `${source}:${pos.line}:${pos.col}`;
  };
  const detail = `${source} is not valid YAML or JSON`;

  const tokens = syntaxTree(text, lines);
  const tooMuch = tokens instanceof Refused ? tokens : boundsOf(tokens);
  if (tooMuch)
    throw validationError(detail, [{ path: '', message: `${at(tooMuch.offset)}: ${tooMuch.message}` }], 'invalid_yaml');

  const docs = Array.from(new Composer({ uniqueKeys: false, logLevel: 'error' }).compose(tokens as CST.Token[]));
  const errors: FieldError[] = [];
  const out: unknown[] = [];
  for (const doc of docs) {
    for (const e of doc.errors) errors.push({ path: '', message: `${at(e.pos[0])}: ${e.message.split('\n')[0]}` });
    if (doc.errors.length > 0) continue;
    const found = treeErrors(doc);
    for (const f of found) errors.push({ path: f.path, message: `${at(f.offset)}: ${f.message}` });
    if (found.length > 0) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_EXPANSION });
    } catch (cause) {
      // The library refuses aliases that expand too far (a "billion laughs") while it builds the value.
      const why =
        cause instanceof ReferenceError
          ? `its aliases expand to more than ${MAX_YAML_ALIAS_EXPANSION} copies`
          : (cause as Error).message.split('\n')[0];
      throw new TenancyError('invalid_yaml', detail, {
        cause,
        errors: [{ path: '', message: `${at(doc.range[0])}: ${why}` }],
      });
    }
    if (value !== null && value !== undefined) out.push(value);
  }
  if (errors.length > 0) throw validationError(detail, errors, 'invalid_yaml');
  return out;
}

/**
 * The concrete syntax tree, lexed and parsed one token at a time so that flow nesting and
 * the number of documents are refused as soon as they pass their limits.
 */
function syntaxTree(text: string, lines: LineCounter): CST.Token[] | Refused {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  const tokens: CST.Token[] = [];
  let flowDepth = 0;
  let documents = 0;
  const take = (token: CST.Token): Refused | undefined => {
    if (token.type === 'document' && ++documents > MAX_YAML_DOCUMENTS)
      return new Refused(token.offset, `more than ${MAX_YAML_DOCUMENTS} documents`);
    tokens.push(token);
    return undefined;
  };
  for (const lexeme of new Lexer().lex(text)) {
    if (lexeme === '[' || lexeme === '{') {
      flowDepth += 1;
      if (flowDepth > MAX_YAML_DEPTH)
        return new Refused(parser.offset, `nested more than ${MAX_YAML_DEPTH} levels deep`);
    } else if (lexeme === ']' || lexeme === '}') flowDepth = Math.max(0, flowDepth - 1);
    for (const token of parser.next(lexeme)) {
      const refused = take(token);
      if (refused) return refused;
    }
  }
  for (const token of parser.end()) {
    const refused = take(token);
    if (refused) return refused;
  }
  return tokens;
}

/** Nesting (block and flow) and alias uses over the whole text, walked without recursion. */
function boundsOf(tokens: CST.Token[]): Refused | undefined {
  const pending: Array<[CST.Token, number]> = tokens.map((t) => [t, 0]);
  let aliases = 0;
  while (pending.length > 0) {
    const [token, depth] = pending.pop()!;
    switch (token.type) {
      case 'document':
        if (token.value) pending.push([token.value, depth]);
        break;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection':
        if (depth + 1 > MAX_YAML_DEPTH)
          return new Refused(token.offset, `nested more than ${MAX_YAML_DEPTH} levels deep`);
        for (const item of token.items) {
          if (item.key) pending.push([item.key, depth + 1]);
          if (item.value) pending.push([item.value, depth + 1]);
        }
        break;
      case 'alias':
        aliases += 1;
        if (aliases > MAX_YAML_ALIASES)
          return new Refused(token.offset, `more than ${MAX_YAML_ALIASES} aliases (*name)`);
        break;
      default:
        break;
    }
  }
  return undefined;
}

/**
 * What the syntax allows but a manifest cannot be: an alias to no anchor before it, an alias
 * inside the node it names (a value that contains itself), and a key given twice in a mapping.
 * Anchors resolve as the library resolves them: to the last one of that name before the alias.
 */
function treeErrors(doc: Document): Array<{ path: string; offset: number; message: string }> {
  const found: Array<{ path: string; offset: number; message: string }> = [];
  const anchors = new Map<string, YamlNode>();
  visit(doc, (_key, node, path) => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      const offset = node.range?.[0] ?? 0;
      const at = { path: toPointer(segmentsOf(path, node)), offset };
      if (target === undefined)
        found.push({ ...at, message: `the alias *${node.source} names no anchor (&${node.source}) before it` });
      else if (path.includes(target as never))
        found.push({ ...at, message: `the alias *${node.source} is inside the node it names` });
      return undefined;
    }
    if ((isMap(node) || isSeq(node) || isScalar(node)) && node.anchor) anchors.set(node.anchor, node);
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const name = keyName(pair.key);
        if (seen.has(name)) {
          const offset = (pair.key as YamlNode | null)?.range?.[0] ?? node.range?.[0] ?? 0;
          found.push({
            path: toPointer([...segmentsOf([...path, node], pair), name]),
            offset,
            message: `the key "${name.slice(0, 80)}" is given twice`,
          });
        }
        seen.add(name);
      }
    }
    return undefined;
  });
  return found;
}

/** A mapping key as it becomes a property name. */
function keyName(key: unknown): string {
  if (key === null || key === undefined) return '';
  if (isScalar(key)) return String(key.value);
  if (isAlias(key)) return `*${key.source}`;
  return String(key);
}

/** Where `node` is in its document (JSON pointer segments), from the visitor's path of ancestors. */
function segmentsOf(path: readonly unknown[], node: unknown): string[] {
  const segments: string[] = [];
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    const child = i + 1 < path.length ? path[i + 1] : node;
    if (isPair(step)) {
      if (child === step.key) break;
      segments.push(keyName(step.key));
    } else if (isSeq(step)) segments.push(String(step.items.indexOf(child as never)));
  }
  return segments;
}
