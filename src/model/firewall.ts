// Input rules the node's nftables policy opens; everything else on input is dropped.
export interface FirewallRule {
  description: string;
  protocol: "tcp" | "udp";
  port: number;
  /** "any": from anywhere; "mesh": only arriving over the WireGuard interface. */
  from: "any" | "mesh";
}

export function firewallRules(ports: { sshPort: number; listenPort: number }): FirewallRule[] {
  return [
    { description: "SSH", protocol: "tcp", port: ports.sshPort, from: "any" },
    { description: "WireGuard", protocol: "udp", port: ports.listenPort, from: "any" },
    { description: "DNS", protocol: "udp", port: 53, from: "any" },
    { description: "DNS over TCP", protocol: "tcp", port: 53, from: "any" },
    { description: "node exporter", protocol: "tcp", port: 9100, from: "mesh" },
  ];
}
