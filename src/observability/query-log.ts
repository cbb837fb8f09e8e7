import type { QuerySampler, Query } from '../dns';
import type { Router } from '../routing';
import type { Logger } from './logger';
import { qtypeName, rcodeName } from './metrics';

const CLASS_IN = 1;
const QTYPE_ANY = 255;

/**
 * `--query-log-sample N`: one query in N logged as one info line (client,
 * name, type, rcode, ECS, region and datacenter answered). The region and
 * datacenter are worked out again here, from the router's public tables, only
 * for the sampled query: the query path itself pays one decrement per query.
 */
export function queryLogger(log: Logger, router: () => Router, every: number): QuerySampler {
  return {
    every,
    sample(q: Query, client: string, rcode: number): void {
      const rec: Record<string, unknown> = { client, name: q.qname, type: qtypeName(q.qtype) === 'other' ? q.qtype : qtypeName(q.qtype), rcode: rcodeName(rcode) };
      if (q.ecs) rec.ecs = `${ecsAddress(q.ecs.address, q.ecs.family)}/${q.ecs.sourcePrefix}`;
      const r = router();
      if (q.hasQuestion && q.qclass === CLASS_IN) {
        const node = r.tables.nodes.get(q.qname);
        const entry = node ? (q.qtype === QTYPE_ANY ? node.any : (node.types.get(q.qtype) ?? node.other)) : null;
        const region = r.locate(q, client) >> 8;
        rec.region = r.map.regions[region]?.name;
        if (entry?.dynamic) {
          const svc = entry.service;
          const c = entry.route.choice[region]; // the family the answer follows (AAAA may fall back to another DC)
          const d = c % (svc.ndc + 1);
          rec.service = svc.config.name;
          rec.dc = d < svc.ndc ? r.map.datacenters[d].name : 'all';
          rec.moved = c > svc.ndc;
        }
      }
      log.info(rec, 'query');
    },
  };
}

function ecsAddress(a: Uint8Array, family: number): string {
  if (family === 1) return [...a.subarray(0, 4)].join('.');
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((a[i] << 8) | a[i + 1]).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
