// What the lab bench asks the machines, and how it reads their answers. Pure: the shell
// lines (run over SSH by src/bench/lab.ts) and the parsers of their output.

/** One line a target: `ok ADDRESS` or `fail ADDRESS`, one ping each (1 s timeout), all at once. */
export function pingScript(targets: string[]): string {
  for (const t of targets) if (!/^[0-9a-f.:]+$/i.test(t)) throw new Error(`not an address: ${t}`);
  // Every target at once, so a round lasts one timeout however many are down.
  return `for a in ${targets.join(" ")}; do (if ping -c1 -W1 -q "$a" >/dev/null 2>&1; then echo "ok $a"; else echo "fail $a"; fi) & done; wait`;
}

/** What a script of ok/fail lines (pingScript, soaScript) answered ok. */
export function parseOk(output: string): Set<string> {
  return new Set(output.split("\n").map((l) => /^ok (\S+)$/.exec(l.trim())?.[1]).filter((a): a is string => a !== undefined));
}

/** A source and the addresses it must reach. */
export interface PingRow {
  from: string;
  targets: string[];
}

/** Every machine to every other over `addresses` (by machine name): a full mesh; or only the row of `from`. */
export function meshRows(addresses: Record<string, string>, from?: string): PingRow[] {
  const names = Object.keys(addresses);
  if (from !== undefined && !(from in addresses)) throw new Error(`${from} is not one of ${names.join(", ")}`);
  return names.filter((name) => from === undefined || name === from).map((name) => ({ from: name, targets: names.filter((to) => to !== name).map((to) => addresses[to]) }));
}

/** The pairs still missing, as "from→address", given what each source reached. */
export function missingPairs(rows: PingRow[], reached: Record<string, Set<string>>): string[] {
  return rows.flatMap((row) => row.targets.filter((t) => !reached[row.from]?.has(t)).map((t) => `${row.from}→${t}`));
}

/** The kit's services on a node, by executable, whose memory the bench sums. */
export const KIT_SERVICES = ["knotd", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter", "prometheus-node-exporter"] as const;

/** One line a running process of KIT_SERVICES: `NAME PID RSS_KB`. */
export function rssScript(): string {
  return `for n in ${KIT_SERVICES.join(" ")}; do for p in $(pidof -x "$n"); do echo "$n $p $(awk '/^VmRSS:/ {print $2}' /proc/$p/status)"; done; done`;
}

/** Resident memory per service (bytes; several processes of a service add up). */
export function parseRss(output: string): Record<string, number> {
  const rss: Record<string, number> = {};
  for (const line of output.split("\n")) {
    const match = /^(\S+) (\d+) (\d+)$/.exec(line.trim());
    if (match) rss[match[1]] = (rss[match[1]] ?? 0) + Number(match[3]) * 1024;
  }
  return rss;
}

/** One line a zone: `ok ZONE` when the node's own Knot answers its SOA authoritatively. */
export function soaScript(zones: string[]): string {
  for (const z of zones) if (!/^[a-z0-9.-]+$/i.test(z)) throw new Error(`not a zone name: ${z}`);
  return `for z in ${zones.join(" ")}; do if kdig @127.0.0.1 "$z" SOA +norec +timeout=2 +retry=0 | grep -q 'Flags: qr aa'; then echo "ok $z"; else echo "fail $z"; fi; done`;
}

/** What `pulumi up` changed, from the "Resources:" summary it prints ("" when nothing did). */
export function pulumiChanges(output: string): string {
  const summary = /Resources:\n((?:[ \t]+.*\n?)+)/.exec(output)?.[1] ?? "";
  return summary
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[+~-]?\s*\d+ (to )?(create|update|replace|delete|created|updated|replaced|deleted)/.test(l))
    .join(", ");
}
