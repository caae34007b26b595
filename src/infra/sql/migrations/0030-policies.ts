/**
 * Policies: tenants' Ed25519 keys that sign policies, immutable policy versions (history
 * kept; a trigger refuses UPDATE and DELETE), the head of each policy (its stable version
 * and any canary rollout in progress) and the recorded sample requests the sandbox runs.
 * Only a tenant's purge deletes versions (it names the tenant in `tenancy.purging_tenant`).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table policy_keys (
      tenant_id text not null references tenants(id),
      id text not null,
      public_key_pem text not null,
      jwk jsonb not null,
      description text,
      created_at timestamptz not null,
      created_by text not null,
      primary key (tenant_id, id)
    )`.execute(db);

  await sql`
    create table policy_versions (
      tenant_id text not null references tenants(id),
      name text not null,
      version integer not null,
      domain_id text not null,
      usecase_id text not null,
      semver text not null,
      body jsonb not null,
      digest text not null,
      key_id text not null,
      signature text not null,
      approval_status text not null,
      approval_ref text,
      source text,
      committed_at timestamptz not null,
      committed_by text not null,
      primary key (tenant_id, name, version)
    )`.execute(db);
  await sql`create index policy_versions_namespace_idx on policy_versions (domain_id, usecase_id, tenant_id)`.execute(
    db,
  );
  await sql`
    create function policy_versions_immutable() returns trigger language plpgsql as $$
    begin
      -- The tenant's purge (retention over) removes its versions, naming the tenant in its own transaction.
      if tg_op = 'DELETE' and old.tenant_id = nullif(current_setting('tenancy.purging_tenant', true), '') then
        return old;
      end if;
      raise exception 'policy versions are immutable: % is not allowed', tg_op using errcode = 'P0001';
    end $$`.execute(db);
  await sql`
    create trigger policy_versions_no_update_delete before update or delete on policy_versions
    for each row execute function policy_versions_immutable()`.execute(db);

  await sql`
    create table policy_heads (
      tenant_id text not null references tenants(id),
      name text not null,
      domain_id text not null,
      usecase_id text not null,
      latest_version integer not null,
      stable_version integer not null,
      canary_version integer,
      canary_by text check (canary_by in ('traffic', 'tenant')),
      canary_steps jsonb,
      canary_step integer,
      rollout_id text,
      rollout_started_at timestamptz,
      updated_at timestamptz not null,
      primary key (tenant_id, name)
    )`.execute(db);
  await sql`create index policy_heads_namespace_idx on policy_heads (domain_id, usecase_id, tenant_id)`.execute(db);

  await sql`
    create table policy_samples (
      tenant_id text not null references tenants(id),
      domain_id text not null,
      usecase_id text not null,
      name text not null,
      request jsonb not null,
      expect text check (expect in ('allow', 'deny')),
      created_at timestamptz not null,
      created_by text not null,
      primary key (tenant_id, domain_id, usecase_id, name)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['policy_samples', 'policy_heads', 'policy_versions', 'policy_keys'])
    await sql`drop table if exists ${sql.table(t)}`.execute(db);
  await sql`drop function if exists policy_versions_immutable cascade`.execute(db);
}
