// The label checker's probe schedule (src/core/label/probes.ts) with probes of our own making,
// each answered when the test says, and a fake clock; and the probes' deadline
// (src/io/deadline.ts) against a real UDP socket while this process is kept off the event loop.
import { createSocket } from "node:dgram";
import { AddressInfo } from "node:net";
import { describe, expect, test } from "vitest";
import { ProbeSchedule } from "../../src/core/label/probes";
import { deadline, isNoAnswer, noAnswer } from "../../src/io/deadline";

type Answer = { ok: string } | { error: string };
const timeout: Answer = { error: noAnswer(1500) };

/** Probes answered by hand; records when each try starts and ends and how many are in flight then. */
class Bench {
  clock = 0;
  inFlight = 0;
  readonly events: string[] = [];
  private readonly pending = new Map<string, (a: Answer) => void>();
  readonly schedule = new ProbeSchedule(() => this.clock);

  /** A probe named `name`: each try waits for answer(name, …). */
  ask(name: string): () => Promise<Answer> {
    let tries = 0;
    return () => {
      const tryName = `${name}#${++tries}`;
      this.inFlight++;
      this.events.push(`start ${tryName} (${this.inFlight} in flight)`);
      return new Promise<Answer>((resolve) =>
        this.pending.set(tryName, (a) => {
          this.inFlight--;
          this.events.push(`end ${tryName}`);
          resolve(a);
        }),
      );
    };
  }

  async answer(tryName: string, a: Answer, afterMs = 0): Promise<void> {
    const settle = this.pending.get(tryName);
    if (!settle) throw new Error(`${tryName} is not waiting (waiting: ${[...this.pending.keys()].join(", ")})`);
    this.pending.delete(tryName);
    this.clock += afterMs;
    settle(a);
    await settled();
  }

  waiting(): string[] {
    return [...this.pending.keys()].sort();
  }

  probe(name: string): Promise<Answer> {
    return this.schedule.probe(this.ask(name), isNoAnswer, (second) =>
      "error" in second ? { error: `${second.error}, twice (once alone)` } : second,
    );
  }
}

/** Lets every promise that can settle do so. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("the probe schedule: a probe that timed out among others is asked again alone before it is judged", () => {
  test("a probe that answers is asked once, and nothing is asked again", async () => {
    const bench = new Bench();
    const a = bench.probe("a");
    await settled();
    await bench.answer("a#1", { ok: "a" }, 40);
    expect(await a).toEqual({ ok: "a" });
    expect(bench.schedule.retried).toEqual([]);
    expect(bench.events).toEqual(["start a#1 (1 in flight)", "end a#1"]);
  });

  test("the second try waits until every other probe's first try has ended, then runs with nothing else in flight", async () => {
    const bench = new Bench();
    const results = ["a", "b", "c"].map((name) => bench.probe(name));
    await settled();
    expect(bench.waiting()).toEqual(["a#1", "b#1", "c#1"]);
    await bench.answer("a#1", timeout, 1500);
    // b and c are still out: a is not asked again yet.
    expect(bench.waiting()).toEqual(["b#1", "c#1"]);
    await bench.answer("b#1", { ok: "b" });
    expect(bench.waiting()).toEqual(["c#1"]);
    await bench.answer("c#1", { ok: "c" });
    expect(bench.waiting()).toEqual(["a#2"]);
    await bench.answer("a#2", { ok: "a" }, 80);
    expect(await Promise.all(results)).toEqual([{ ok: "a" }, { ok: "b" }, { ok: "c" }]);
    expect(bench.events).toContain("start a#2 (1 in flight)");
    expect(bench.schedule.retried).toEqual([{ first: timeout, firstMs: 1500, second: { ok: "a" }, secondMs: 80 }]);
  });

  test("a peer that does not answer fails the second try too, which says so", async () => {
    const bench = new Bench();
    const a = bench.probe("a");
    await settled();
    await bench.answer("a#1", timeout, 1500);
    await bench.answer("a#2", timeout, 1500);
    expect(await a).toEqual({ error: "no answer within 1.5 s, twice (once alone)" });
    expect(bench.schedule.retried).toHaveLength(1);
  });

  test("second tries run one at a time, and a first try asked meanwhile waits until they are done", async () => {
    const bench = new Bench();
    const a = bench.probe("a");
    const b = bench.probe("b");
    await settled();
    await bench.answer("a#1", timeout);
    await bench.answer("b#1", timeout);
    expect(bench.waiting()).toEqual(["a#2"]);
    // The round goes on to another peer while a is being asked again: its probe waits.
    const c = bench.probe("c");
    await settled();
    expect(bench.waiting()).toEqual(["a#2"]);
    await bench.answer("a#2", { ok: "a" });
    expect(bench.waiting()).toEqual(["b#2"]);
    await bench.answer("b#2", timeout);
    expect(bench.waiting()).toEqual(["c#1"]);
    await bench.answer("c#1", { ok: "c" });
    expect(await Promise.all([a, b, c])).toEqual([{ ok: "a" }, { error: "no answer within 1.5 s, twice (once alone)" }, { ok: "c" }]);
    // Never two tries at once from the first second try on.
    const fromSecond = bench.events.slice(bench.events.indexOf("start a#2 (1 in flight)"));
    expect(fromSecond.filter((e) => e.startsWith("start")).every((e) => e.endsWith("(1 in flight)"))).toBe(true);
  });

  test("what a timeout cannot make fail is never asked again (a scan's connect), but a second try waits for it", async () => {
    const bench = new Bench();
    const scan = bench.schedule.probe(bench.ask("port"));
    const a = bench.probe("a");
    await settled();
    await bench.answer("a#1", timeout);
    expect(bench.waiting()).toEqual(["port#1"]);
    await bench.answer("port#1", timeout);
    expect(await scan).toEqual(timeout);
    expect(bench.waiting()).toEqual(["a#2"]);
    await bench.answer("a#2", { ok: "a" });
    expect(await a).toEqual({ ok: "a" });
    expect(bench.schedule.retried.map((r) => r.second)).toEqual([{ ok: "a" }]);
  });

  test("isNoAnswer: a timeout in the probes' words, nothing else", () => {
    expect(isNoAnswer({ error: noAnswer(1500) })).toBe(true);
    expect(isNoAnswer({ error: "connection refused at port 9100" })).toBe(false);
    expect(isNoAnswer({ message: "an answer" })).toBe(false);
  });
});

/** Keeps this process off the event loop for `ms`, as a busy checker is. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin
  }
}

/** A UDP answer sent to us, then the loop kept busy past the bound: which comes first, the answer or the timeout? */
async function answerDuringStall(timer: (ms: number, expire: () => void) => void): Promise<string> {
  const client = createSocket("udp4");
  const server = createSocket("udp4");
  await new Promise<void>((resolve) => client.bind(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
  try {
    return await new Promise<string>((resolve) => {
      let outcome: string | undefined;
      const done = (what: string) => (outcome ??= what) && resolve(outcome);
      client.on("message", () => done("answer"));
      // As in a checker busy with other work between two polls of its sockets: the answer is in
      // the client's socket a moment after the send, and the loop is busy for 100 ms.
      setImmediate(() => {
        timer(30, () => done("timeout"));
        server.send("answer", (client.address() as AddressInfo).port, "127.0.0.1");
        busy(100);
      });
    });
  } finally {
    client.close();
    server.close();
  }
}

describe("a probe's deadline lets an answer that came in while the checker was busy be read first", () => {
  test("a plain timer fires before the socket is read: the answer is lost to the timeout", async () => {
    expect(await answerDuringStall((ms, expire) => setTimeout(expire, ms))).toBe("timeout");
  });

  test("deadline reads the socket first: the answer wins", async () => {
    expect(await answerDuringStall((ms, expire) => deadline(ms, expire))).toBe("answer");
  });

  test("with nothing come in, deadline expires once; cleared, it never does", async () => {
    let expired = 0;
    deadline(10, () => expired++);
    const cleared = deadline(10, () => expired++);
    cleared.clear();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(expired).toBe(1);
  });
});
