/**
 * One HTTP exchange of a credential source (STS, the container endpoint,
 * IMDS): a small request, a bounded text reply, a deadline. Its failures are
 * reasons for CredentialsError, so they say what happened without the
 * request's headers (which carry tokens) or the reply's body (credentials).
 */
import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import { S3v4Error } from './errors.js';
import { Agent, dispatch } from './undici.js';

/** A reply's status, headers and body as text. */
export interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface FetchRequest {
  method: 'GET' | 'PUT' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** The whole exchange's deadline, milliseconds. */
  timeoutMs: number;
  /** What messages call the other end: `STS AssumeRole of <role> at <endpoint>`, `http://169.254.169.254`. */
  what: string;
}

/** A credential reply is a few KiB; anything past this is not one. */
const MAX_REPLY_BYTES = 64 * 1024;

/**
 * Why a credential source gave nothing, for a CredentialsError's reasons: `no answer from http://169.254.169.254
 * within 1 s`, `no connection to ... (ECONNREFUSED)`, what a reply lacked.
 */
export class FetchFailure extends S3v4Error {
  constructor(reason: string) {
    super('ERR_S3V4_CREDENTIAL_FETCH', reason);
  }
}

/** The sockets of credential requests: never the client's dispatcher, whose proxy must not see IMDS. */
export function credentialAgent(): UndiciAgent {
  return new Agent({ keepAliveTimeout: 1000, connections: 4 });
}

/** Sends one request and reads its reply as text; a timeout or network error throws FetchFailure. */
export async function fetchText(dispatcher: Dispatcher, request: FetchRequest): Promise<Fetched> {
  const url = new URL(request.url);
  const signal = AbortSignal.timeout(request.timeoutMs);
  try {
    const reply = await dispatch(dispatcher, {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers: request.headers ?? {},
      body: request.body ?? null,
      signal,
    });
    let text = '';
    for await (const chunk of reply.body) {
      text += String(chunk);
      if (text.length > MAX_REPLY_BYTES) {
        reply.body.destroy();
        throw new FetchFailure(`${request.what} sent a reply over ${MAX_REPLY_BYTES / 1024} KiB`);
      }
    }
    return { status: reply.statusCode, headers: reply.headers, text };
  } catch (error) {
    if (error instanceof FetchFailure) throw error;
    if (signal.aborted) throw new FetchFailure(`no answer from ${request.what} within ${seconds(request.timeoutMs)}`);
    const code = (error as { code?: string }).code;
    throw new FetchFailure(`no connection to ${request.what} (${code ?? (error as Error).message})`);
  }
}

/** `1 s`, `0.5 s`. */
export function seconds(ms: number): string {
  return `${ms / 1000} s`;
}
