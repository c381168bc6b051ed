import type Database from "better-sqlite3";

// 6: where each call's counters lived and what they counted. sessions.counters says where the
// session's proxy kept them ('memory', 'recording' or 'redis'; NULL in older recordings);
// calls.counts holds, for a call that reached its rule's limits, each limit's count at decision
// time as JSON (the engine's LimitHit, one per limit); calls.counter_seq Redis's sequence
// number for the call, by which replay orders calls of several recordings in one millisecond.
export function migration006(db: Database.Database): void {
  db.exec(`
      ALTER TABLE sessions ADD COLUMN counters TEXT;
      ALTER TABLE calls ADD COLUMN counter_seq INTEGER;
      ALTER TABLE calls ADD COLUMN counts TEXT;
    `);
}
