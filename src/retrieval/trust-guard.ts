/**
 * The trust and poisoning guard's signals and score.
 *
 * A document's (and each chunk's) trust is a product of three factors in [0, 1]:
 *
 * - **provenance** = 0.5 + 0.25 × source + 0.25 × signature, where source is 1 for a host on
 *   the policy's `allowedSources`, 0.6 when the policy lists none (unknown), 0 for a host
 *   off the list; signature is 1 valid, 0.5 absent, 0 invalid;
 * - **content** = 1 without instruction-like markers, 0.7 with one weak marker, 0.4 with two
 *   or more, 0.1 with any strong one (chat-template tokens, "ignore previous instructions"
 *   and the like, also when spaced out or mixed in case); a document takes its worst chunk's;
 * - **uniqueness** = 0.3 when the document belongs to a cluster of `duplicateClusterSize` or
 *   more documents carrying the same question (the PoisonedRAG signature: each injected
 *   text starts with the question it targets), else 1.
 *
 * A clean, unsigned document from an unlisted host scores 0.775; one with a strong marker
 * 0.078; a clustered one 0.233. Some findings refuse a document whatever its score (hard
 * reasons): a host off the allowed list, an invalid signature, a missing one where
 * signatures are required, a forbidden pattern.
 */
import { createHash, verify, type KeyObject } from 'node:crypto';
import type { RE2JS } from 're2js';
import { compilePattern, ed25519Key, type RetrievalPolicySpec } from './policy-schema.js';

export type SourceState = 'allowed' | 'unknown' | 'not_allowed';
export type SignatureState = 'valid' | 'invalid' | 'absent';

/** Why a document was quarantined or a chunk dropped. */
export type GuardReason =
  | 'source_not_allowed'
  | 'signature_invalid'
  | 'signature_required'
  | 'forbidden_pattern'
  | 'instruction_markers'
  | 'near_duplicate_cluster'
  | 'below_min_trust';

/** Reasons that refuse a document or chunk whatever its score. */
export const HARD_REASONS: ReadonlySet<GuardReason> = new Set([
  'source_not_allowed',
  'signature_invalid',
  'signature_required',
  'forbidden_pattern',
]);

export const SOURCE_FACTOR: Record<SourceState, number> = { allowed: 1, unknown: 0.6, not_allowed: 0 };
export const SIGNATURE_FACTOR: Record<SignatureState, number> = { valid: 1, absent: 0.5, invalid: 0 };
export const CLUSTER_FACTOR = 0.3;

interface Marker {
  id: string;
  strong: boolean;
  re: RE2JS;
}

const marker = (id: string, strong: boolean, source: string): Marker => ({ id, strong, re: compilePattern(source) });

/** Instruction-like text that has no business in a reference document (RE2, case-insensitive). */
const MARKERS: readonly Marker[] = [
  marker(
    'ignore-previous',
    true,
    String.raw`\b(ignore|disregard|forget|override|bypass)\s+(all\s+|any\s+|the\s+|your\s+|of\s+)*(previous|prior|above|earlier|preceding|foregoing|system|original|initial)\s+(instructions?|prompts?|directions?|rules|context|messages?|guidelines|text)`,
  ),
  marker(
    'disregard-above',
    true,
    String.raw`\b(disregard|ignore|forget)\s+((everything|all|anything)\s+(above|before|previously|said)|(the\s+)?(above|foregoing)\b|(all\s+)?(prior|previous|earlier)\s+(context|conversation))`,
  ),
  marker(
    'note-to-ai',
    true,
    String.raw`\bnote\s+to\s+(ai|llms?|language\s+models?|(ai\s+)?assistants?|chatbots?|agents?)\b|\bdo\s+not\s+follow\s+(your|the|any)\s+(earlier|previous|prior|original|initial)\s+(guidelines|instructions|rules|prompts?)`,
  ),
  marker(
    'chat-template',
    true,
    String.raw`<\|(im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id)\|>|\[/?INST\]|<<\s*/?SYS\s*>>|</?(system|assistant)_?(prompt)?>`,
  ),
  marker(
    'new-instructions',
    true,
    String.raw`\b(new|updated|real|actual|secret|hidden)\s+(system\s+)?instructions?\s*(:|follow)`,
  ),
  marker(
    'reveal-prompt',
    true,
    String.raw`\b(reveal|print|repeat|output|show|leak)\s+(me\s+)?(your|the)\s+(system\s+prompt|hidden\s+prompt|instructions|initial\s+prompt)`,
  ),
  marker(
    'hide-from-user',
    true,
    String.raw`\bdo\s+not\s+(tell|inform|reveal\s+to|mention\s+(this\s+)?to)\s+the\s+user`,
  ),
  marker(
    'you-are-now',
    true,
    String.raw`\byou\s+are\s+now\s+(a|an|in|the|my|DAN)\b|\bfrom\s+now\s+on,?\s+you\s+(are|will|must)\b`,
  ),
  marker('role-line', false, String.raw`(^|\n)\s*(system|assistant|developer)\s*:\s*\S`),
  marker(
    'answer-directive',
    false,
    String.raw`\b(always|only)\s+(answer|respond|reply|say)\b|\b(answer|respond|reply)\s+(only\s+)?with\s+["'“]`,
  ),
  marker(
    'when-asked',
    false,
    String.raw`\bwhen\s+(you\s+are\s+|you're\s+)?asked\s+(about|for|what|who|where|when|how|which)\b`,
  ),
  marker(
    'as-an-ai',
    false,
    String.raw`\b(as\s+an?\s+(ai|language\s+model|assistant)|you\s+are\s+an?\s+(ai|assistant|chatbot|language\s+model))\b`,
  ),
];

/** The strong phrases again, matched on letters only (so "I g n o r e  a.l.l previous…" is caught). */
const SQUEEZED = compilePattern(
  '(ignore|disregard|forget)(all|any|the|your)*(previous|prior|above|earlier|system)(instructions?|prompts?|rules|context)|disregard(everything|all)above|revealyoursystemprompt|youarenow(a|an)dan',
);

const ZERO_WIDTH = /[\u00AD\u200B-\u200F\u2060-\u2064\uFEFF]/g;

/** Cyrillic and Greek letters drawn like Latin ones (from Unicode's confusables), folded to Latin. */
const CONFUSABLES: Record<string, string> = Object.fromEntries(
  'аaеeоoрpсcхxуyіiјjѕsԁdһhӏlԛqԝwѵvАAВBЕEКKМMНHОOРPСCТTХXУYІIЈJЅSαaεeιiκkνvοoρpτtυuχxΑAΒBΕEΗHΙIΚKΜMΝNΟOΡPΤTΥYΧXΖZ'
    .match(/../gu)!
    .map((pair) => [pair[0]!, pair[1]!]),
);
const CONFUSABLE = new RegExp(`[${Object.keys(CONFUSABLES).join('')}]`, 'gu');

/**
 * Text as the guard reads it: NFKC (full-width and compatibility forms folded), zero-width
 * characters removed, Cyrillic and Greek look-alikes of Latin letters folded to Latin.
 */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKC')
    .replace(ZERO_WIDTH, '')
    .replace(CONFUSABLE, (c) => CONFUSABLES[c]!);
}

/** The instruction markers in `text` (ids; strong ones first). */
export function instructionMarkers(text: string): string[] {
  const t = normalizeText(text);
  const found = MARKERS.filter((m) => m.re.matcher(t).find()).map((m) => m.id);
  if (!found.some((id) => MARKERS.find((m) => m.id === id)!.strong)) {
    const squeezed = t.toLowerCase().replace(/[^a-z]/g, '');
    if (SQUEEZED.matcher(squeezed).find()) found.unshift('obfuscated-instructions');
  }
  return found;
}

const STRONG = new Set([...MARKERS.filter((m) => m.strong).map((m) => m.id), 'obfuscated-instructions']);

/** The content factor of a text with these markers. */
export function contentFactor(markers: readonly string[]): number {
  if (markers.some((m) => STRONG.has(m))) return 0.1;
  if (markers.length >= 2) return 0.4;
  if (markers.length === 1) return 0.7;
  return 1;
}

/** Compiled forbidden patterns of a policy (compiled once per policy version). */
export function compileForbidden(policy: RetrievalPolicySpec): RE2JS[] {
  return policy.forbiddenPatterns.map((p) => compilePattern(p));
}

/** Indices of the patterns that match `text`. Linear time in the text for each pattern. */
export function forbiddenMatches(patterns: readonly RE2JS[], text: string): number[] {
  const t = normalizeText(text);
  const out: number[] = [];
  patterns.forEach((p, i) => {
    if (p.matcher(t).find()) out.push(i);
  });
  return out;
}

/** The host of a source URI (lowercase), or undefined when it has none. */
export function sourceHost(uri: string): string | undefined {
  try {
    const host = new URL(uri).hostname.toLowerCase();
    return host === '' ? undefined : host.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/** Whether `host` matches a domain glob (`*`, `*.acme.com`: subdomains only, `acme.com`: exactly). */
export function hostMatches(glob: string, host: string): boolean {
  if (glob === '*') return true;
  if (glob.startsWith('*.')) return host.endsWith(glob.slice(1)) && host.length > glob.length - 1;
  return host === glob;
}

/** Where a document's source stands with the policy. */
export function sourceState(uri: string, policy: RetrievalPolicySpec): SourceState {
  if (policy.allowedSources.length === 0) return 'unknown';
  const host = sourceHost(uri);
  return host !== undefined && policy.allowedSources.some((g) => hostMatches(g, host)) ? 'allowed' : 'not_allowed';
}

/** What a source signs: its URI and the SHA-256 of the document's bytes, as sent. */
export function signedMessage(sourceUri: string, contentSha256: string): Buffer {
  return Buffer.from(`tenancy-document-v1\n${sourceUri}\n${contentSha256}`, 'utf8');
}

/** The policy's source keys, parsed (once per policy version). */
export function sourceKeys(policy: RetrievalPolicySpec): Array<{ id: string; key: KeyObject }> {
  return policy.sourceKeys.map((k) => ({ id: k.id, key: ed25519Key(k.publicKey) }));
}

/** A fingerprint of the policy's keys: a stored signature check is redone when it changes. */
export function keysFingerprint(policy: RetrievalPolicySpec): string {
  return createHash('sha256')
    .update(JSON.stringify(policy.sourceKeys.map((k) => [k.id, k.publicKey])))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Check a document's signature: `<keyId>:<signature>` or just `<signature>` (base64 or
 * base64url of the 64-byte Ed25519 signature), against the named key or any of the keys.
 */
export function checkSignature(
  signature: string | null | undefined,
  message: Buffer,
  keys: ReadonlyArray<{ id: string; key: KeyObject }>,
): { state: SignatureState; keyId?: string } {
  if (!signature) return { state: 'absent' };
  const colon = signature.lastIndexOf(':');
  const keyId = colon > 0 ? signature.slice(0, colon) : undefined;
  const sig = Buffer.from(
    (colon > 0 ? signature.slice(colon + 1) : signature).replace(/-/g, '+').replace(/_/g, '/'),
    'base64',
  );
  if (sig.length !== 64) return { state: 'invalid' };
  const candidates = keyId === undefined ? keys : keys.filter((k) => k.id === keyId);
  for (const k of candidates) {
    try {
      if (verify(null, message, k.key, sig)) return { state: 'valid', keyId: k.id };
    } catch {
      /* a malformed signature is simply not valid */
    }
  }
  return { state: 'invalid' };
}

const WORD = /[\p{L}\p{N}]+/gu;

/** The words of a text, lowercase. */
export function words(text: string): string[] {
  return normalizeText(text).toLowerCase().match(WORD) ?? [];
}

/** The question a text opens with (its first sentence, when it ends in "?"), or undefined. */
export function leadingQuestion(text: string): string | undefined {
  // Up to the first "?" of the first line: a question may hold dots ("i.e.", "3.5").
  return /^\s*([^?\n]{8,400}\?)/.exec(normalizeText(text))?.[1];
}

/**
 * The key of the question a text opens with, when it has five words or more (normalized to
 * its words): documents sharing one are aimed at the same question. Only the opening
 * question counts: PoisonedRAG's texts start with the question they target, while a question
 * inside a page ("Is there a local festival?" in every town's FAQ) is ordinary.
 */
export function questionKeys(text: string): string[] {
  const q = leadingQuestion(text);
  if (q === undefined) return [];
  const w = words(q);
  return w.length < 5 ? [] : [createHash('sha256').update(w.join(' ')).digest('hex').slice(0, 24)];
}

/** Signals stored with a document (its trust is recomputed from them under the current policy). */
export interface DocumentSignals {
  source: SourceState;
  signature: SignatureState;
  markers: string[];
  cluster: boolean;
}

/** A trust score and why it is what it is, under `policy`. */
export function judge(
  signals: DocumentSignals,
  policy: RetrievalPolicySpec,
  extra: { forbidden?: boolean } = {},
): { trustScore: number; reasons: GuardReason[]; refused: boolean } {
  const provenance = 0.5 + 0.25 * SOURCE_FACTOR[signals.source] + 0.25 * SIGNATURE_FACTOR[signals.signature];
  const score =
    Math.round(provenance * contentFactor(signals.markers) * (signals.cluster ? CLUSTER_FACTOR : 1) * 1000) / 1000;
  const reasons: GuardReason[] = [];
  if (signals.source === 'not_allowed') reasons.push('source_not_allowed');
  if (signals.signature === 'invalid') reasons.push('signature_invalid');
  if (signals.signature === 'absent' && policy.signatureRequired) reasons.push('signature_required');
  if (extra.forbidden) reasons.push('forbidden_pattern');
  if (signals.markers.length > 0) reasons.push('instruction_markers');
  if (signals.cluster) reasons.push('near_duplicate_cluster');
  const hard = reasons.some((r) => HARD_REASONS.has(r));
  const low = score < policy.minTrustScore;
  if (low) reasons.push('below_min_trust');
  return { trustScore: score, reasons, refused: hard || low };
}

/** Jaccard similarity of two word sets. */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 0;
  let inter = 0;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const w of small) if (large.has(w)) inter++;
  return inter / (a.size + b.size - inter);
}

/** A candidate chunk as the retrieval-time guard sees it. */
export interface Candidate {
  documentId: string;
  text: string;
  signals: DocumentSignals;
  /** Released by an approval: a person vouched for it, the guard keeps it. */
  released: boolean;
  forbidden: boolean;
}

/** Similarity above which a question in a chunk echoes the query. */
export const QUERY_ECHO_JACCARD = 0.7;

/**
 * The sentence a text opens with: up to the first "?" of its first line, or else up to its
 * first "." or "!" followed by a space (a query need not be a question: "Name the river
 * that …").
 */
export function leadingSentence(text: string): string | undefined {
  const line = /^\s*([^\n]{8,400})/.exec(normalizeText(text))?.[1];
  if (line === undefined) return undefined;
  const q = line.indexOf('?');
  if (q >= 8) return line.slice(0, q + 1);
  return /^(.{8,}?[.!])(\s|$)/.exec(line)?.[1] ?? line;
}

function echoesQuery(text: string, query: ReadonlySet<string>): boolean {
  const lead = leadingSentence(text);
  return lead !== undefined && jaccard(new Set(words(lead)), query) >= QUERY_ECHO_JACCARD;
}

/**
 * Judge a pool of candidates for one query: each under the policy, then as a group, where
 * `duplicateClusterSize` documents or more opening with the query (word overlap of 0.7 or
 * more with their first sentence) are a poisoning cluster: PoisonedRAG's texts crowd the top of the ranking
 * together, each starting with the question it targets. (Near-duplicate content alone is not
 * a signal: templated and mirrored pages are ordinary.)
 */
export function screenPool(
  candidates: readonly Candidate[],
  query: string,
  policy: RetrievalPolicySpec,
): Array<{ trustScore: number; reasons: GuardReason[]; refused: boolean }> {
  const clustered = new Set<string>();
  const q = new Set(words(query));
  if (q.size >= 3) {
    const echo = new Set(candidates.filter((c) => !c.released && echoesQuery(c.text, q)).map((c) => c.documentId));
    if (echo.size >= policy.duplicateClusterSize) for (const d of echo) clustered.add(d);
  }
  return candidates.map((c) => {
    const verdict = judge({ ...c.signals, cluster: c.signals.cluster || clustered.has(c.documentId) }, policy, {
      forbidden: c.forbidden,
    });
    return c.released ? { ...verdict, refused: false } : verdict;
  });
}
