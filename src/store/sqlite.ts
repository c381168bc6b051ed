// The store's public face: what the rest of policy-replay (and bench/, scripts/, the tests)
// imports to open, write and read recordings. The store's modules under src/store/ are the
// only code that speaks SQL to a recording; the schema is theirs (migrations/), and so is
// every query: the proxy's writes (writer.ts), replay's reads (reader.ts, stream.ts and its
// reader thread), saved runs (runs.ts), the terminal UI's (browse.ts).

export { guard, connect, recordingVersion } from "./connection.js";
export { StoreError, type StoreErrorCode } from "./errors.js";
export { type CallImport, startImport } from "./import-thread.js";
export { NUMBER_CALL_KEYS, SCHEMA_VERSION } from "./migrations/index.js";
export {
  openStore,
  openStoreReadOnly,
  type OpenStoreOptions,
  type ReadOpenOptions,
} from "./open.js";
export type {
  RecordedCall,
  RecordingStore,
  StoredMessage,
  StoredRun,
  StoredSession,
  StoreReader,
  ToolListing,
} from "./types.js";
