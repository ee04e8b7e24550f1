/**
 * Faults around the real server. A proxy on 127.0.0.1 forwards every request
 * to the RADOS Gateway unchanged (Host header included, so signatures still
 * verify) and records what it saw on the wire; per request it can instead
 * answer an S3 error or any canned reply, reset the connection, stall before
 * the reply or inside its body, or flip one byte of the request body on its
 * way to the server. Retries are then proven against the real server, with
 * the attempts counted where they arrive.
 *
 * Also a TLS terminator (a certificate for 127.0.0.1 made for these tests),
 * so the client's https paths meet the same server.
 */
import {
  Agent,
  createServer,
  request as forward,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

export type Fault =
  /** Answers without forwarding: an S3 error document for `code`, or `body` as given; with `stallBody`, never the body's end. The request body is read first. */
  | {
      kind: 'reply';
      status: number;
      code?: string;
      body?: string;
      headers?: Record<string, string>;
      stallBody?: boolean;
    }
  /** Sends a TCP reset as soon as the request's headers arrive. */
  | { kind: 'reset' }
  /** Never answers (until the proxy closes). */
  | { kind: 'stall' }
  /** Forwards, sends the reply's headers, then never sends its body. */
  | { kind: 'stall-body' }
  /** Forwards with the body byte at `at` (default: the middle one) inverted. */
  | { kind: 'flip'; at?: number }
  /** Forwards after `ms` milliseconds. */
  | { kind: 'delay'; ms: number }
  /** Reads `after` bytes of the request's body, then sends a TCP reset: an upload cut in the middle. */
  | { kind: 'reset-request'; after: number }
  /** Forwards, sends the reply's headers and `after` bytes of its body, then a TCP reset: a download cut in the middle. */
  | { kind: 'reset-response'; after: number }
  /** Forwards, sends the reply's headers and `after` bytes of its body, then closes the connection cleanly: fewer bytes than Content-Length. */
  | { kind: 'truncate'; after: number }
  /** Forwards, with the reply's Date header moved by `ms` milliseconds. */
  | { kind: 'date'; ms: number };

/** A request as it arrived at the proxy. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The fault it met, if any. */
  fault: Fault['kind'] | undefined;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** Every request, in arrival order. */
  seen: Seen[];
  /** The most requests in flight at once since the last reset(). */
  maxInFlight: number;
  /** Called as each request arrives, before its fault (cleared by reset()). */
  onRequest: ((seen: Seen) => void) | undefined;
  /** Applies `fault` to the next `times` requests (default 1) for which `match` holds (default: all). */
  inject(fault: Fault, options?: { times?: number; match?: (method: string, url: string) => boolean }): void;
  /** Forgets injected faults, seen requests, maxInFlight and maxConnections. */
  reset(): void;
  /** Client connections open now. */
  openConnections(): number;
  /** The most client connections opened since the last reset() that were open at once. */
  maxConnections: number;
  close(): Promise<void>;
}

interface Rule {
  fault: Fault;
  left: number;
  match: (method: string, url: string) => boolean;
}

/** An S3 error document, as S3 writes one. */
export function errorXml(code: string, message = 'injected by the fault proxy', extra = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${extra}<RequestId>fault-proxy</RequestId><HostId>fault-host</HostId></Error>`;
}

/**
 * `upstreamKeepAlive: false` closes each connection to the server after its
 * reply, so a test can count the sockets its client leaves behind.
 */
export async function startFaultProxy(
  upstreamPort: number,
  options: { upstreamKeepAlive?: boolean } = {},
): Promise<FaultProxy> {
  const upstream = new Agent({ keepAlive: options.upstreamKeepAlive ?? true });
  const sockets = new Set<Socket>();
  /** Connections opened since the last reset(), while open. */
  let fresh = new Set<Socket>();
  let rules: Rule[] = [];
  let inFlight = 0;
  const proxy: FaultProxy = {
    endpoint: '',
    seen: [],
    maxInFlight: 0,
    maxConnections: 0,
    onRequest: undefined,
    inject(fault, options = {}) {
      rules.push({ fault, left: options.times ?? 1, match: options.match ?? (() => true) });
    },
    reset() {
      rules = [];
      proxy.seen = [];
      proxy.maxInFlight = 0;
      proxy.maxConnections = 0;
      fresh = new Set();
      proxy.onRequest = undefined;
    },
    openConnections: () => sockets.size,
    close: async () => {
      server.closeAllConnections();
      upstream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const take = (method: string, url: string): Fault | undefined => {
    const rule = rules.find((r) => r.left > 0 && r.match(method, url));
    if (rule === undefined) return undefined;
    rule.left--;
    return rule.fault;
  };

  const pass = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined) => {
    const out = forward(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.rawHeaders,
        agent: upstream,
      },
      (reply) => {
        const headers = [...reply.rawHeaders];
        if (fault?.kind === 'date') {
          for (let i = 0; i < headers.length; i += 2) {
            if (headers[i]!.toLowerCase() === 'date')
              headers[i + 1] = new Date(Date.parse(headers[i + 1]!) + fault.ms).toUTCString();
          }
        }
        res.writeHead(reply.statusCode!, headers);
        if (fault?.kind === 'stall-body') {
          res.flushHeaders();
          reply.resume();
          return;
        }
        if (fault?.kind === 'reset-response' || fault?.kind === 'truncate') {
          cut(reply, res, fault.after, fault.kind === 'reset-response');
          return;
        }
        reply.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    if (fault?.kind !== 'flip') {
      req.pipe(out);
      return;
    }
    const at = fault.at ?? Math.floor(Number(req.headers['content-length'] ?? 0) / 2);
    let offset = 0;
    req.on('data', (chunk: Buffer) => {
      if (at >= offset && at < offset + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[at - offset] = chunk[at - offset]! ^ 0xff;
      }
      offset += chunk.length;
      out.write(chunk);
    });
    req.on('end', () => out.end());
  };

  const server = createServer((req, res) => {
    const method = req.method!;
    const url = req.url!;
    const fault = take(method, url);
    const seen: Seen = { method, url, headers: req.headers, fault: fault?.kind };
    proxy.seen.push(seen);
    proxy.onRequest?.(seen);
    proxy.maxInFlight = Math.max(proxy.maxInFlight, ++inFlight);
    res.once('close', () => inFlight--);
    switch (fault?.kind) {
      case 'reply': {
        const body = fault.body ?? errorXml(fault.code ?? 'InternalError');
        req.resume();
        req.once('end', () => {
          res.writeHead(fault.status, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(body),
            date: new Date().toUTCString(),
            ...fault.headers,
          });
          if (fault.stallBody === true) res.write(body.slice(0, 10));
          else res.end(method === 'HEAD' ? undefined : body);
        });
        return;
      }
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'stall':
        req.resume();
        return;
      case 'delay':
        setTimeout(() => pass(req, res, fault), fault.ms);
        return;
      case 'reset-request': {
        let received = 0;
        req.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= fault.after) req.socket.resetAndDestroy();
        });
        return;
      }
      default:
        pass(req, res, fault);
    }
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    fresh.add(socket);
    proxy.maxConnections = Math.max(proxy.maxConnections, fresh.size);
    const counted = fresh;
    socket.once('close', () => {
      sockets.delete(socket);
      counted.delete(socket);
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  proxy.endpoint = `http://127.0.0.1:${port}`;
  return proxy;
}

/** Sends the first `after` bytes of `reply`'s body, then resets the connection or closes it cleanly. */
function cut(reply: IncomingMessage, res: ServerResponse, after: number, reset: boolean): void {
  let sent = 0;
  const stop = () => {
    reply.destroy();
    if (reset) res.socket?.resetAndDestroy();
    else res.socket?.end();
  };
  if (after === 0) {
    res.flushHeaders();
    setImmediate(stop);
    return;
  }
  reply.on('data', (chunk: Buffer) => {
    if (sent >= after) return;
    const part = chunk.subarray(0, after - sent);
    sent += part.length;
    res.write(part);
    if (sent >= after) stop();
  });
}

/** A certificate and key for 127.0.0.1 (P-256, valid to 2126), made for these tests only. */
export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUDHMfTc/AVlXc0QR7NS/OZ6OOOXcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNTIzMTgxM1oYDzIxMjYxMTAx
MjMxODEzWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARvfcrI9U8vBFUHDNlGrNGh1hS8132wSP/l6ZZDApdj8d07iJ/n6G+r
YC4KUMwM7e7Xsmi/X5hUhT6j+Qmcw/xmo2QwYjAdBgNVHQ4EFgQU91FQUFzlZtJD
X/FDKhN2MKXD9vQwHwYDVR0jBBgwFoAU91FQUFzlZtJDX/FDKhN2MKXD9vQwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQDH9k4U89aKyaZu5TxpNUBNpR/ZqC7ojmNJzYt/ZvW8mgIhAKhaMu6FHeDZo/do
/HibQTsjgHbl028T1gXaOE/i8H4O
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJmTWkFE5fpUBsFXR
Oief6Ray5ieRFLJzGByBujeYhXOhRANCAARvfcrI9U8vBFUHDNlGrNGh1hS8132w
SP/l6ZZDApdj8d07iJ/n6G+rYC4KUMwM7e7Xsmi/X5hUhT6j+Qmcw/xm
-----END PRIVATE KEY-----
`;

/** A relay on 127.0.0.1 in front of the server, bytes passed through untouched, and the connections it took. */
export interface Relay {
  endpoint: string;
  /** Client connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A relay in front of the server: with `tls`, TLS (the Host header signed is the one checked), else plain TCP, where
 * it counts the connections a client makes and changes nothing else.
 */
export async function startRelay(upstreamPort: number, tls: boolean): Promise<Relay> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const relay = (client: Socket) => {
    accepted++;
    const plain = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(plain);
    client.once('close', () => sockets.delete(client));
    plain.once('close', () => sockets.delete(plain));
    client.on('error', () => plain.destroy());
    plain.on('error', () => client.destroy());
    client.pipe(plain).pipe(client);
  };
  const server = tls ? createTlsServer({ key: TEST_KEY, cert: TEST_CERT }, relay) : createTcpServer(relay);
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return {
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    connections: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** TLS on 127.0.0.1 in front of the server (startRelay). */
export function startTlsTerminator(upstreamPort: number): Promise<Relay> {
  return startRelay(upstreamPort, true);
}
