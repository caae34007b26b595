/**
 * The budget ledger's reserve and settle, each one function so a call is one round trip and
 * one transaction. Both lock the window rows they touch, in window-key order and before any
 * reservation row, so concurrent calls of a tenant queue on those locks and never deadlock:
 * a reservation row is only ever changed by the holder of both its windows' locks.
 * `security invoker`: they run with the caller's table grants (the runtime role's).
 * A settled reservation stays, marked, until it expires, so settling it again changes nothing.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table ai_budget_reservations add column settled_at timestamptz`.execute(db);
  await sql`
    create function ai_budget_reserve(
      p_tenant text, p_id text, p_day text, p_month text, p_day_limit bigint, p_month_limit bigint,
      p_amount bigint, p_now timestamptz, p_expires timestamptz)
    returns table (exhausted text, day_spent bigint, day_reserved bigint, month_spent bigint, month_reserved bigint)
    language plpgsql security invoker as $$
    declare
      v_keys text[];
      v_key text;
    begin
      insert into ai_budget_windows (tenant_id, window_key) values (p_tenant, p_day), (p_tenant, p_month)
        on conflict do nothing;
      -- This call's windows and those of the tenant's expired reservations, locked in key order.
      v_keys := array(
        select k from (
          select p_day as k union select p_month
          union select r.day_key from ai_budget_reservations r where r.tenant_id = p_tenant and r.expires_at <= p_now
          union select r.month_key from ai_budget_reservations r where r.tenant_id = p_tenant and r.expires_at <= p_now
        ) ks order by k);
      foreach v_key in array v_keys loop
        perform 1 from ai_budget_windows w where w.tenant_id = p_tenant and w.window_key = v_key for update;
      end loop;
      -- Sweep: only reservations whose windows this call holds (one made since expired waits for the next).
      with swept as (
        delete from ai_budget_reservations r
         where r.tenant_id = p_tenant and r.expires_at <= p_now
           and r.day_key = any(v_keys) and r.month_key = any(v_keys)
        returning r.day_key, r.month_key, case when r.settled_at is null then r.amount_micros else 0 end as held
      ), released as (
        select s.k, sum(s.held) as held
          from (select day_key as k, held from swept union all select month_key, held from swept) s
         group by s.k
      )
      update ai_budget_windows w
         set reserved_micros = greatest(w.reserved_micros - released.held, 0), updated_at = now()
        from released
       where w.tenant_id = p_tenant and w.window_key = released.k and released.held > 0;

      select w.spent_micros, w.reserved_micros into day_spent, day_reserved
        from ai_budget_windows w where w.tenant_id = p_tenant and w.window_key = p_day;
      select w.spent_micros, w.reserved_micros into month_spent, month_reserved
        from ai_budget_windows w where w.tenant_id = p_tenant and w.window_key = p_month;
      if p_day_limit is not null and day_spent + day_reserved + p_amount > p_day_limit then
        exhausted := 'day';
      elsif p_month_limit is not null and month_spent + month_reserved + p_amount > p_month_limit then
        exhausted := 'month';
      else
        update ai_budget_windows w
           set reserved_micros = w.reserved_micros + p_amount, updated_at = now()
         where w.tenant_id = p_tenant and w.window_key in (p_day, p_month);
        insert into ai_budget_reservations (id, tenant_id, day_key, month_key, amount_micros, created_at, expires_at)
          values (p_id, p_tenant, p_day, p_month, p_amount, p_now, p_expires);
        day_reserved := day_reserved + p_amount;
        month_reserved := month_reserved + p_amount;
      end if;
      return next;
    end
    $$`.execute(db);
  await sql`
    create function ai_budget_settle(p_tenant text, p_id text, p_day text, p_month text, p_actual bigint)
    returns void
    language plpgsql security invoker as $$
    declare
      v_key text;
      v_held bigint;
    begin
      insert into ai_budget_windows (tenant_id, window_key) values (p_tenant, p_day), (p_tenant, p_month)
        on conflict do nothing;
      foreach v_key in array array(select k from unnest(array[p_day, p_month]) k order by k) loop
        perform 1 from ai_budget_windows w where w.tenant_id = p_tenant and w.window_key = v_key for update;
      end loop;
      update ai_budget_reservations r set settled_at = now()
       where r.id = p_id and r.tenant_id = p_tenant and r.day_key = p_day and r.month_key = p_month
         and r.settled_at is null
      returning r.amount_micros into v_held;
      if not found then
        -- Settled before: nothing to do. Unknown (expired and swept): the call still spent.
        if exists (select 1 from ai_budget_reservations r
                    where r.id = p_id and r.tenant_id = p_tenant and r.day_key = p_day and r.month_key = p_month) then
          return;
        end if;
        v_held := 0;
      end if;
      update ai_budget_windows w
         set spent_micros = w.spent_micros + p_actual,
             reserved_micros = greatest(w.reserved_micros - v_held, 0),
             updated_at = now()
       where w.tenant_id = p_tenant and w.window_key in (p_day, p_month);
    end
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists ai_budget_settle(text, text, text, text, bigint)`.execute(db);
  await sql`
    drop function if exists ai_budget_reserve(text, text, text, text, bigint, bigint, bigint, timestamptz, timestamptz)`.execute(
    db,
  );
  await sql`alter table ai_budget_reservations drop column if exists settled_at`.execute(db);
}
