// What a member gives its registrar for a zone: NS names, their glue, the DS records. Pure.
// (`boreal dns check` verifies what the nodes and the parent really serve: src/dns/check.ts.)
import { DsRecord, dsForZone, formatDs, parseDnskeys } from "./ds";

export interface DelegationNameServer {
  /** Fully qualified. */
  name: string;
  /** The kit's node behind it, when the name says so (ns-<node>.<zone>). */
  node?: string;
  /** Glue: needed at the registrar when the name lies inside the zone it serves. */
  glue: { type: "A" | "AAAA"; address: string }[];
}

export interface Delegation {
  zone: string;
  nameServers: DelegationNameServer[];
  /** SHA-256 DS records of the zone's key-signing keys. */
  ds: DsRecord[];
}

/**
 * The delegation of a zone as its primary serves it (servedDelegationScript's lines): the
 * apex NS set (every node the agent knows, which may be more than the member's registry
 * clone knew), the addresses of the names inside the zone, and the SHA-256 DS of its KSKs.
 */
export function servedDelegation(zone: string, served: string): Delegation {
  const records = served.split("\n").map((line) => line.trim().split(/\s+/)).filter((fields) => fields.length >= 3);
  const data = (owner: string, type: string) => records.filter(([o, t]) => o === owner && t === type).map((fields) => fields.slice(2).join(" "));
  const nameServers = data(zone, "NS")
    .sort()
    .map((name) => {
      // Glue only where the registrar needs it: the name server is inside the zone.
      const inZone = name === zone || name.endsWith(`.${zone}`);
      const glue = inZone ? (["A", "AAAA"] as const).flatMap((type) => data(name, type).map((address) => ({ type, address }))) : [];
      const node = /^ns-([^.]+)\./.exec(name)?.[1];
      return { name, ...(node && inZone ? { node } : {}), glue };
    });
  return { zone, nameServers, ds: dsForZone(parseDnskeys(served), zone).filter((d) => d.digestType === 2) };
}

/** The delegation as records, what the registrar's form asks for (and what a parent zone holds). */
export function delegationRecords(d: Delegation): string[] {
  return [
    ...d.nameServers.map((ns) => `${d.zone} NS ${ns.name}`),
    ...d.nameServers.flatMap((ns) => ns.glue.map((g) => `${ns.name} ${g.type} ${g.address}`)),
    ...d.ds.map(formatDs),
  ];
}
