/**
 * The first credential of an installation: without a platform-admin key nobody could create
 * the next one, so the control plane makes sure one exists when it starts.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, type ApiKeyStore } from './api-key-store.js';

const BOOTSTRAP = { id: 'system:bootstrap', correlationId: null };

/**
 * Make sure a platform-admin credential exists: the preset `adminToken` (`TENANCY_ADMIN_TOKEN`),
 * or on first start a generated one written to `<dataDir>/admin.key` (mode 0600), whose path
 * is returned.
 */
export async function ensureAdminKey(
  apiKeys: ApiKeyStore,
  options: { adminToken?: string | undefined; dataDir: string },
): Promise<string | undefined> {
  if (options.adminToken) {
    if (!(await apiKeys.exists(keyIdOf(options.adminToken)))) {
      await apiKeys.create(
        BOOTSTRAP,
        { name: 'bootstrap (TENANCY_ADMIN_TOKEN)', role: 'platform-admin', tenantId: null },
        options.adminToken,
      );
    }
    return undefined;
  }
  if (await apiKeys.hasActivePlatformAdmin()) return undefined;
  const { token } = await apiKeys.create(BOOTSTRAP, { name: 'bootstrap', role: 'platform-admin', tenantId: null });
  const file = join(options.dataDir, 'admin.key');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
