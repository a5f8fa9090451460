// A loopback HTTP receiver for notification tests: records every request (raw body, headers) and
// answers from a script (e.g. 503, 503, 503, then 202), standing in for Slack, Teams, PagerDuty.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface Receiver {
  url: string;
  requests: Received[];
  /** Requests answered with 2xx. */
  accepted(): Received[];
  /** Statuses to answer with, in order; after them, `then` (default 202). */
  script(statuses: number[], then?: number): void;
  close(): Promise<void>;
}

export async function startReceiver(check?: (r: Received) => number | undefined): Promise<Receiver> {
  let queue: number[] = [];
  let fallback = 202;
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: 0 };
      r.status = queue.shift() ?? check?.(r) ?? fallback;
      requests.push(r);
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.status < 300 ? '{"status":"success","message":"Event processed"}' : '{"status":"unavailable"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    script(statuses, then = 202) {
      queue = [...statuses];
      fallback = then;
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
