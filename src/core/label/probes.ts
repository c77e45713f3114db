// When a checking node's probes of its peers run, so that a probe's verdict is the peer's and
// not the checker's own load. Pure: the probes are handed in (../../agent/observe.ts asks the
// network), this only orders them.
//
// A probe waits a fixed time for its answer (the scrape and every DNS question 1.5 s, a TCP
// connect 1 s), on a clock that runs whether or not the checker gets the CPU to read what
// came back. Beside a port scan of hundreds of sockets and another peer's DNS questions, a
// slow or busy checker reads an answer after its timer has fired: on the lab's emulated VMs
// every scrape made beside the scan timed out at 1.5 s while the exporter answered it in 65 to
// 650 ms. So a probe that times out among the round's others is not judged on that: once
// every probe of that first pass has ended, it is asked again, alone (one at a time, nothing
// else of the round in flight), with the same bound, and judged on what that second try gives.
// A peer that really does not answer fails the second try as it did the first; one that did
// answer is read in time. The first pass waits while second tries run, so they stay alone.
//
// Not asked again: what a timeout cannot make fail (a port scan's connect that does not
// complete is "filtered", as a firewall's drop is; nearly every port of a kit node is), which
// stays one pass.

/** One probe: asks once, never throws (a failure is its result). */
export type Ask<T> = () => Promise<T>;

/** A probe asked again alone: both answers, and how long each took. */
export interface SecondTry<T> {
  first: T;
  firstMs: number;
  second: T;
  secondMs: number;
}

export class ProbeSchedule {
  private inFlight = 0;
  private readonly again: (() => Promise<void>)[] = [];
  private secondTries = false;
  private readonly held: (() => void)[] = [];
  /** Every probe asked again, in the order asked: for the round's log. */
  readonly retried: SecondTry<unknown>[] = [];

  /** `now`: a monotonic clock in ms (the agent's performance.now; tests give their own). */
  constructor(private readonly now: () => number) {}

  /**
   * One probe among the round's others. When `timedOut` says its answer is a timeout, the
   * probe is asked again alone once the first pass is idle, and that answer is the result
   * (as `secondSays` words it: a second timeout can say it was one).
   */
  async probe<T>(ask: Ask<T>, timedOut?: (result: T) => boolean, secondSays: (second: T, first: T) => T = (second) => second): Promise<T> {
    // A first try never starts while second tries run: they must stay alone.
    while (this.secondTries || this.again.length > 0) await new Promise<void>((resolve) => this.held.push(resolve));
    this.inFlight++;
    const started = this.now();
    let first: T;
    try {
      first = await ask();
    } catch (error) {
      this.inFlight--;
      this.next();
      throw error;
    }
    this.inFlight--;
    const firstMs = this.now() - started;
    if (!timedOut?.(first)) {
      this.next();
      return first;
    }
    return new Promise<T>((resolve, reject) => {
      this.again.push(async () => {
        const at = this.now();
        try {
          const second = await ask();
          this.retried.push({ first, firstMs, second, secondMs: this.now() - at });
          resolve(secondSays(second, first));
        } catch (error) {
          reject(error);
        }
      });
      this.next();
    });
  }

  /** Second tries once nothing of the first pass is in flight, one at a time; then the held first tries go on. */
  private next(): void {
    if (this.secondTries || this.inFlight > 0 || this.again.length === 0) return;
    this.secondTries = true;
    void (async () => {
      for (let one = this.again.shift(); one; one = this.again.shift()) await one();
      this.secondTries = false;
      for (const release of this.held.splice(0)) release();
    })();
  }
}
