-- Where in its repository a version was packaged from (`path_in_vcs` of the
-- `.cargo_vcs_info.json` cargo puts in a .crate made from git): a crate page
-- points the relative links and images of a README at the repository with it.
-- Versions published before this migration have none; their links point at the
-- repository's root. Keep migrations/sqlite/0011_versions_path_in_vcs.sql in step.

ALTER TABLE versions ADD COLUMN path_in_vcs TEXT;
