-- A crate page lists the crates that depend on it, matching dependency names the
-- way cargo does (case and `-`/`_` folded). The index on the plain name could not
-- serve that comparison, so every crate page read all dependencies of the
-- registry (62 ms at 10,000 crates; 2 ms with this index). Nothing else looks
-- dependencies up by name, so the plain index goes. Keep
-- migrations/postgres/0010_dependencies_by_canonical_name.sql in step.

DROP INDEX dependencies_crate_name;
CREATE INDEX dependencies_canonical_name ON dependencies (replace(lower(crate_name), '-', '_'));
