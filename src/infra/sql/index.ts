/**
 * SQL port: the control-plane store on PGlite or PostgreSQL, its column helper types and
 * migrations. The store is generic in its schema: each module declares the row types of its own tables.
 */
export { openDatabase, migrate, json, redactUrl } from './database.js';
export type { Database, DatabaseTarget, SqlEngine } from './database.js';
export type { Json, Timestamp } from './column-types.js';
