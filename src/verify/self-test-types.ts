/**
 * The isolation self-test's vocabulary: a probe and the report, the API calls it makes, and
 * what it needs of the deployment.
 */
import type { Warehouse } from '../isolation/index.js';

/** One probe's outcome. */
export interface Probe {
  id: string;
  area: 'api' | 'database' | 'setup';
  title: string;
  outcome: 'pass' | 'fail' | 'warn' | 'skip';
  detail?: string;
}

/** The self-test's report. */
export interface IsolationReport {
  ok: boolean;
  engine: 'postgres' | 'pglite';
  tenants: { attacker: string; victim: string };
  startedAt: string;
  durationMs: number;
  summary: { pass: number; fail: number; warn: number; skip: number };
  probes: Probe[];
}

/** An API call as the self-test makes it (in process: `app.inject`). */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  body?: unknown;
  /** Bearer credential; the caller's (a platform admin) when omitted. */
  token?: string;
  headers?: Record<string, string>;
}

/** What the API answered. */
export interface ApiResponse {
  status: number;
  body: unknown;
}

/** What the self-test needs of the deployment. */
export interface SelfTestDeps {
  /** Call the API as the given credential (the caller's by default). */
  api: (request: ApiRequest) => Promise<ApiResponse>;
  /** The tenants' warehouse: its engine, and the fence the probes try to lift. */
  databases: Warehouse;
  /** The store's PostgreSQL URL, if the store is on PostgreSQL (a tenant must not reach it). */
  storeUrl: string | undefined;
  /** Whether app migrations are configured (the migration probe runs only then). */
  migrations: boolean;
  /** The warehouse's role prefix, for the names the probes expect. */
  prefix: string;
}

/** The probe tenants: A attacks, B is attacked. */
export interface ProbeIds {
  a: string;
  b: string;
}

/** Where a family of probes reports each one. */
export type ReportProbe = (p: Probe) => void;
