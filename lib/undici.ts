/**
 * The parts of undici the client uses, loaded alone: the pool (Agent), the
 * request API and one error class. undici's index loads every API it has
 * (fetch, WebSocket, EventSource, caches, mocks, interceptors), which cost
 * about 60 ms and 8 MiB of a 93 ms, 59 MiB import here (issue 14); the
 * parts alone load in about 35 ms. They are undici's own modules, found by
 * path (undici has no `exports` map); should a release move them, the index
 * stands in, whole.
 */
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

/** Dispatcher.request, called on any dispatcher. */
type RequestApi = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export interface UndiciParts {
  Agent: typeof UndiciAgent;
  request: RequestApi;
  BodyTimeoutError: new () => Error;
}

/** The parts, by path; undici's index when a path is missing. `load` is `require`, or a spec's stand-in. */
export function loadParts(load: (id: string) => unknown): UndiciParts {
  try {
    return {
      Agent: load('undici/lib/dispatcher/agent.js') as typeof UndiciAgent,
      request: load('undici/lib/api/api-request.js') as RequestApi,
      BodyTimeoutError: (load('undici/lib/core/errors.js') as { BodyTimeoutError: new () => Error }).BodyTimeoutError,
    };
  } catch {
    const undici = load('undici') as typeof import('undici');
    return {
      Agent: undici.Agent,
      request: undici.Dispatcher.prototype.request as RequestApi,
      BodyTimeoutError: undici.errors.BodyTimeoutError,
    };
  }
}

const parts = loadParts(createRequire(import.meta.url));

export const { Agent, BodyTimeoutError } = parts;

/**
 * Sends a request through `dispatcher`: the client's own Agent (whose prototype has no `request` when loaded alone)
 * or the caller's.
 */
export function dispatch(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return parts.request.call(dispatcher, options);
}
