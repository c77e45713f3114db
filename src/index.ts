// The package's entry: what a member's project imports (`import { federationNode } from "boreal-kit"`).
export { federationNode } from "./program/federation-node";
