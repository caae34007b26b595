-- Tags on notes, and an index to find notes by tag.
alter table notes add column tags text[] not null default '{}';
create index notes_tags_idx on notes using gin (tags);
