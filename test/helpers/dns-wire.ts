// DNS records and messages as the decoder (src/core/dns/message.ts) gives them, built by hand
// for the tests of code that reads answers: a parent's referral, a resolver's reply.
import { canonicalNameWire, DsRecord } from "../../src/core/dns/ds";
import { WireRecord } from "../../src/core/dns/message";
import { RECORD_TYPES } from "../../src/core/dns/zonefile";
import { parseIPv6 } from "../../src/core/values/ip";

export const wireRecord = (owner: string, type: string, rdata: Buffer, ttl = 300): WireRecord => ({
  owner,
  type: RECORD_TYPES[type],
  class: 1,
  ttl,
  rdata,
  canonical: rdata,
});
export const nsRecord = (owner: string, target: string) => wireRecord(owner, "NS", canonicalNameWire(target));
export const aRecord = (owner: string, address: string) => wireRecord(owner, "A", Buffer.from(address.split(".").map(Number)));
export const aaaaRecord = (owner: string, address: string) =>
  wireRecord(owner, "AAAA", Buffer.from(parseIPv6(address).toString(16).padStart(32, "0"), "hex"));
export const dsRecord = (d: DsRecord) =>
  wireRecord(
    d.owner,
    "DS",
    Buffer.concat([Buffer.from([d.keyTag >> 8, d.keyTag & 255, d.algorithm, d.digestType]), Buffer.from(d.digest, "hex")]),
  );
