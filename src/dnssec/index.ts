export {
  ALGORITHMS,
  dnskeyText,
  dsRdata,
  dsRecord,
  FLAGS_KSK,
  FLAGS_ZSK,
  generateKey,
  keyState,
  keyTag,
  KeyError,
  loadZoneKeys,
  nextKeyEvent,
  publicKeyFingerprint,
  publicKeyOf,
  type Algorithm,
  type KeyState,
  type KeyTiming,
  type ZoneKey,
} from './keys';
export { keyEventDelayMs, nsecRdata, resignDelayMs, rrsig, signedData, TYPE_CDNSKEY, TYPE_CDS, TYPE_DNSKEY, TYPE_NSEC, TYPE_NXNAME, TYPE_RRSIG, validityAt, ZoneSigner, BACKDATE_SECONDS, VALIDITY_SECONDS, type SigningStats, type Validity } from './sign';
export { labelCount, nameWire } from './wire-name';
