/*
 * sleep/wakeup on a channel, as in the kernel: a waiter sleeps on any object
 * (the channel) and every sleeper on it is released by wakeup(chan).
 * Code between two awaits runs alone, so "test, then tsleep" needs no lock,
 * as long as nothing awaits in between. A woken sleeper must re-check its
 * condition: it may have changed again before the sleeper runs.
 */

interface Sleeper {
  resolve: () => void;
  wmesg: string;
}

const sleepers = new Map<object, Sleeper[]>();

/** Sleeps on chan until wakeup(chan). `wmesg` names the wait (see sleeping()). */
export function tsleep(chan: object, wmesg: string): Promise<void> {
  return new Promise<void>((resolve) => {
    let q = sleepers.get(chan);
    if (q === undefined) {
      q = [];
      sleepers.set(chan, q);
    }
    q.push({ resolve, wmesg });
  });
}

/** Wakes every sleeper on chan; harmless when nobody sleeps. */
export function wakeup(chan: object): void {
  const q = sleepers.get(chan);
  if (q === undefined) return;
  sleepers.delete(chan);
  for (const s of q) s.resolve();
}

/**
 * Every sleep in progress, as [wmesg, channel] pairs: what a hung program is
 * waiting for (cf. the wait channel column of ps -l).
 */
export function sleeping(): Array<[string, object]> {
  const out: Array<[string, object]> = [];
  for (const [chan, q] of sleepers) for (const s of q) out.push([s.wmesg, chan]);
  return out;
}

/** How many sleep on chan (tests and invariant checks). */
export function sleepersOn(chan: object): number {
  return sleepers.get(chan)?.length ?? 0;
}
