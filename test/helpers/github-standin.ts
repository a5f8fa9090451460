// A local stand-in for the GitHub REST API (no real GitHub is reachable in tests): a node http
// server on 127.0.0.1 that records every call and answers the few endpoints immune uses the way
// GitHub documents them (status codes, JSON shapes, error bodies).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface GithubStandin {
  url: string;
  calls: RecordedCall[];
  /** Answer the next `times` calls with this status and GitHub's error body. */
  failNext(status: number, times?: number, message?: string): void;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';

export async function startGithubStandin(opts: { token: string; owner: string; repo: string }): Promise<GithubStandin> {
  const calls: RecordedCall[] = [];
  let failures: { status: number; message: string }[] = [];
  let nextId = 1;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = (req.url ?? '/').split('?')[0]!;
      calls.push({ method: req.method ?? '', path, headers: req.headers, body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-request-id': `STANDIN:${nextId}` });
        res.end(JSON.stringify(payload));
      };
      const failure = failures.shift();
      if (failure) return send(failure.status, { message: failure.message, documentation_url: DOCS, status: String(failure.status) });
      if (req.headers.authorization !== `token ${opts.token}` && req.headers.authorization !== `Bearer ${opts.token}`) {
        return send(401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });
      }
      const base = `/repos/${opts.owner}/${opts.repo}`;
      const b = (body ?? {}) as Record<string, unknown>;
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && (m = new RegExp(`^${base}/statuses/([0-9a-f]{40})$`).exec(path))) {
        if (!['pending', 'success', 'failure', 'error'].includes(String(b.state))) {
          return send(422, {
            message: 'Validation Failed',
            errors: [{ resource: 'Status', code: 'custom', field: 'state', message: 'state is not included in the list' }],
            documentation_url: DOCS,
            status: '422',
          });
        }
        if (typeof b.description === 'string' && b.description.length > 140) {
          return send(422, {
            message: 'Validation Failed',
            errors: [
              { resource: 'Status', code: 'custom', field: 'description', message: 'description is too long (maximum is 140 characters)' },
            ],
            documentation_url: DOCS,
            status: '422',
          });
        }
        const id = nextId++;
        return send(201, {
          id,
          url: `${base}/statuses/${m[1]}`,
          state: b.state,
          description: b.description ?? null,
          target_url: b.target_url ?? null,
          context: b.context ?? 'default',
          created_at: new Date().toISOString(),
        });
      }
      if (req.method === 'POST' && (m = new RegExp(`^${base}/commits/([0-9a-f]{40})/comments$`).exec(path))) {
        if (typeof b.body !== 'string' || !b.body)
          return send(422, {
            message: 'Validation Failed',
            errors: [{ resource: 'CommitComment', code: 'missing_field', field: 'body' }],
            documentation_url: DOCS,
            status: '422',
          });
        const id = nextId++;
        return send(201, {
          id,
          body: b.body,
          commit_id: m[1],
          html_url: `https://github.com/${opts.owner}/${opts.repo}/commit/${m[1]}#commitcomment-${id}`,
          created_at: new Date().toISOString(),
        });
      }
      return send(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext(status, times = 1, message = status === 401 ? 'Bad credentials' : 'Server Error') {
      failures = [...failures, ...Array.from({ length: times }, () => ({ status, message }))];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
