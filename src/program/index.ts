// The kit's own entry (Pulumi.yaml's main, the kit's checkout as a project): the same function
// a member's project calls from its index.ts (src/index.ts, docs/tutorial/join-a-federation.md).
import { federationNode } from "./federation-node";

export = federationNode();
