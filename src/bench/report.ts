// The bench's report: markdown, one table per section, so a later section (the lab rows,
// issue #13) adds its own rows and columns without changing the others. Pure.

export interface BenchSection {
  title: string;
  /** Lines of the section's "how to read", each a sentence. */
  howToRead: string[];
  header: string[];
  rows: string[][];
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  os: string;
}

export function markdownTable(header: string[], rows: string[][]): string {
  for (const row of rows) {
    if (row.length !== header.length) throw new Error(`a row has ${row.length} cells, the header ${header.length}: ${row.join(" | ")}`);
  }
  // A "|" inside a cell would end it.
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatBytes(bytes: number): string {
  // A heap delta after gc can come out slightly negative: nothing retained.
  if (bytes < 1024) return `${Math.max(0, Math.round(bytes))} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function formatMachine(machine: MachineFacts): string {
  return `${machine.cpus} cores (${machine.cpuModel}), ${formatBytes(machine.memoryBytes)} memory, Node.js ${machine.node}, ${machine.os}`;
}

/** The whole report: date, machine, then each section with its table and how to read it. */
export function formatReport(args: { date: string; machine: MachineFacts; sections: BenchSection[]; notes?: string[] }): string {
  const parts = [`# boreal-kit bench, ${args.date}`, "", `Machine: ${formatMachine(args.machine)}.`, ...(args.notes ?? []).map((n) => `\n${n}`)];
  for (const section of args.sections) {
    parts.push("", `## ${section.title}`, "", markdownTable(section.header, section.rows), "", "How to read:", ...section.howToRead.map((line) => `- ${line}`));
  }
  return `${parts.join("\n")}\n`;
}
