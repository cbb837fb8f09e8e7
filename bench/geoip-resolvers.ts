// Region decisions of the sample map on well-known resolver blocks, for comparing GeoIP databases.
// Run: node dist/bench/geoip-resolvers.js [file.mmdb] [map.yaml]   (default: the bundled DB, geodata/map.yaml)
import { join } from 'node:path';
import { loadMapFile } from '../src/config';
import { GeoClassifier, GeoDatabase, packedRegion, packedScope } from '../src/geo';
import { parseIp } from '../src/common/ip';

const RESOLVERS: [string, string][] = [
  ['114.114.114.114', '114DNS'], ['223.5.5.5', 'AliDNS (Hangzhou)'], ['180.76.76.76', 'Baidu'], ['119.29.29.29', 'DNSPod (Tencent)'],
  ['1.2.4.8', 'CNNIC sDNS'], ['202.96.128.86', 'Guangdong Telecom'], ['202.96.134.133', 'Shenzhen Telecom'], ['61.139.2.69', 'Sichuan Telecom'],
  ['218.30.118.6', 'DNSPai'], ['202.106.0.20', 'Beijing Unicom'], ['202.96.64.68', 'Liaoning Telecom'], ['221.5.88.88', 'Guangdong Mobile/Unicom'],
  ['210.21.196.6', 'Shenzhen Unicom'], ['61.128.128.68', 'Chongqing Telecom'], ['202.101.172.35', 'Zhejiang Telecom'], ['202.103.24.68', 'Hubei Telecom'],
  ['202.96.209.133', 'Shanghai Telecom'], ['218.2.2.2', 'Jiangsu Telecom'], ['202.102.128.68', 'Shandong Unicom'], ['113.108.0.1', 'Guangdong Telecom block'],
  ['8.8.8.8', 'Google'], ['1.1.1.1', 'Cloudflare'], ['9.9.9.9', 'Quad9'], ['208.67.222.222', 'OpenDNS'], ['168.95.1.1', 'HiNet (TW)'],
  ['203.80.96.10', 'HKBN (HK)'], ['2400:3200::1', 'AliDNS IPv6'], ['240e:4c:4008::1', 'China Telecom IPv6'], ['2001:4860:4860::8888', 'Google IPv6'],
];

// One MMDB, or an IPv4 and an IPv6 file joined by a comma (a split database such as DB-IP Lite).
const dbPath = process.argv[2]?.split(',') ?? GeoDatabase.defaultPaths();
const mapPath = process.argv[3] ?? join(__dirname, '../../geodata/map.yaml');
const db = GeoDatabase.open(dbPath);
const rules = loadMapFile(mapPath).rules;
const c = new GeoClassifier(db, rules);
console.log(`# ${db.description} (${dbPath}); map ${mapPath}`);
console.log('| address | who | country | subdivision | region | trie scope |');
console.log('|---|---|---|---|---|---|');
for (const [ip, who] of RESOLVERS) {
  const a = parseIp(ip);
  if (!a) throw new Error(`bad address ${ip}`);
  const r = c.classify(a);
  const p = c.locate(a);
  console.log(`| ${ip} | ${who} | ${r.match.country ?? '-'} | ${r.match.subdivision ?? '-'} | ${rules.regions[packedRegion(p)]} | /${packedScope(p)} |`);
}
