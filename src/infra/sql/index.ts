/**
 * SQL port: the control-plane store on PGlite or PostgreSQL, its schema types and migrations.
 */
export { openDatabase, migrate, json, redactUrl } from './database.js';
export type { Database, DatabaseTarget, SqlEngine } from './database.js';
export type { Json, Timestamp } from './column-types.js';
export type { Schema } from './schema.js';
