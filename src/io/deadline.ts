// A probe's timeout that lets an answer already received be read first. Node's event loop runs
// expired timers before it polls the sockets: after the process was kept off the CPU (its own
// work, or a busy machine) past a probe's bound, the timer would fire before the answer that
// came in meanwhile is read, and the probe would time out with the answer in its socket.
// Here the timer only schedules the timeout after one poll of the sockets (setImmediate runs
// after it), so an answer that is there wins; one that is not there still times out.

/** Calls `expire` once `ms` have passed and the sockets were polled once more; `clear` cancels it. */
export function deadline(ms: number, expire: () => void): { clear: () => void } {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(expire);
  }, ms);
  return {
    clear: () => {
      clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    },
  };
}

/** What a probe that timed out says, the same words for every kind of probe. */
export const noAnswer = (ms: number): string => `no answer within ${ms / 1000} s`;

/** Whether a probe's result is a timeout (a result with `error` said by noAnswer). */
export const isNoAnswer = (result: object): boolean =>
  "error" in result && typeof result.error === "string" && result.error.startsWith("no answer within ");
