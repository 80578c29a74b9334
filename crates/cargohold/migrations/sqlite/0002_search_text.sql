-- Derived: what search matches against, lowercased by cargohold itself (SQLite's
-- lower() only knows ASCII): the name as written and in canonical form, the
-- description and the keywords. Rewritten with the crate's metadata.
ALTER TABLE crates ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE crates SET search_text = lower(name) || ' ' || canonical_name || ' '
                             || lower(coalesce(description, '')) || ' ' || lower(keywords);
