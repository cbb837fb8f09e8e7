export {
  ALGORITHMS,
  dnskeyText,
  dsRecord,
  FLAGS_KSK,
  FLAGS_ZSK,
  generateKey,
  keyTag,
  KeyError,
  loadZoneKeys,
  publicKeyFingerprint,
  publicKeyOf,
  type Algorithm,
  type ZoneKey,
} from './keys';
export { nsecRdata, resignDelayMs, rrsig, signedData, TYPE_DNSKEY, TYPE_NSEC, TYPE_NXNAME, TYPE_RRSIG, validityAt, ZoneSigner, BACKDATE_SECONDS, VALIDITY_SECONDS, type SigningStats, type Validity } from './sign';
export { labelCount, nameWire } from './wire-name';
