import { PolicyReplayError } from "../errors.js";

export type StoreErrorCode =
  /** The file's schema is newer than this build knows: written by a later policy-replay. */
  | "store_newer_schema"
  /** The file is older and cannot be upgraded here (opened read-only, file not writable). */
  | "store_needs_upgrade"
  /** Not a SQLite database, or a damaged one. */
  | "store_corrupt"
  /** A SQLite database, but not a policy-replay recording (no schema in it). */
  | "store_not_recording"
  /** Where a recording's runs file belongs (`<recording>.runs`) is a file that is not one. */
  | "store_not_runs_file"
  /** Opened for reading and the file does not exist. */
  | "store_missing"
  /** The file could not be created, opened or written at the operating-system level. */
  | "store_io"
  /** A write failed for that write alone (a constraint broken by the caller, ...). */
  | "store_write_failed"
  /** Another connection held the write lock for longer than the busy timeout. */
  | "store_busy"
  /** The disk, or the file's size limit, is full. */
  | "store_full"
  /** The file, its directory or its file system cannot be written by this process. */
  | "store_read_only"
  /** Used after close(). */
  | "store_closed"
  /** The redaction key file exists but does not hold a key. */
  | "store_key_invalid"
  /** The redaction key file is missing and the redactor was told not to create it. */
  | "store_key_missing";

/** A recording file that cannot be opened, read or written. Names the file in its message. */
export class StoreError extends PolicyReplayError {
  constructor(
    readonly code: StoreErrorCode,
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StoreError";
  }
}
