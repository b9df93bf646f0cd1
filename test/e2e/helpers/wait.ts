/** Waiting and time stamps the end-to-end tests share. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 100 ms until it holds; on timeout throws with `what` and the optional detail. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, detail: () => string | Promise<string> = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) {
      const d = await detail();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${d ? `\n${d}` : ''}`);
    }
    await sleep(100);
  }
}

let lastNs = 0n;
/** Strictly increasing kubelet-style timestamps (9 fractional digits) near now, so the store's order is the write order. */
export function nextTs(): string {
  let ns = BigInt(Date.now()) * 1_000_000n;
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}
