// The client-sync tests alone, in one process sharing one browser (as run-all.mjs runs every
// file): `WSS_ENGINE=firefox node --test --test-concurrency=1 tests/js/run-sync.mjs`.
// WSS_SYNC_STORAGES=memory (or redis) runs one storage of the server only.
import "./sync.test.mjs";
import "./sync-conflicts.test.mjs";
import "./sync-flush.test.mjs";
