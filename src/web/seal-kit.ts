// The kit as the seal's page runs it: src/core's own judgement of a bundle, bundled for the
// browser with ./buffer.ts and ./crypto-oracle.ts in place of Node's buffer and crypto
// (src/cli/seal-script.ts). The page makes a fresh instance of it per run (./settle.ts).
export { judgeSeal } from "../core/label/seal";
