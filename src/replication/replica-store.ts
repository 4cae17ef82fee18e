import type { Replica } from '../cache/replica.ts';

/** The store as replication reads and writes it: its change stream and its replica face (cache/replica.ts). */
export type ReplicaStore = Pick<
  Replica,
  'changes' | 'peek' | 'itemStillAtFrom' | 'layoutVersion' | 'itemFlags' | 'itemVersion' | 'itemVersionHigh' | 'itemVersionLow' | 'itemTtl' | 'itemKeyLength' | 'itemValueLength' | 'copyKeyAndValue' | 'itemKey' | 'applyRemote' | 'applyRemoteFrom' | 'applyRemoteDelete' | 'applyRemoteTouch' | 'flushOlderThan' | 'scan' | 'itemCount'
>;
