import type Database from "better-sqlite3";
import { INSERT_CALL_KEY, SELECT_CALL_KEY } from "./rows.js";
import type { BindValue, QueuedWrite } from "./write-queue.js";
import type { DecisionRecord } from "./types.js";

const json = (value: unknown): string | null =>
  value === undefined ? null : (JSON.stringify(value) ?? null);

/**
 * The calls rows of decisions, and the call_keys that number each row's (session, identity,
 * tool, outcome). Keys are remembered by this connection once numbered; a transaction that
 * numbered keys and then rolled back must call forget().
 */
export class DecisionRows {
  private readonly insertCall;
  private readonly insertKey;
  private readonly selectKey;
  /** call_keys ids this connection has written or looked up, by the key's JSON text. */
  private readonly keyIds = new Map<string, number>();
  /** Past this many keys the map starts again: a proxy may run for months. */
  private static readonly KEY_CACHE_LIMIT = 50_000;

  constructor(db: Database.Database) {
    this.insertCall = db.prepare<[BindValue[]]>(
      `INSERT INTO calls (session, seq, ts, identity, tool, arguments, jsonrpc_id, mode, decision,
         code, rule, reason, counter, limit_json, retry_after_ms, inexact, counts, counter_seq,
         shadow_decision, shadow_code, shadow_rule, shadow_reason, shadow_retry_after_ms,
         shadow_counts, call_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertKey = db.prepare<[BindValue[]]>(INSERT_CALL_KEY);
    this.selectKey = db.prepare<BindValue[], number>(SELECT_CALL_KEY).pluck();
  }

  /**
   * The calls row of a decision, and its key: `keyId` when this connection knows the key's
   * number already (the row is then complete), else the row's last value is left to fill.
   */
  write(d: DecisionRecord): {
    call: QueuedWrite;
    key: BindValue[];
    keyText: string;
    keyId: number | undefined;
  } {
    const dec = d.decision;
    const sh = d.shadow?.decision;
    const key: BindValue[] = [d.session, d.identity, d.tool, dec.decision, dec.code, dec.rule];
    const keyText = JSON.stringify(key);
    const keyId = this.keyIds.get(keyText);
    const call: QueuedWrite = {
      stmt: this.insertCall,
      params: [
        d.session,
        d.seq,
        d.ts,
        d.identity,
        d.tool,
        json(d.arguments),
        d.jsonrpcId,
        d.mode,
        dec.decision,
        dec.code,
        dec.rule,
        dec.reason,
        dec.limit?.counter ?? null,
        json(dec.limit ?? undefined),
        dec.retry_after_ms,
        dec.inexact ? 1 : 0,
        d.counts ? JSON.stringify(d.counts) : null,
        d.counterSeq ?? null,
        sh?.decision ?? null,
        sh?.code ?? null,
        sh?.rule ?? null,
        sh?.reason ?? null,
        sh?.retry_after_ms ?? null,
        d.shadow?.counts ? JSON.stringify(d.shadow.counts) : null,
        // Last: numberKey fills it in.
        keyId ?? null,
      ],
    };
    return { call, key, keyText, keyId };
  }

  /**
   * Inside an open transaction: number a key not seen yet (a session's first call of a tool
   * and outcome) into the row. Another process may have numbered it already, hence OR IGNORE
   * and a look.
   */
  numberKey(call: QueuedWrite, key: BindValue[], keyText: string): void {
    this.insertKey.run(key);
    const id = this.selectKey.get(...key);
    if (id === undefined) throw new Error("call_keys: the key just written is not there");
    call.params[call.params.length - 1] = id;
    if (this.keyIds.size >= DecisionRows.KEY_CACHE_LIMIT) this.keyIds.clear();
    this.keyIds.set(keyText, id);
  }

  /** Inside an open transaction: insert a decision's row, numbering its key; its id. */
  insert(d: DecisionRecord): number {
    const { call, key, keyText, keyId } = this.write(d);
    if (keyId === undefined) this.numberKey(call, key, keyText);
    return Number(call.stmt.run(call.params).lastInsertRowid);
  }

  /** Keys numbered in a transaction that rolled back are not in the file. */
  forget(): void {
    this.keyIds.clear();
  }
}
