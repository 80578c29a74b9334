-- The git index writer asks for one registry's files changed after a number, in
-- order, and for its latest number: without this index every question reads and
-- sorts all of the registry's files, so a commit costs more the more crates there
-- are. Keep migrations/sqlite/0008_index_files_by_registry.sql in step.

CREATE INDEX index_files_registry_generation ON index_files (registry_id, generation);
