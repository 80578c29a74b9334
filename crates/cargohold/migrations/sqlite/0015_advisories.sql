-- RustSec advisories (`cargohold advisory import`), applied to the crates.io crates
-- proxies cache. Each import replaces every row in one transaction; the matching
-- of versions against `patched` and `unaffected` happens in cargohold, not here.
-- Keep migrations/postgres/0015_advisories.sql in step.

CREATE TABLE advisories (
    -- RUSTSEC-YYYY-NNNN.
    id              TEXT    PRIMARY KEY,
    -- The crates.io crate, as the advisory spells it, and its canonical form.
    package         TEXT    NOT NULL,
    canonical_name  TEXT    NOT NULL,
    -- YYYY-MM-DD, when the issue was reported.
    date            TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    url             TEXT,
    -- `unmaintained`, `unsound`, `notice`, …; NULL for a vulnerability.
    informational   TEXT,
    -- CVE and GHSA ids, separated by spaces.
    aliases         TEXT    NOT NULL,
    -- A CVSS vector, when the advisory has one.
    cvss            TEXT,
    -- Semver requirements, separated by `;`: versions matching none of them are affected.
    patched         TEXT    NOT NULL,
    unaffected      TEXT    NOT NULL
);
CREATE INDEX advisories_canonical_name ON advisories (canonical_name);

-- One row per import. `generation` is the index change number it took
-- (`index_state`): every node forgets the proxy index files it keeps in memory
-- when it sees it, so `advisories = "yank"` applies at once.
CREATE TABLE advisory_imports (
    id              INTEGER PRIMARY KEY,
    imported_at     BIGINT  NOT NULL,
    source          TEXT    NOT NULL,
    advisories      BIGINT  NOT NULL,
    generation      BIGINT  NOT NULL
);
CREATE INDEX advisory_imports_generation ON advisory_imports (generation);
