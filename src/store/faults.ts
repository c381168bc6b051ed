import { StoreError, type StoreErrorCode } from "./errors.js";

// What a failed write says about the store. A fault of the store as a whole (locked, full,
// I/O, damaged) fails every write alike until it passes: the writer keeps its queue and
// reports itself unhealthy. Any other failure belongs to the one write that caused it.

/** Codes of faults that fail every write alike, not just the one that met them. */
const STORE_WIDE: ReadonlySet<StoreErrorCode> = new Set<StoreErrorCode>([
  "store_busy",
  "store_full",
  "store_io",
  "store_read_only",
  "store_corrupt",
]);

/** True when the fault is the store's as a whole: retrying the same write later may succeed. */
export function isStoreWide(err: StoreError): boolean {
  return STORE_WIDE.has(err.code);
}

/** SQLite's primary result code (SQLITE_IOERR for SQLITE_IOERR_WRITE), or null. */
function primaryCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return null;
  const second = code.indexOf("_", "SQLITE_".length);
  return second === -1 ? code : code.slice(0, second);
}

const BY_PRIMARY: Readonly<Record<string, { code: StoreErrorCode; what: string }>> = {
  SQLITE_BUSY: { code: "store_busy", what: "locked by another connection" },
  SQLITE_LOCKED: { code: "store_busy", what: "locked by another connection" },
  SQLITE_FULL: { code: "store_full", what: "the disk or the file's size limit is full" },
  SQLITE_READONLY: { code: "store_read_only", what: "cannot be written" },
  SQLITE_CORRUPT: { code: "store_corrupt", what: "the recording is damaged" },
  SQLITE_NOTADB: { code: "store_corrupt", what: "the recording is damaged" },
  SQLITE_IOERR: { code: "store_io", what: "I/O error" },
  SQLITE_CANTOPEN: { code: "store_io", what: "cannot open" },
  SQLITE_PROTOCOL: { code: "store_io", what: "file locking failed" },
  SQLITE_NOMEM: { code: "store_io", what: "out of memory" },
  SQLITE_NOLFS: { code: "store_io", what: "file too large for the file system" },
  SQLITE_PERM: { code: "store_read_only", what: "permission denied" },
};

/** A failed write as a StoreError naming the file, its code saying what kind of fault it is. */
export function classifyWriteError(file: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const known = BY_PRIMARY[primaryCode(err) ?? ""];
  if (known)
    return new StoreError(known.code, file, `${file}: ${known.what} (${text})`, { cause: err });
  return new StoreError("store_write_failed", file, `${file}: write failed: ${text}`, {
    cause: err,
  });
}
