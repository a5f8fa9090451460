// The page's only way to the server: JSON over fetch with the bearer token, and the event stream.
const TOKEN_KEY = 'immune.token';

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) ?? '',
  set: (t) => (t ? localStorage.setItem(TOKEN_KEY, t) : localStorage.removeItem(TOKEN_KEY)),
};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function headers(extra = {}) {
  const t = token.get();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

async function parse(res, what) {
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = body?.error;
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `${what}: HTTP ${res.status}`, e?.details);
  }
  if (body === undefined) throw new ApiError(res.status, 'BAD_RESPONSE', `${what}: the server did not answer JSON`);
  return body;
}

export async function get(path) {
  const res = await fetch(path, { headers: headers({ accept: 'application/json' }) });
  return parse(res, `GET ${path}`);
}

export async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', accept: 'application/json' }),
    body: JSON.stringify(body ?? {}),
  });
  return parse(res, `POST ${path}`);
}

/**
 * Follow GET /api/stream (server-sent events) with fetch, so the token goes in a header and never
 * in a URL. Calls onEvent per JSON event and onState('live'|'offline'); reconnects with backoff.
 * Returns a function that stops it.
 */
export function stream(onEvent, onState) {
  let stopped = false;
  let ctrl;
  let backoff = 500;
  const run = async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const res = await fetch('/api/stream', { headers: headers({ accept: 'text/event-stream' }), signal: ctrl.signal });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState('live');
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
            const data = block
              .split(/\r?\n/)
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).replace(/^ /, ''))
              .join('\n');
            if (!data) continue;
            try {
              onEvent(JSON.parse(data));
            } catch {
              // a malformed event is skipped, the stream goes on
            }
          }
        }
      } catch {
        // fall through to reconnect
      }
      if (stopped) break;
      onState('offline');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    ctrl?.abort();
  };
}
