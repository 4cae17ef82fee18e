/** Every codec's properties by name: what the unit tests run briefly and `npm run fuzz -- codecs` runs at length. */
import type { NamedProperty } from './shared.ts';
import { metaFlagProperties, textReplyProperties, textRequestProperties, udpFrameProperties } from './text-properties.ts';
import { advertProperties, binaryProperties, configProperties, controlProperties, replicationProperties } from './wire-properties.ts';
import { witnessProperties } from './witness-properties.ts';

export const CODECS: Readonly<Record<string, NamedProperty[]>> = {
  'text requests': textRequestProperties,
  'text replies': textReplyProperties,
  'meta flags': metaFlagProperties,
  'binary': binaryProperties,
  'udp frame': udpFrameProperties,
  'advert': advertProperties,
  'replication': replicationProperties,
  'control protocol': controlProperties,
  'config': configProperties,
  'witness': witnessProperties,
};
