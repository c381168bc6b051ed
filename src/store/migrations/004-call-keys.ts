import type Database from "better-sqlite3";

/**
 * Number the keys of every calls row that has none (call_key NULL), in order of first use:
 * what schema 4's upgrade does to an older file, and what a tool that inserts calls rows with
 * plain SQL (bench/tui.ts) runs afterwards, so that replay reads them by key.
 */
export const NUMBER_CALL_KEYS = `
  INSERT OR IGNORE INTO call_keys (session, identity, tool, decision, code, rule)
    SELECT session, identity, tool, decision, code, rule FROM calls WHERE call_key IS NULL
    GROUP BY session, identity, tool, decision, code, ifnull('=' || rule, '')
    ORDER BY min(id);
  UPDATE calls SET call_key = (
    SELECT k.id FROM call_keys k
    WHERE k.session = calls.session AND k.identity = calls.identity AND k.tool = calls.tool
      AND k.decision = calls.decision AND k.code = calls.code
      AND ifnull('=' || k.rule, '') = ifnull('=' || calls.rule, '')
  ) WHERE call_key IS NULL;`;

// 4: a call's repetitive fields (session, identity, tool and the recorded decision) numbered
// once in call_keys, each calls row pointing at its key: replay reads one integer a row
// instead of six strings to look up (about half of what reading a row cost). The text
// columns stay: every other reader, and anyone with sqlite3 at hand, reads them as before.
// The rule is NULL for a default decision; '=' || rule keeps it apart from a rule named ''.
export function migration004(db: Database.Database): void {
  db.exec(`
      CREATE TABLE call_keys (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        identity TEXT NOT NULL,
        tool TEXT NOT NULL,
        decision TEXT NOT NULL,
        code TEXT NOT NULL,
        rule TEXT
      );
      CREATE UNIQUE INDEX call_keys_by_value
        ON call_keys (session, identity, tool, decision, code, ifnull('=' || rule, ''));
      ALTER TABLE calls ADD COLUMN call_key INTEGER;
      ${NUMBER_CALL_KEYS}
      -- A row whose fields are edited by hand no longer matches its key: it loses the key, and
      -- replay reads it from its text columns (as it does a row inserted without one).
      CREATE TRIGGER calls_key_stale
        AFTER UPDATE OF session, identity, tool, decision, code, rule ON calls
        WHEN NEW.call_key IS NOT NULL
      BEGIN
        UPDATE calls SET call_key = NULL WHERE id = NEW.id;
      END;
    `);
}
