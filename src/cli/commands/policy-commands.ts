/**
 * `policy sign`: sign a policy file (a `TenantPolicy` folder document, or a plain policy
 * as posted to the API) with an Ed25519 private key, locally; the key never leaves the
 * machine. The signature covers the RFC 8785 canonical JSON of the policy without its
 * `originSignature`, so the signed YAML can be reformatted freely.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { calculateJwkThumbprint } from 'jose';
import { stringify } from 'yaml';
import { signPolicy } from '../../governance/index.js';
import { parseManifestText } from '../../tenants/index.js';
import { CliError } from '../client.js';

type Out = (line: string) => void;

/** `policy sign -f <file> --key <private.pem> [--key-id <id>] [--write]`. */
export async function signPolicyFile(
  file: string,
  keyFile: string,
  keyId: string | undefined,
  write: boolean,
  out: Out,
): Promise<void> {
  let text: string;
  let keyText: string;
  try {
    [text, keyText] = await Promise.all([readFile(file, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (error) {
    throw new CliError(`cannot read ${(error as { path?: string }).path ?? file}: ${(error as Error).message}`);
  }
  let docs: unknown[];
  try {
    docs = parseManifestText(text, file);
  } catch (error) {
    // One line naming file:line:col, as `apply -f` prints it.
    const e = error as { detail?: string; errors?: Array<{ message: string }> };
    throw new CliError(
      e.errors?.length ? e.errors.map((x) => x.message).join('; ') : (e.detail ?? (error as Error).message),
    );
  }
  if (docs.length !== 1 || typeof docs[0] !== 'object' || docs[0] === null)
    throw new CliError(`${file}: expected one policy document`);
  let privateKey;
  try {
    privateKey = createPrivateKey(keyText);
  } catch (error) {
    throw new CliError(`${keyFile}: not a private key (${(error as Error).message.split('\n')[0]})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new CliError(`${keyFile}: policy keys are Ed25519, this is ${privateKey.asymmetricKeyType}`);
  const id = keyId ?? (await calculateJwkThumbprint(createPublicKey(privateKey).export({ format: 'jwk' }) as never));
  const doc = docs[0] as Record<string, unknown> & {
    kind?: unknown;
    metadata?: { name?: unknown };
    spec?: Record<string, unknown>;
  };
  let signed: Record<string, unknown>;
  if (doc.kind === 'TenantPolicy') {
    const { originSignature: _old, ...spec } = doc.spec ?? {};
    const { name: _n, ...signedSpec } = signPolicy({ name: doc.metadata?.name, ...spec }, privateKey, id);
    signed = { ...doc, spec: signedSpec };
  } else {
    signed = signPolicy(doc, privateKey, id);
  }
  const yaml = stringify(signed, { lineWidth: 0 });
  if (write) {
    await writeFile(file, yaml);
    out(`signed ${file} with key ${id}`);
  } else out(yaml.trimEnd());
}
