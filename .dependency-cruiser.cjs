// The layout's rules, checked in CI (npm run check:layout). src/core is the pure core: no
// I/O and no Pulumi, so that it can be tested directly and bundled into the node's agent;
// the shells (program, agent, cli, lab, bench) do the I/O through src/io.
/** Node.js modules that reach outside the process: files, processes, the network, the host. */
const IO_MODULES = "^(node:)?(fs|fs/promises|child_process|net|dgram|http|https|http2|dns|dns/promises|tls|os|worker_threads|cluster|readline|process|v8|vm|inspector)$";

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "No import cycle anywhere in src/.", from: {}, to: { circular: true } },
    {
      name: "core-is-pure",
      severity: "error",
      comment: "src/core does no I/O: files, processes and the network are the shells' business (src/io).",
      from: { path: "^src/core/" },
      to: { path: IO_MODULES },
    },
    {
      name: "core-imports-no-shell",
      severity: "error",
      comment: "src/core imports only src/core and pure libraries (zod, yaml, handlebars, node:crypto).",
      from: { path: "^src/core/" },
      to: { pathNot: ["^src/core/", "^node_modules/(zod|yaml|handlebars)/", "^(node:)?(crypto|buffer)$"] },
    },
    {
      name: "values-at-the-bottom",
      severity: "error",
      comment: "Value primitives (addresses, ports, escaping, problems) import no concept.",
      from: { path: "^src/core/values/" },
      to: { path: "^src/core/(?!values/)" },
    },
    {
      name: "concepts-below-spec-and-node",
      severity: "error",
      comment: "Concepts (registry, mesh, dns, firewall, monitoring) do not reach up to the stack spec, the node's assembly, the label, policy or status.",
      from: { path: "^src/core/(registry|mesh|dns|firewall|monitoring)/" },
      to: { path: "^src/core/(spec|node|label|policy|status)/" },
    },
    {
      name: "spec-below-node",
      severity: "error",
      comment: "The stack spec is parsed once, then assembled by node/; it does not reach up.",
      from: { path: "^src/core/spec/" },
      to: { path: "^src/core/(node|label|policy|status)/" },
    },
    {
      name: "io-below-shells",
      severity: "error",
      comment: "src/io serves the shells and imports none of them.",
      from: { path: "^src/io/" },
      to: { path: "^src/(program|agent|cli|lab|bench|policy)/" },
    },
    {
      name: "agent-is-self-contained",
      severity: "error",
      comment: "The node's agent is bundled from agent/, core/ and io/ alone (src/agent/bundle.ts hashes those folders).",
      from: { path: "^src/agent/" },
      to: { path: "^src/(program|cli|lab|bench|policy)/" },
    },
    {
      name: "agent-no-pulumi",
      severity: "error",
      comment: "The agent runs on the node without Pulumi.",
      from: { path: "^src/(agent|io)/" },
      to: { path: "^node_modules/@pulumi/" },
    },
    {
      name: "web-is-the-core-in-a-browser",
      severity: "error",
      comment: "src/web is bundled into the seal's page: it takes only the pure core and its libraries, never Node's I/O or a shell.",
      from: { path: "^src/web/" },
      to: { pathNot: ["^src/(web|core)/", "^node_modules/(zod|yaml)/"] },
    },
    {
      name: "program-not-tooling",
      severity: "error",
      comment: "The Pulumi program does not depend on the CLI, the lab or the bench.",
      from: { path: "^src/(program|policy)/" },
      to: { path: "^src/(cli|lab|bench)/" },
    },
  ],
  options: {
    tsConfig: { fileName: "tsconfig.json" },
    // Type-only imports count: a cycle through types is still a cycle for a reader.
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
  },
};
