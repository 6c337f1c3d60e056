// The console's access to the API: the bearer token (kept for this browser tab only), JSON
// requests with the API's error bodies turned into ApiError, and the live event stream.

const TOKEN_KEY = 'shardcast.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.reason ?? `HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
  }
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${token.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { error: 'offline', reason: `the console's server does not answer (${err.message})` });
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/**
 * Follows /api/events (Server-Sent Events, read with fetch so the token goes in a header) and
 * calls onEvent({type, data}) for each; reconnects after a drop. Returns the stop function.
 */
export function followEvents(onEvent, onState = () => {}) {
  const stop = new AbortController();
  const run = async () => {
    while (!stop.signal.aborted) {
      try {
        const res = await fetch('/api/events', { headers: { authorization: `Bearer ${token.get() ?? ''}` }, signal: stop.signal });
        if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
        onState('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut = buf.indexOf('\n\n');
          while (cut >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const type = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (type && data) onEvent({ type, data: JSON.parse(data) });
            cut = buf.indexOf('\n\n');
          }
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        onState(err instanceof ApiError && err.status === 401 ? 'unauthorized' : 'reconnecting');
        if (err instanceof ApiError && err.status === 401) return;
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  };
  run();
  return () => stop.abort();
}
