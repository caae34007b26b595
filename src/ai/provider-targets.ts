/**
 * Providers as adapters call them: the catalogue entry with its API key opened from the
 * platform secret it names (kept 30 seconds, so a rotated key takes over within that).
 */
import { TenancyError } from '../errors.js';
import type { PlatformSecretStore } from '../keys/index.js';
import type { CatalogueProvider } from './catalogue.js';
import type { ProviderTarget } from './types.js';

const KEY_TTL_MS = 30_000;

/** Opens and caches provider keys. */
export class ProviderTargets {
  readonly #keys = new Map<string, { value: string; until: number }>();

  constructor(private readonly secrets: PlatformSecretStore) {}

  async #apiKey(secret: string | undefined): Promise<string | undefined> {
    if (secret === undefined) return undefined;
    const hit = this.#keys.get(secret);
    if (hit && hit.until > Date.now()) return hit.value;
    const { value } = await this.secrets.open(secret).catch((cause) => {
      throw new TenancyError('upstream_error', `the provider's API key (platform secret ${secret}) cannot be opened`, {
        status: 503,
        cause,
      });
    });
    this.#keys.set(secret, { value, until: Date.now() + KEY_TTL_MS });
    return value;
  }

  /** The target for `p`; throws when its key cannot be opened. */
  async of(p: CatalogueProvider): Promise<ProviderTarget> {
    return {
      name: p.name,
      type: p.type,
      baseUrl: p.baseUrl,
      region: p.region,
      apiKey: await this.#apiKey(p.apiKeySecret),
      timeoutMs: p.timeoutMs,
      ...(p.mock ? { mock: p.mock } : {}),
    };
  }
}
