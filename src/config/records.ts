/**
 * The static record model shared by the zone-file parser, the map-file loader
 * and the routing tables. Names are fully qualified, lower case, without the
 * trailing dot; the root is ''. TXT strings are byte strings of at most 255
 * bytes each (longer text is split by whoever builds the record).
 */

export type RData =
  | { type: 'A'; address: string }
  | { type: 'AAAA'; address: string }
  | { type: 'CNAME'; target: string }
  | { type: 'NS'; target: string }
  | { type: 'PTR'; target: string }
  | { type: 'MX'; preference: number; exchange: string }
  | { type: 'TXT'; strings: Buffer[] }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { type: 'CAA'; flags: number; tag: string; value: string }
  | {
      type: 'SOA';
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

export type RecordType = RData['type'];

export const RECORD_TYPES: readonly RecordType[] = ['A', 'AAAA', 'CNAME', 'NS', 'PTR', 'MX', 'TXT', 'SRV', 'CAA', 'SOA'];

/** Wire type codes (RFC 1035, 3596, 2782, 8659). */
export const TYPE_CODE: Record<RecordType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  CAA: 257,
};

export interface ZoneRecord {
  name: string;
  ttl: number;
  rdata: RData;
  /** Where the record was declared, for error messages. */
  file: string;
  line: number;
}

/** One owner name's records, in file order: the record itself while it has one (most names of a big zone), else a list. */
export type OwnedRecords = ZoneRecord | ZoneRecord[];

/**
 * A zone's records grouped by owner name (checkZone makes it while checking; the table builder reuses it).
 * Valid for `records` as long as that array is the zone's and still `length` long.
 */
export interface ZoneGrouping {
  readonly records: readonly ZoneRecord[];
  readonly length: number;
  readonly byName: ReadonlyMap<string, OwnedRecords>;
}
