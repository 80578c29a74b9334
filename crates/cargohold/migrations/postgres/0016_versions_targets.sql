-- What a version builds, read from its .crate at publish: whether it has a
-- library (`has_lib`) and the names of its binaries (`bin_names`, a JSON
-- array), so a crate page offers `cargo install` for a tool and `cargo add`
-- for a library, as crates.io does. Versions stored before this migration have
-- neither (NULL: not known), and their pages offer `cargo add` as before.
-- Keep migrations/sqlite/0016_versions_targets.sql in step.

ALTER TABLE versions ADD COLUMN has_lib BOOLEAN;
ALTER TABLE versions ADD COLUMN bin_names TEXT;
