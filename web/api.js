// The management API as the console uses it: JSON requests with the session cookie, and the
// host's Server-Sent Events stream.

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};

/** Called whenever the API answers 401 (the session expired or was never there). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** One API call; resolves to the parsed JSON body (null for an empty one), rejects with ApiError. */
export async function api(method, path, body) {
  // The custom header is the API's CSRF defence: a cross-site form cannot set it.
  const headers = { Accept: 'application/json', 'X-Punktfunk-Console': '1' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, `The host did not answer (${e.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/auth/login') unauthorized();
    const reason = data && typeof data.error === 'string' ? data.error : response.statusText;
    throw new ApiError(response.status, reason || `HTTP ${response.status}`);
  }
  return data;
}

/** Event types the host sends; the stream may name them with `event:` lines or only in the JSON. */
const EVENT_TYPES = [
  'session_started',
  'session_ended',
  'session_stats',
  'pairing_armed',
  'device_paired',
  'device_removed',
  'library_changed',
  'session_app',
  'log',
  // The stream dropped events for this (slow) client; listeners re-read the state they show.
  'lagged',
];

/**
 * The host's live event stream. Dispatches each event as a CustomEvent named by its `type` (detail =
 * the JSON), and `connection` (detail = true/false) when the stream goes up or down.
 */
/**
 * A reader of `path` whose answers are applied in the order the reads were started: when reads
 * overlap (a click's reload and an event's), an older answer arriving last is dropped instead of
 * painting the page with what was true before the click.
 */
export function newestRead(path) {
  let started = 0;
  return async () => {
    const ticket = ++started;
    const value = await api('GET', path);
    return ticket === started ? { value } : null;
  };
}

export class HostEvents extends EventTarget {
  constructor() {
    super();
    this.source = null;
    this.connected = false;
    this.retry = null;
  }

  start() {
    this.stop();
    const source = new EventSource(`${BASE}/events`, { withCredentials: true });
    this.source = source;
    const deliver = (message) => this.deliver(message.data);
    source.addEventListener('message', deliver);
    for (const type of EVENT_TYPES) source.addEventListener(type, deliver);
    source.addEventListener('open', () => this.setConnected(true));
    source.addEventListener('error', () => {
      this.setConnected(false);
      // EventSource retries by itself unless the answer was not a stream at all (e.g. 401); then
      // check the session, which sends the console back to the login form if it is gone.
      if (source.readyState === EventSource.CLOSED && this.source === source) {
        this.retry = setTimeout(() => {
          api('GET', '/auth/me').then(() => this.start(), () => {});
        }, 5000);
      }
    });
  }

  stop() {
    clearTimeout(this.retry);
    if (this.source) this.source.close();
    this.source = null;
    this.setConnected(false);
  }

  setConnected(connected) {
    if (connected === this.connected) return;
    this.connected = connected;
    this.dispatchEvent(new CustomEvent('connection', { detail: connected }));
  }

  deliver(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (event && typeof event.type === 'string') {
      this.dispatchEvent(new CustomEvent(event.type, { detail: event }));
    }
  }

  /** Subscribes to several event types at once; returns the function that unsubscribes. */
  on(handlers) {
    const entries = Object.entries(handlers).map(([type, fn]) => {
      const listener = (e) => fn(e.detail);
      this.addEventListener(type, listener);
      return [type, listener];
    });
    return () => entries.forEach(([type, listener]) => this.removeEventListener(type, listener));
  }
}
