-- Every change to an index file takes the next generation number, in commit order
-- (the single `index_state` row is locked until the change commits). A server
-- caching index files asks for changes newer than the last generation it saw, so
-- changes made by another process (`cargohold import`, another node) reach it.
CREATE TABLE index_state (
    id          INTEGER PRIMARY KEY,
    generation  BIGINT  NOT NULL
);
INSERT INTO index_state (id, generation) VALUES (1, 0);
ALTER TABLE index_files ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
CREATE INDEX index_files_generation ON index_files (generation);
