// What a member gives its registrar for a zone: NS names, their glue, the DS records. Pure.
// (`boreal dns check` verifies what the nodes and the parent really serve: src/core/dns/check.ts.)
import type { PrimaryZone } from "./plan";
import { DsRecord, formatDs } from "../dns/ds";

export interface DelegationNameServer {
  /** Fully qualified. */
  name: string;
  node: string;
  /** Glue: needed at the registrar when the name lies inside the zone it serves. */
  glue: { type: "A" | "AAAA"; address: string }[];
}

export interface Delegation {
  zone: string;
  nameServers: DelegationNameServer[];
  /** SHA-256 DS records of the zone's key-signing keys. */
  ds: DsRecord[];
}

function fqdn(target: string, zone: string): string {
  return target.endsWith(".") ? target : `${target}.${zone}`;
}

/** The delegation of a zone of the node's plan, with the DS records of its KSKs (dsForZone, or `keymgr ZONE ds`). */
export function delegation(zone: PrimaryZone, ds: DsRecord[]): Delegation {
  return {
    zone: zone.name,
    nameServers: zone.nameServers.map((ns) => {
      const name = fqdn(ns.target, zone.name);
      // Glue only where the registrar needs it: the name server is inside the zone.
      const inZone = name === zone.name || name.endsWith(`.${zone.name}`);
      return { name, node: ns.node, glue: ns.glue && inZone ? [ns.glue] : [] };
    }),
    ds: ds.filter((d) => d.owner === zone.name && d.digestType === 2),
  };
}

/** The delegation as records, what the registrar's form asks for (and what a parent zone holds). */
export function delegationRecords(d: Delegation): string[] {
  return [
    ...d.nameServers.map((ns) => `${d.zone} NS ${ns.name}`),
    ...d.nameServers.flatMap((ns) => ns.glue.map((g) => `${ns.name} ${g.type} ${g.address}`)),
    ...d.ds.map(formatDs),
  ];
}
