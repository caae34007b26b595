/**
 * The model router: for one tenant's request it builds the chain (the chosen model, then its
 * fallbacks; the fallbacks alone once the budget threshold downgraded the tenant), and walks
 * it. Per candidate: skip it while its breaker (this tenant's, for this model) is open; hold
 * the call's worst-case cost in the budget ledger (prompt tokens counted, `max_tokens` at the
 * output price), or try a cheaper candidate when it does not fit; call the provider, retrying
 * 429 and 5xx with backoff (honouring `Retry-After`); settle the hold with the provider's
 * reported usage. Streaming is in `chat-stream.ts`, on the same walk.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TenancyError } from '../errors.js';
import { ProviderTargets } from './provider-targets.js';
import { budgetError, codeOf, upstreamFailure } from './router-errors.js';
import type { PlatformSecretStore } from '../keys/index.js';
import type { Breakers } from './breakers.js';
import { windowKeys, type BudgetLedger, type Reservation, type WindowUsage } from './budget-ledger.js';
import type { BudgetNotices } from './budget-notices.js';
import type { ModelCatalogue } from './catalogue.js';
import type { ChatRequestInput } from './chat-schema.js';
import type { RouterMetering } from './metering.js';
import { chainFor, chosenModel, type Candidate, type TenantRouting, type TenantRoutings } from './tenant-routing.js';
import { costMicros, promptTokens, textTokens } from './tokens.js';
import {
  ClientGone,
  UpstreamError,
  type ChatCompletion,
  type ChatRequest,
  type ProviderAdapter,
  type ProviderTarget,
  type ProviderType,
} from './types.js';

/** What the router is built from. */
export interface ModelRouterDeps {
  catalogue: ModelCatalogue;
  routings: TenantRoutings;
  ledger: BudgetLedger;
  breakers: Breakers;
  adapters: Record<ProviderType, ProviderAdapter>;
  secrets: PlatformSecretStore;
  metering: RouterMetering;
  notices: BudgetNotices;
}

/** A candidate the walk settled on, with its hold. */
export interface Attempt {
  candidate: Candidate;
  target: ProviderTarget;
  reservation: Reservation | undefined;
  body: ChatRequest;
  maxTokens: number;
  promptTokens: number;
}

/** How one walk went, for the final error. */
export interface WalkState {
  exhausted: WindowUsage[];
  breakerOpen: string[];
  tooLong: string[];
  lastError: UpstreamError | undefined;
}

const MAX_RETRIES = 2;
const MAX_RETRY_WAIT_MS = 2_000;
const RESERVATION_TTL_MS = 15 * 60_000;
/** Streamed text is counted in pieces, which can count a few tokens more than the whole: the hold allows for it. */
const OUTPUT_MARGIN = (maxTokens: number) => maxTokens + Math.ceil(maxTokens / 10) + 16;

/** The tenant-scoped model router. */
export class ModelRouter {
  readonly #targets: ProviderTargets;
  /** Spend of tenants without limits, not yet written. */
  readonly #unheld = new Map<string, number>();
  #unheldTimer: NodeJS.Timeout | undefined;
  /** Tenants downgraded by the budget threshold, until the window that crossed it resets. */
  readonly #downgraded = new Map<string, number>();

  constructor(readonly deps: ModelRouterDeps) {
    this.#targets = new ProviderTargets(deps.secrets);
  }

  #isDowngraded(tenantId: string): boolean {
    const until = this.#downgraded.get(tenantId);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.#downgraded.delete(tenantId);
    return false;
  }

  /**
   * Walk the chain for a chat request, calling `run` with each candidate that got a hold
   * until one succeeds. `run` throws an {@link UpstreamError} to move on (it has settled
   * nothing); it returns to stop. Everything else ends the walk.
   */
  async walk<T>(tenantId: string, input: ChatRequestInput, run: (attempt: Attempt) => Promise<T>): Promise<T> {
    const routing = await this.deps.routings.of(tenantId);
    const catalogue = await this.deps.catalogue.snapshot();
    const first = chosenModel(routing.spec, input.model, input.metadata);
    const prompt = promptTokens(input.messages as ChatRequest['messages'], input.tools);
    const state: WalkState = { exhausted: [], breakerOpen: [], tooLong: [], lastError: undefined };
    let downgraded = routing.action === 'downgrade_to_fallback' && this.#isDowngraded(tenantId);
    for (let pass = 0; pass < 2; pass++) {
      const chain = chainFor(routing, catalogue, first, { downgraded, kind: 'chat' });
      let restart = false;
      for (const candidate of chain) {
        const { model } = candidate;
        const n = input.n ?? 1;
        const requestedMax = input.max_completion_tokens ?? input.max_tokens ?? routing.spec.primary.maxTokens;
        const maxTokens = requestedMax ?? Math.max(1, Math.min(4096, model.contextWindow - prompt));
        if (prompt + maxTokens > model.contextWindow) {
          state.tooLong.push(`${model.name} (${model.contextWindow} tokens)`);
          // The model the request names must take it; a fallback that cannot is skipped.
          if (!candidate.fallback)
            throw this.failure(routing, { ...state, lastError: undefined, exhausted: [], breakerOpen: [] });
          continue;
        }
        if (!this.deps.breakers.wouldAllow(tenantId, model.name)) {
          state.breakerOpen.push(model.name);
          continue;
        }
        const worst = costMicros(model, prompt, OUTPUT_MARGIN(maxTokens) * n);
        const reservation = await this.hold(routing, worst, state);
        if (reservation === null) continue;
        if (reservation !== undefined && !downgraded && this.#crossed(routing, reservation.windows)) {
          if (routing.action === 'deny') {
            await this.deps.ledger.settle(reservation.reservation, 0);
            throw this.#thresholdRefusal(routing, reservation.windows);
          }
          this.#downgrade(routing, reservation.windows);
          // Without a fallback chain there is nothing to downgrade to: the call goes on until the budget is spent.
          if (routing.spec.fallback.length > 0 && !routing.spec.fallback.includes(model.name)) {
            await this.deps.ledger.settle(reservation.reservation, 0);
            downgraded = true;
            restart = true;
            break;
          }
        }
        const body = this.#upstreamBody(input, routing, candidate, maxTokens);
        const target = await this.targetOf(candidate).catch((error: unknown) => error as Error);
        // The breaker's probe is taken only now, just before the call, so a skipped candidate never holds it.
        const skip =
          target instanceof Error
            ? new UpstreamError('refused', target.message, { cause: target })
            : !this.deps.breakers.allow(tenantId, model.name)
              ? undefined
              : null;
        if (skip !== null) {
          if (reservation) await this.deps.ledger.settle(reservation.reservation, 0);
          if (skip) state.lastError = skip;
          else state.breakerOpen.push(model.name);
          continue;
        }
        try {
          return await run({
            candidate,
            target: target as ProviderTarget,
            reservation: reservation?.reservation,
            body,
            maxTokens,
            promptTokens: prompt,
          });
        } catch (error) {
          if (!(error instanceof UpstreamError)) throw error;
          state.lastError = error;
        }
      }
      if (!restart) break;
    }
    throw this.failure(routing, state);
  }

  /** A hold for `amount`; undefined without limits, null when it does not fit (noted in `state`). */
  async hold(
    routing: TenantRouting,
    amount: number,
    state: WalkState,
  ): Promise<{ reservation: Reservation; windows: WindowUsage[] } | undefined | null> {
    if (routing.limits.dailyMicros === undefined && routing.limits.monthlyMicros === undefined) return undefined;
    const r = await this.deps.ledger.reserve(routing.tenantId, routing.limits, amount, { ttlMs: RESERVATION_TTL_MS });
    if (r.ok) return { reservation: r.reservation, windows: r.windows };
    state.exhausted.push(r.exhausted);
    return null;
  }

  #crossed(routing: TenantRouting, windows: WindowUsage[]): WindowUsage | undefined {
    return (
      windows.find(
        (w) =>
          w.limitMicros !== null &&
          w.limitMicros > 0 &&
          (w.spentMicros + w.reservedMicros) / w.limitMicros >= routing.threshold,
      ) ?? windows.find((w) => w.limitMicros === 0)
    );
  }

  #downgrade(routing: TenantRouting, windows: WindowUsage[]): void {
    const crossed = this.#crossed(routing, windows)!;
    if (routing.spec.fallback.length > 0) this.#downgraded.set(routing.tenantId, crossed.resetsAt.getTime());
    this.deps.notices.notify(routing.tenantId, 'threshold', crossed, {
      threshold: routing.threshold,
      action: routing.action,
    });
  }

  #thresholdRefusal(routing: TenantRouting, windows: WindowUsage[]): TenancyError {
    const crossed = this.#crossed(routing, windows)!;
    this.deps.notices.notify(routing.tenantId, 'threshold', crossed, { threshold: routing.threshold, action: 'deny' });
    return budgetError(
      'budget_threshold_reached',
      `the tenant's ${crossed.window} model budget reached its ${Math.round(routing.threshold * 100)}% threshold (action deny)`,
      crossed,
    );
  }

  failure(routing: TenantRouting, state: WalkState): TenancyError {
    if (state.lastError) return upstreamFailure(state.lastError);
    if (state.exhausted.length > 0) {
      const w = state.exhausted.reduce((a, b) => (a.resetsAt < b.resetsAt ? b : a));
      this.deps.notices.notify(routing.tenantId, 'exhausted', w);
      return budgetError(
        'budget_exhausted',
        `the tenant's ${w.window} model budget cannot hold this request's worst-case cost`,
        w,
      );
    }
    if (state.breakerOpen.length > 0)
      return new TenancyError(
        'models_unavailable',
        `every model of the chain is failing for this tenant (circuit open: ${state.breakerOpen.join(', ')}); retry later`,
        {
          headers: { 'retry-after': String(Math.ceil(routing.breaker.cooldownMs / 1000)) },
        },
      );
    return new TenancyError(
      'context_length_exceeded',
      `the prompt plus max_tokens is longer than the context window of ${state.tooLong.join(', ')}`,
      {
        errors: [{ path: '/max_tokens', message: 'prompt tokens plus max_tokens exceed the model context window' }],
      },
    );
  }

  #upstreamBody(input: ChatRequestInput, routing: TenantRouting, candidate: Candidate, maxTokens: number): ChatRequest {
    const { metadata: _m, max_completion_tokens: _c, stream_options: _s, model: _model, ...rest } = input;
    const body = { ...rest, model: candidate.model.upstreamModel, max_tokens: maxTokens } as unknown as ChatRequest;
    if (body.temperature === undefined && routing.spec.primary.temperature !== undefined)
      body.temperature = routing.spec.primary.temperature;
    return body;
  }

  /** What an adapter needs to call the candidate's provider (its key opened). */
  targetOf(candidate: Candidate): Promise<ProviderTarget> {
    return this.#targets.of(candidate.provider);
  }

  /** Call `fn` with retries of retryable failures; every attempt counts on the breaker. */
  async withRetries<T>(routing: TenantRouting, model: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await fn();
        this.deps.breakers.record(routing.tenantId, model, true, routing.breaker);
        return result;
      } catch (error) {
        if (error instanceof ClientGone) throw error;
        const e =
          error instanceof UpstreamError
            ? error
            : new UpstreamError('network', (error as Error).message, { cause: error });
        this.deps.breakers.record(routing.tenantId, model, !e.countsAsFailure, routing.breaker);
        const wait = e.retryAfterMs ?? 100 * 2 ** attempt;
        if (
          !e.retryable ||
          attempt >= MAX_RETRIES ||
          wait > MAX_RETRY_WAIT_MS ||
          !this.deps.breakers.allow(routing.tenantId, model)
        )
          throw e;
        await sleep(wait * (0.8 + Math.random() * 0.4));
      }
    }
  }

  /** A whole chat answer. */
  async chat(
    tenantId: string,
    input: ChatRequestInput,
    requestId: string,
  ): Promise<{ completion: ChatCompletion; model: string; fallback: boolean }> {
    const routing = await this.deps.routings.of(tenantId);
    const started = Date.now();
    return this.walk(tenantId, input, async (a) => {
      const adapter = this.deps.adapters[a.target.type];
      let completion: ChatCompletion;
      try {
        completion = await this.withRetries(routing, a.candidate.model.name, () =>
          adapter.chat(a.target, a.body, { signal: AbortSignal.timeout(a.target.timeoutMs * 2) }),
        );
      } catch (error) {
        if (a.reservation) await this.deps.ledger.settle(a.reservation, 0);
        this.#record(tenantId, a, requestId, started, {
          outcome: 'error',
          code: codeOf(error),
          tokensIn: 0,
          tokensOut: 0,
          cost: 0,
          stream: false,
        });
        throw error;
      }
      const tokensIn = completion.usage?.prompt_tokens ?? a.promptTokens;
      const tokensOut =
        completion.usage?.completion_tokens ??
        completion.choices.reduce((n, c) => n + (c.message.content ? textTokens(c.message.content) : 0), 0);
      const cost = costMicros(a.candidate.model, tokensIn, tokensOut);
      await this.#settle(tenantId, a.reservation, cost);
      this.#record(tenantId, a, requestId, started, { outcome: 'success', tokensIn, tokensOut, cost, stream: false });
      completion.model = a.candidate.model.name;
      return { completion, model: a.candidate.model.name, fallback: a.candidate.fallback };
    });
  }

  /** Settle a hold (capped at what was held: a provider that ignored max_tokens is not charged past the budget). */
  async #settle(tenantId: string, reservation: Reservation | undefined, cost: number): Promise<void> {
    if (reservation) await this.deps.ledger.settle(reservation, Math.min(cost, reservation.amountMicros));
    else if (cost > 0) {
      // No limits: the spend is still recorded in the ledger (for the status), summed per
      // tenant and written once a second, never on the request path.
      this.#unheld.set(tenantId, (this.#unheld.get(tenantId) ?? 0) + cost);
      this.#unheldTimer ??= setTimeout(() => void this.flushUnheld(), 1_000);
    }
  }

  /** Write the spend of tenants without limits (summed since the last write). */
  async flushUnheld(): Promise<void> {
    clearTimeout(this.#unheldTimer);
    this.#unheldTimer = undefined;
    const spent = [...this.#unheld];
    this.#unheld.clear();
    const keys = windowKeys(new Date());
    for (const [tenantId, cost] of spent)
      await this.deps.ledger
        .settle(
          { id: `unheld-${randomUUID()}`, tenantId, dayKey: keys.day, monthKey: keys.month, amountMicros: 0 },
          cost,
        )
        .catch(() => undefined);
  }

  /** Record a finished call (meters, metrics, SLIs). */
  #record(
    tenantId: string,
    a: Attempt,
    requestId: string,
    started: number,
    r: {
      outcome: 'success' | 'error';
      code?: string;
      tokensIn: number;
      tokensOut: number;
      cost: number;
      stream: boolean;
    },
  ): void {
    this.deps.metering.record({
      tenantId,
      model: a.candidate.model.name,
      requestId,
      outcome: r.outcome,
      ...(r.code ? { code: r.code } : {}),
      latencyMs: Date.now() - started,
      tokensIn: r.tokensIn,
      tokensOut: r.tokensOut,
      costMicros: r.cost,
      fallback: a.candidate.fallback,
      stream: r.stream,
    });
  }

  /** Public for the stream: settle and record. */
  async finish(
    tenantId: string,
    a: Attempt,
    requestId: string,
    started: number,
    r: { outcome: 'success' | 'error'; code?: string; tokensIn: number; tokensOut: number; stream: boolean },
  ): Promise<void> {
    const cost = costMicros(a.candidate.model, r.tokensIn, r.tokensOut);
    await this.#settle(tenantId, a.reservation, cost);
    this.#record(tenantId, a, requestId, started, { ...r, cost });
  }

  /** Whether the tenant is downgraded now (this replica's view). */
  downgraded(tenantId: string): boolean {
    return this.#isDowngraded(tenantId);
  }
}
