/**
 * The warehouse port on embedded PGlite (in memory) and on PostgreSQL
 * (TENANCY_TEST_DATABASE_URL; a least-privileged control-plane role, no superuser; skipped
 * with a message when absent).
 */
import { randomBytes } from 'node:crypto';
import { openDatabase } from '../src/infra/sql/index.js';
import { loadInstallation, PgliteWarehouse, PostgresWarehouse } from '../src/isolation/index.js';
import { LocalKeyRing, rootKeyFrom } from '../src/keys/index.js';
import { PG_URL } from './support/engines.js';
import { dropPrefixed, leastPrivilege, warehouseKinds } from './support/warehouse.js';
import { registeredTenants, runWarehouseSuite } from './support/warehouse-suite.js';
import type { Schema } from '../src/schema.js';

const kinds = warehouseKinds('warehouse contract suites');

runWarehouseSuite('embedded PGlite', async () => {
  const store = await openDatabase<Schema>({ dataDir: undefined });
  const keyRing = await LocalKeyRing.open(store.db, rootKeyFrom(randomBytes(32)));
  const tenants = await registeredTenants(store, keyRing);
  return {
    warehouse: new PgliteWarehouse(undefined, ''),
    tenant: tenants.tenant,
    async stop() {
      await tenants.stop();
      await store.close();
    },
  };
});

if (PG_URL && kinds.includes('postgres')) {
  runWarehouseSuite('PostgreSQL (least-privileged)', async () => {
    const lp = await leastPrivilege();
    const prefix = `w${randomBytes(3).toString('hex')}_`;
    const store = await openDatabase<Schema>({ url: lp.storeUrl });
    const keyRing = await LocalKeyRing.open(store.db, rootKeyFrom(randomBytes(32)));
    const tenants = await registeredTenants(store, keyRing);
    const warehouse = new PostgresWarehouse(store.db, keyRing, lp.warehouseUrl, {
      installation: await loadInstallation(store.db, prefix),
      storeUrl: lp.storeUrl,
    });
    return {
      warehouse,
      tenant: tenants.tenant,
      async stop() {
        await tenants.stop();
        await store.close();
        await dropPrefixed(prefix);
        await lp.drop();
        await dropPrefixed(prefix);
      },
    };
  });
}
