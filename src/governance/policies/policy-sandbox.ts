/**
 * The sandbox stage: a policy's rules run against recorded sample requests in a
 * `worker_threads` Worker with a heap limit (`resourceLimits`) and a wall-clock timeout
 * (the worker is terminated), so a runaway expression or a huge sample cannot stall or
 * exhaust the control plane. One idle worker is kept warm between runs. The worker runs
 * {@link compilePolicy}'s own source and the CEL library; it is given no I/O (no file,
 * network or environment access is used, and CEL has none to offer).
 */
import { Worker } from 'node:worker_threads';
import { CEL_LIMITS, compilePolicy, type Decision, type EngineInput } from './policy-engine.js';

/**
 * Limits of one sandbox run: `timeoutMs` bounds the evaluation (from the moment the
 * worker has loaded and compiled, so a loaded machine's slow worker start-up is not
 * counted against the policy; start-up itself has a generous bound of its own).
 */
export interface SandboxLimits {
  timeoutMs: number;
  memoryMb: number;
}

/** How long a worker may take to start and compile before the run is abandoned. */
const STARTUP_LIMIT_MS = 15_000;

/** Limits when none are configured (`TENANCY_POLICY_SANDBOX_TIMEOUT_MS`, `TENANCY_POLICY_SANDBOX_MEMORY_MB`). */
export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { timeoutMs: 2_000, memoryMb: 64 };

/** How a sandbox run ended. */
export type SandboxOutcome =
  | { ok: true; results: Decision[][]; ms: number }
  | { ok: false; reason: 'timeout' | 'memory' | 'error'; message: string; ms: number };

const CEL_URL = import.meta.resolve('@marcbachmann/cel-js');

// The worker's whole program: load CEL once, then for each job compile every policy with
// compilePolicy's own source, say it is ready (the time limit starts), decide every request
// under every policy and post the decisions. A worker serves one job at a time.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const compilePolicy = (${compilePolicy.toString()});
const cel = import(workerData.celUrl);
parentPort.on('message', async (job) => {
  try {
    const { Environment } = await cel;
    const compiled = job.policies.map((p) => compilePolicy(Environment, p, job.limits));
    parentPort.postMessage({ ready: true });
    const results = job.requests.map((request) => compiled.map((p) => p.decide(request)));
    parentPort.postMessage({ ok: true, results });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String((error && error.message) || error).split('\\n')[0] });
  }
});
`;

/**
 * One idle worker is kept warm between runs (unreferenced, so it never keeps the process
 * alive); a run takes it or starts a new one, and gives it back only when the run ended
 * normally. A worker that timed out, ran out of heap or failed is terminated.
 */
let idle: { worker: Worker; memoryMb: number } | undefined;

function takeWorker(memoryMb: number): Worker {
  if (idle && idle.memoryMb === memoryMb) {
    const { worker } = idle;
    idle = undefined;
    worker.ref();
    return worker;
  }
  return new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { celUrl: CEL_URL },
    resourceLimits: {
      maxOldGenerationSizeMb: memoryMb,
      maxYoungGenerationSizeMb: Math.max(4, Math.floor(memoryMb / 4)),
      stackSizeMb: 4,
    },
    env: {},
    // Nothing of the host's flags or loaders (a test runner's, say) is carried into the sandbox.
    execArgv: [],
    stdout: true,
    stderr: true,
  });
}

function giveBack(worker: Worker, memoryMb: number): void {
  worker.removeAllListeners('message');
  worker.removeAllListeners('error');
  worker.removeAllListeners('exit');
  if (idle) {
    void worker.terminate();
    return;
  }
  worker.unref();
  // An idle worker that dies (it should not) is simply forgotten.
  worker.once('exit', () => {
    if (idle?.worker === worker) idle = undefined;
  });
  idle = { worker, memoryMb };
}

/**
 * Decide every request under every policy in a sandbox worker: `results[r][p]` is request
 * `r` under policy `p`.
 */
export function runSandbox(
  policies: EngineInput[],
  requests: Array<Record<string, unknown>>,
  limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS,
): Promise<SandboxOutcome> {
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  return new Promise((resolve) => {
    let settled = false;
    const worker = takeWorker(limits.memoryMb);
    const finish = (outcome: SandboxOutcome, reusable = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (reusable) giveBack(worker, limits.memoryMb);
      else void worker.terminate();
      resolve(outcome);
    };
    const timeout = (message: string) => () => finish({ ok: false, reason: 'timeout', message, ms: ms() });
    let timer = setTimeout(timeout(`the sandbox did not start within ${STARTUP_LIMIT_MS} ms`), STARTUP_LIMIT_MS);
    worker.on(
      'message',
      (m: { ready: true } | { ok: true; results: Decision[][] } | { ok: false; message: string }) => {
        if ('ready' in m) {
          clearTimeout(timer);
          timer = setTimeout(
            timeout(`the rules did not finish on the samples within ${limits.timeoutMs} ms`),
            limits.timeoutMs,
          );
          return;
        }
        finish(
          m.ok
            ? { ok: true, results: m.results, ms: ms() }
            : { ok: false, reason: 'error', message: m.message, ms: ms() },
          true,
        );
      },
    );
    worker.on('error', (error: Error & { code?: string }) => {
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY' || /out of memory|heap/i.test(error.message);
      finish({
        ok: false,
        reason: memory ? 'memory' : 'error',
        message: memory ? `the sandbox exceeded its ${limits.memoryMb} MB heap` : error.message.split('\n')[0]!,
        ms: ms(),
      });
    });
    worker.on('exit', (code) =>
      finish({ ok: false, reason: 'error', message: `the sandbox exited (${code}) without an answer`, ms: ms() }),
    );
    worker.postMessage({
      limits: CEL_LIMITS,
      policies: policies.map((p) => ({
        fields: p.fields,
        defaultEffect: p.defaultEffect,
        rules: p.rules.map((r) => ({ id: r.id, effect: r.effect, when: r.when })),
      })),
      requests,
    });
  });
}
