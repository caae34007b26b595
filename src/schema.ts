/**
 * The whole control-plane store as Kysely sees it: the union of every module's tables.
 * Each module owns its tables and declares their row types in its own `tables.ts`; this
 * file only puts them together. It imports those leaf files directly, a deliberate deep
 * import across module folders: they hold types only and import nothing but column helper
 * types, so importing them never makes an import cycle, where a module's `index.ts` would.
 * `infra/` never imports this file: the store port is generic in its schema.
 */
import type { AccessTables } from './access/tables.js';
import type { AiTables } from './ai/tables.js';
import type { CommercialTables } from './commercial/tables.js';
import type { ControllerTables } from './controller/tables.js';
import type { GovernanceTables } from './governance/tables.js';
import type { QueueTables } from './infra/queue/tables.js';
import type { IsolationTables } from './isolation/tables.js';
import type { KeysTables } from './keys/tables.js';
import type { LedgerTables } from './ledger/tables.js';
import type { RetrievalTables } from './retrieval/tables.js';
import type { SloTables } from './slo/tables.js';
import type { TenantsTables } from './tenants/tables.js';

/** Every table of the control-plane store; a table named twice would not compile. */
export interface Schema
  extends TenantsTables,
    AccessTables,
    LedgerTables,
    KeysTables,
    QueueTables,
    IsolationTables,
    ControllerTables,
    GovernanceTables,
    CommercialTables,
    AiTables,
    RetrievalTables,
    SloTables {}
