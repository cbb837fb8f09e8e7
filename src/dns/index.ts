export type { PreparedAnswer, QueryResolver } from './answer';
export { DEFAULT_DNS_OPTIONS, parseListenAddress, type DnsOptions, type ListenAddress } from './options';
export { DnsServer, type BoundAddress } from './server';
export { DnsStats, DURATION_BUCKETS, QTYPE_SLOTS, type QuerySampler } from './stats';
export { CLASS_CH, CLASS_IN, ParseResult, parseQuery, Query, QTYPE_ANY, RCODE } from './wire';
export { buildResponse, MAX_UDP_PAYLOAD } from './respond';
export { RateLimiter, type RrlConfig, type RrlCounters } from './rrl';
