/**
 * An AbortController that the caller's signal also aborts, unlinked when the work is done. AbortSignal.any would do
 * the linking, but in Node 20 each signal it makes stays reachable from a long-lived source until the source is
 * itself collected: about 2 KiB per call even after a full collection, which a `get --recursive` of 20,000 files,
 * one download each under the command's own signal, turned into 60 MiB.
 */
export interface LinkedAbort {
  /** Aborted by `stop()` or by the caller's signal, with its reason. */
  readonly signal: AbortSignal;
  stop(reason?: unknown): void;
  /** Removes the listener on the caller's signal; call it when the work is over. */
  release(): void;
}

export function linkedAbort(outer: AbortSignal | undefined): LinkedAbort {
  const controller = new AbortController();
  const follow = () => controller.abort(outer?.reason);
  if (outer?.aborted === true) follow();
  else outer?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    stop: (reason) => controller.abort(reason),
    release: () => outer?.removeEventListener('abort', follow),
  };
}
