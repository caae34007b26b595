-- Notes: the example app's one table. Runs in the tenant's own schema (or database) as the
-- tenant's role, so it needs no schema prefix and the tenant owns what it creates.
create table notes (
  id bigserial primary key,
  title text not null,
  body text not null default '',
  created_at timestamptz not null default now()
);
