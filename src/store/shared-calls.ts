import type Database from "better-sqlite3";
import type { RecordedDecision } from "./types.js";

type Row = [
  number,
  string,
  string,
  string,
  number,
  RecordedDecision["decision"],
  RecordedDecision["shadow"],
];

/**
 * The decided calls other connections wrote into the file, read inside a write transaction for
 * counters shared by several proxies. SQLite's data_version changes only when another
 * connection commits, so a proxy that is the only writer never reads back what it knows.
 */
export class SharedCalls {
  /** The largest call id this connection has accounted for; -1 before the first look. */
  private seen = -1;
  private version = -1;
  private readonly dataVersion;
  private readonly sinceTs;
  private readonly sinceId;
  private readonly maxId;

  /**
   * `shadowPolicyHash`: also read each call's shadow decision, for the calls of sessions that
   * decided under that shadow policy (the others' shadows are another policy's counts).
   */
  constructor(
    db: Database.Database,
    private readonly shadowPolicyHash: string | null = null,
  ) {
    this.dataVersion = db.prepare("PRAGMA data_version").pluck();
    const columns =
      shadowPolicyHash === null
        ? "SELECT id, session, identity, tool, ts, decision, NULL FROM calls c"
        : `SELECT c.id, c.session, c.identity, c.tool, c.ts, c.decision,
             CASE WHEN s.shadow_policy_hash = @hash THEN c.shadow_decision END
           FROM calls c LEFT JOIN sessions s ON s.id = c.session`;
    this.sinceTs = db.prepare(`${columns} WHERE c.ts >= @since ORDER BY c.ts, c.id`).raw();
    this.sinceId = db.prepare(`${columns} WHERE c.id > @since ORDER BY c.id`).raw();
    this.maxId = db.prepare("SELECT coalesce(max(id), 0) FROM calls").pluck();
  }

  /** What others wrote since the last look (the first time: everything from `sinceTs` on). */
  others(sinceTs: number): RecordedDecision[] {
    const version = this.dataVersion.get() as number;
    if (this.seen >= 0 && version === this.version) return [];
    this.version = version;
    let rows: Row[];
    const hash = this.shadowPolicyHash === null ? {} : { hash: this.shadowPolicyHash };
    if (this.seen < 0) {
      rows = this.sinceTs.all({ since: sinceTs, ...hash }) as Row[];
      this.seen = this.maxId.get() as number;
    } else {
      rows = this.sinceId.all({ since: this.seen, ...hash }) as Row[];
      for (const r of rows) if (r[0] > this.seen) this.seen = r[0];
    }
    return rows.map(([id, session, identity, tool, ts, decision, shadow]) => ({
      id,
      session,
      identity,
      tool,
      ts,
      decision,
      shadow,
    }));
  }

  /** This connection committed call `id` (it needs no reading back). */
  wrote(id: number): void {
    if (id > this.seen) this.seen = id;
  }
}
