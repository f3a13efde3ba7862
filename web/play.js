// The browser client: this host's punktfunk/1 over WebTransport, decoded with WebCodecs onto a
// canvas. The page is served by the host's console; the console login is what lets it stream (the
// API hands it a one-time ticket). Wire format: docs/protocol.md, "punktfunk/1 in the browser".

import { api } from './api.js';

// Control message types and field tags (punktfunk_core::control).
const MSG = { HELLO: 1, WELCOME: 2, START: 3, KEYFRAME: 5, PING: 6, PONG: 7, GOODBYE: 9, TICKET: 22 };
const TAG = {
  NAME: 1, WIDTH: 2, HEIGHT: 3, REFRESH: 4, CODECS: 5, BITRATE: 6, CAPS: 7, MAX_DATAGRAM: 9,
  SESSION: 10, CODEC: 11, FIRST_LOST: 40, T1: 41, T2: 42, T3: 43, REASON: 50, TICKET: 79,
};
const CODEC_H264 = 1;
const CONTROL_VERSION = 1;
// Frame streams: kind u8, flags u8, frame number LE32, capture time LE64 (host µs), access unit.
const FRAME_HEADER_LEN = 14;
const FLAG_KEYFRAME = 1;
// Completed frames held back waiting for an earlier one before asking for a keyframe.
const MAX_WAITING = 8;

// Input events (punktfunk_core::control::input), on a unidirectional stream: "pfi1", then each
// event as LE32 length + body (kind byte, little-endian fields).
const INPUT_MAGIC = new TextEncoder().encode('pfi1');
const EV = { KEY: 0x01, POINTER_ABS: 0x04, POINTER_REL: 0x05, BUTTON: 0x06, SCROLL: 0x07 };
// KeyboardEvent.code → Linux evdev key code (the key's position, as the host's keymap expects).
const EVDEV = (() => {
  const map = { Escape: 1, Minus: 12, Equal: 13, Backspace: 14, Tab: 15, BracketLeft: 26, BracketRight: 27,
    Enter: 28, ControlLeft: 29, Semicolon: 39, Quote: 40, Backquote: 41, ShiftLeft: 42, Backslash: 43,
    Comma: 51, Period: 52, Slash: 53, ShiftRight: 54, NumpadMultiply: 55, AltLeft: 56, Space: 57,
    CapsLock: 58, NumLock: 69, ScrollLock: 70, NumpadSubtract: 74, NumpadAdd: 78, NumpadDecimal: 83,
    IntlBackslash: 86, F11: 87, F12: 88, NumpadEnter: 96, ControlRight: 97, NumpadDivide: 98,
    PrintScreen: 99, AltRight: 100, Home: 102, ArrowUp: 103, PageUp: 104, ArrowLeft: 105,
    ArrowRight: 106, End: 107, ArrowDown: 108, PageDown: 109, Insert: 110, Delete: 111, Pause: 119,
    MetaLeft: 125, MetaRight: 126, ContextMenu: 127 };
  ['1234567890'].forEach((row) => [...row].forEach((c, i) => { map[`Digit${c}`] = 2 + i; }));
  [['QWERTYUIOP', 16], ['ASDFGHJKL', 30], ['ZXCVBNM', 44]].forEach(([row, first]) =>
    [...row].forEach((c, i) => { map[`Key${c}`] = first + i; }));
  for (let i = 1; i <= 10; i++) map[`F${i}`] = 58 + i;
  [[7, 71], [8, 72], [9, 73], [4, 75], [5, 76], [6, 77], [1, 79], [2, 80], [3, 81], [0, 82]]
    .forEach(([n, code]) => { map[`Numpad${n}`] = code; });
  return map;
})();
// MouseEvent.button → our button byte (0 left, 1 right, 2 middle, 3 side/back, 4 extra/forward).
const BUTTONS = { 0: 0, 1: 2, 2: 1, 3: 3, 4: 4 };

const screen = document.getElementById('screen');
const statusLine = document.getElementById('status');
const statsBox = document.getElementById('stats');
const ctx = screen.getContext('2d', { alpha: false });

/** Builds one control message body: version, type, then tag–length–value fields. */
class Fields {
  constructor(type) {
    this.parts = [Uint8Array.of(CONTROL_VERSION, type & 0xff, type >> 8)];
  }
  bytes(tag, value) {
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint16(0, tag, true);
    new DataView(head.buffer).setUint16(2, value.length, true);
    this.parts.push(head, value);
    return this;
  }
  u16(tag, v) { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v, true); return this.bytes(tag, b); }
  u32(tag, v) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return this.bytes(tag, b); }
  u64(tag, v) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); return this.bytes(tag, b); }
  str(tag, s) { return this.bytes(tag, new TextEncoder().encode(s)); }
  /** The body with its LE32 length in front, as it goes on the stream. */
  framed() {
    const len = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(4 + len);
    new DataView(out.buffer).setUint32(0, len, true);
    let at = 4;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

/** Parses one message body into { type, fields: Map(tag → Uint8Array) }. */
function parseMessage(body) {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (body.length < 3 || body[0] !== CONTROL_VERSION) throw new Error('not a punktfunk/1 control message');
  const type = view.getUint16(1, true);
  const fields = new Map();
  let at = 3;
  while (at + 4 <= body.length) {
    const tag = view.getUint16(at, true);
    const len = view.getUint16(at + 2, true);
    if (at + 4 + len > body.length) throw new Error('truncated control message');
    fields.set(tag, body.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return { type, fields };
}

const fieldU32 = (m, tag) => { const f = m.fields.get(tag); return f && f.length === 4 ? new DataView(f.buffer, f.byteOffset).getUint32(0, true) : undefined; };
const fieldU64 = (m, tag) => { const f = m.fields.get(tag); return f && f.length === 8 ? Number(new DataView(f.buffer, f.byteOffset).getBigUint64(0, true)) : undefined; };
const fieldU8 = (m, tag) => { const f = m.fields.get(tag); return f && f.length === 1 ? f[0] : undefined; };
const fieldStr = (m, tag) => { const f = m.fields.get(tag); return f ? new TextDecoder().decode(f) : ''; };

/** Reads length-framed control messages from a WebTransport receive stream. */
class ControlReader {
  constructor(readable) {
    this.reader = readable.getReader();
    this.buf = new Uint8Array(0);
  }
  async next() {
    for (;;) {
      if (this.buf.length >= 4) {
        const len = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(0, true);
        if (len > 64 * 1024) throw new Error('control message too long');
        if (this.buf.length >= 4 + len) {
          const body = this.buf.slice(4, 4 + len);
          this.buf = this.buf.slice(4 + len);
          return parseMessage(body);
        }
      }
      const { value, done } = await this.reader.read();
      if (done) return null;
      const joined = new Uint8Array(this.buf.length + value.length);
      joined.set(this.buf);
      joined.set(value, this.buf.length);
      this.buf = joined;
    }
  }
}

/** Wall-clock time in µs, to sub-millisecond precision. */
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

/** The mode to ask for: `?mode=WxH@Hz`, else the window in device pixels at 60 Hz. */
function wantedMode() {
  const asked = new URLSearchParams(location.search).get('mode');
  const m = asked && /^(\d+)x(\d+)@(\d+(?:\.\d+)?)$/.exec(asked);
  if (m) return { width: +m[1], height: +m[2], refreshMhz: Math.round(+m[3] * 1000) };
  const even = (v) => Math.max(2, Math.round(v / 2) * 2);
  const dpr = window.devicePixelRatio || 1;
  return { width: even(innerWidth * dpr), height: even(innerHeight * dpr), refreshMhz: 60000 };
}

const stats = {
  state: 'connecting',
  mode: null,
  framesReceived: 0,
  framesDecoded: 0,
  framesSkipped: 0,
  skips: [],
  outOfOrder: 0,
  keyframeRequests: 0,
  inputEvents: 0,
  bytes: 0,
  latenciesMs: [],
  decodeMs: [],
  clockOffsetUs: null,
  rttMs: null,
  lastNumber: null,
  decodedNumbers: [],
  error: null,
  reason: null,
};

function say(text) { statusLine.textContent = text; }

async function main() {
  if (!('WebTransport' in window) || !('VideoDecoder' in window)) {
    throw new Error('this browser has no WebTransport or WebCodecs; use a current Chromium, Edge or Firefox');
  }
  say('Asking the host for a session…');
  const grant = await api('POST', '/browser/session');
  const hash = Uint8Array.from(grant.certificate_sha256.match(/../g).map((h) => parseInt(h, 16)));
  const url = `https://${location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname}:${grant.port}${grant.path}`;
  const transport = new WebTransport(url, {
    serverCertificateHashes: [{ algorithm: 'sha-256', value: hash }],
    congestionControl: 'low-latency',
  });
  await transport.ready;
  const control = await transport.createBidirectionalStream();
  const writer = control.writable.getWriter();
  const reader = new ControlReader(control.readable);
  const mode = wantedMode();
  stats.mode = `${mode.width}x${mode.height}@${mode.refreshMhz / 1000}`;
  const bitrate = +(new URLSearchParams(location.search).get('bitrate') || 20000);
  await writer.write(new Fields(MSG.TICKET).str(TAG.TICKET, grant.ticket).framed());
  await writer.write(new Fields(MSG.HELLO)
    .str(TAG.NAME, `Browser (${navigator.platform || 'web'})`)
    .u32(TAG.WIDTH, mode.width).u32(TAG.HEIGHT, mode.height).u32(TAG.REFRESH, mode.refreshMhz)
    .bytes(TAG.CODECS, Uint8Array.of(CODEC_H264))
    .u32(TAG.BITRATE, bitrate).u32(TAG.CAPS, 0).u16(TAG.MAX_DATAGRAM, 1200)
    .framed());
  const welcome = await reader.next();
  if (!welcome) throw new Error('the host closed the session');
  if (welcome.type === MSG.GOODBYE) throw new Error(`the host refused: ${fieldStr(welcome, TAG.REASON)}`);
  if (welcome.type !== MSG.WELCOME) throw new Error(`expected Welcome, got message ${welcome.type}`);
  if (fieldU8(welcome, TAG.CODEC) !== CODEC_H264) throw new Error('the host chose a codec this page does not decode');
  screen.width = fieldU32(welcome, TAG.WIDTH);
  screen.height = fieldU32(welcome, TAG.HEIGHT);

  const decoder = new VideoDecoder({
    output: (frame) => {
      const decodedUs = nowUs();
      ctx.drawImage(frame, 0, 0, screen.width, screen.height);
      stats.framesDecoded += 1;
      const sent = pendingDecode.get(frame.timestamp);
      pendingDecode.delete(frame.timestamp);
      if (sent !== undefined) stats.decodeMs.push((decodedUs - sent) / 1000);
      if (stats.clockOffsetUs !== null) {
        stats.latenciesMs.push((decodedUs + stats.clockOffsetUs - frame.timestamp) / 1000);
      }
      frame.close();
    },
    error: (e) => { stats.error = `decoder: ${e.message}`; },
  });
  decoder.configure({ codec: 'avc1.640033', optimizeForLatency: true });
  const pendingDecode = new Map();

  const send = (fields) => writer.write(fields.framed());
  const requestKeyframe = (firstLost) => {
    stats.keyframeRequests += 1;
    return send(new Fields(MSG.KEYFRAME).u32(TAG.FIRST_LOST, firstLost >>> 0));
  };

  // Frames complete in any order (a big keyframe may finish after the small frame behind it);
  // they are decoded in frame-number order. A number the host skipped (it dropped that frame) is
  // followed by a keyframe, which the page jumps to.
  let next = null;
  let needKeyframe = true;
  const waiting = new Map();
  const decodeFrame = (f) => {
    pendingDecode.set(f.presentedUs, nowUs());
    decoder.decode(new EncodedVideoChunk({ type: f.key ? 'key' : 'delta', timestamp: f.presentedUs, data: f.data }));
    stats.decodedNumbers.push(f.number);
    if (stats.decodedNumbers.length > 2000) stats.decodedNumbers.splice(0, 1000);
    stats.lastNumber = f.number;
    next = f.number + 1;
  };
  const arrive = (f) => {
    stats.framesReceived += 1;
    stats.bytes += f.data.length;
    if (next !== null && f.number < next) return; // older than what was shown: too late
    if (needKeyframe || (next !== null && f.number > next && f.key)) {
      if (!f.key) { waiting.set(f.number, f); return; }
      if (next !== null && f.number > next) {
        stats.framesSkipped += f.number - next;
        stats.skips.push([next, f.number]);
        if (stats.skips.length > 50) stats.skips.shift();
      }
      for (const n of [...waiting.keys()]) if (n < f.number) waiting.delete(n);
      needKeyframe = false;
      decodeFrame(f);
    } else if (f.number === next) {
      decodeFrame(f);
    } else {
      stats.outOfOrder += 1;
      waiting.set(f.number, f);
    }
    while (waiting.has(next)) {
      const w = waiting.get(next);
      waiting.delete(next);
      decodeFrame(w);
    }
    if (waiting.size > MAX_WAITING) {
      waiting.clear();
      needKeyframe = true;
      requestKeyframe(next ?? 0);
    }
  };

  const readFrames = async () => {
    const streams = transport.incomingUnidirectionalStreams.getReader();
    for (;;) {
      const { value: stream, done } = await streams.read();
      if (done) return;
      (async () => {
        const chunks = [];
        let length = 0;
        const r = stream.getReader();
        for (;;) {
          const { value, done: end } = await r.read();
          if (end) break;
          chunks.push(value);
          length += value.length;
        }
        const bytes = new Uint8Array(length);
        let at = 0;
        for (const c of chunks) { bytes.set(c, at); at += c.length; }
        if (bytes.length < FRAME_HEADER_LEN || bytes[0] !== 1) return;
        const view = new DataView(bytes.buffer);
        arrive({
          key: (bytes[1] & FLAG_KEYFRAME) !== 0,
          number: view.getUint32(2, true),
          presentedUs: Number(view.getBigUint64(6, true)),
          data: bytes.subarray(FRAME_HEADER_LEN),
        });
      })().catch((e) => { stats.error = `frame stream: ${e.message}`; });
    }
  };

  // Clock offset (host − page) from the lowest-delay of recent ping exchanges.
  let bestRtt = Infinity;
  const readControl = async () => {
    for (;;) {
      const m = await reader.next();
      if (!m) return 'the host closed the control stream';
      if (m.type === MSG.PONG) {
        const t4 = nowUs();
        const t1 = fieldU64(m, TAG.T1), t2 = fieldU64(m, TAG.T2), t3 = fieldU64(m, TAG.T3);
        const rtt = (t4 - t1) - (t3 - t2);
        if (rtt <= bestRtt * 1.5) {
          bestRtt = Math.min(bestRtt, rtt);
          stats.clockOffsetUs = ((t2 - t1) + (t3 - t4)) / 2;
          stats.rttMs = rtt / 1000;
        }
      } else if (m.type === MSG.GOODBYE) {
        return fieldStr(m, TAG.REASON);
      }
    }
  };

  for (let i = 0; i < 5; i++) await send(new Fields(MSG.PING).u64(TAG.T1, nowUs()));
  await send(new Fields(MSG.START));
  await startInput(transport);
  const pinger = setInterval(() => send(new Fields(MSG.PING).u64(TAG.T1, nowUs())).catch(() => {}), 1000);
  stats.state = 'streaming';
  say('');
  readFrames().catch((e) => { stats.error = `frames: ${e.message}`; });
  const reason = await readControl();
  clearInterval(pinger);
  stats.state = 'ended';
  stats.reason = reason;
  say(`Session over: ${reason}`);
  transport.close();
}

/** Keyboard, pointer, buttons and wheel from the page to the host's display. */
async function startInput(transport) {
  const stream = await transport.createUnidirectionalStream();
  const writer = stream.getWriter();
  writer.write(INPUT_MAGIC);
  const event = (kind, bytes) => {
    const out = new Uint8Array(4 + 1 + bytes.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, 1 + bytes.length, true);
    out[4] = kind;
    out.set(bytes, 5);
    writer.write(out).catch(() => {});
    stats.inputEvents += 1;
  };
  const le = (size, fill) => { const b = new Uint8Array(size); fill(new DataView(b.buffer)); return b; };

  const keyEvent = (e, down) => {
    const code = EVDEV[e.code];
    if (code === undefined || (e.repeat && !down)) return;
    e.preventDefault();
    event(EV.KEY, le(3, (v) => { v.setUint16(0, code, true); v.setUint8(2, down ? 1 : 0); }));
  };
  window.addEventListener('keydown', (e) => keyEvent(e, true));
  window.addEventListener('keyup', (e) => keyEvent(e, false));
  // Keys held when the page loses focus would stay down on the host.
  const held = new Set();
  window.addEventListener('keydown', (e) => { if (EVDEV[e.code] !== undefined) held.add(e.code); });
  window.addEventListener('keyup', (e) => held.delete(e.code));
  window.addEventListener('blur', () => {
    for (const code of held) event(EV.KEY, le(3, (v) => { v.setUint16(0, EVDEV[code], true); v.setUint8(2, 0); }));
    held.clear();
  });

  // Where on the host's display a point of the canvas is (the picture is letterboxed into it).
  const toDisplay = (clientX, clientY) => {
    const r = screen.getBoundingClientRect();
    const scale = Math.min(r.width / screen.width, r.height / screen.height);
    const w = screen.width * scale, h = screen.height * scale;
    const x = (clientX - r.left - (r.width - w) / 2) / w;
    const y = (clientY - r.top - (r.height - h) / 2) / h;
    const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 65535);
    return [clamp(x), clamp(y)];
  };
  const locked = () => document.pointerLockElement === screen;
  screen.addEventListener('pointermove', (e) => {
    if (locked()) {
      const clamp = (v) => Math.max(-32768, Math.min(32767, Math.round(v)));
      if (e.movementX || e.movementY) {
        event(EV.POINTER_REL, le(4, (v) => { v.setInt16(0, clamp(e.movementX), true); v.setInt16(2, clamp(e.movementY), true); }));
      }
    } else {
      const [x, y] = toDisplay(e.clientX, e.clientY);
      event(EV.POINTER_ABS, le(4, (v) => { v.setUint16(0, x, true); v.setUint16(2, y, true); }));
    }
  });
  const button = (e, down) => {
    const b = BUTTONS[e.button];
    if (b === undefined) return;
    e.preventDefault();
    if (!locked()) {
      const [x, y] = toDisplay(e.clientX, e.clientY);
      event(EV.POINTER_ABS, le(4, (v) => { v.setUint16(0, x, true); v.setUint16(2, y, true); }));
    }
    event(EV.BUTTON, Uint8Array.of(b, down ? 1 : 0));
  };
  screen.addEventListener('pointerdown', (e) => button(e, true));
  screen.addEventListener('pointerup', (e) => button(e, false));
  screen.addEventListener('contextmenu', (e) => e.preventDefault());
  screen.addEventListener('wheel', (e) => {
    e.preventDefault();
    // One detent is 120; Chromium reports 100 px per detent, a line mode 3 lines.
    const per = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 120 * 3 : 1.2;
    for (const [axis, delta] of [[0, e.deltaY], [1, e.deltaX]]) {
      const value = Math.round(delta * per);
      if (value) event(EV.SCROLL, le(5, (v) => { v.setUint8(0, axis); v.setInt32(1, value, true); }));
    }
  }, { passive: false });
  document.getElementById('lock').addEventListener('click', () => screen.requestPointerLock());
}

// The overlay: fps, bitrate, latency, decode time, once a second.
let lastDecoded = 0, lastBytes = 0;
setInterval(() => {
  const lat = [...stats.latenciesMs.slice(-300)].sort((a, b) => a - b);
  const dec = [...stats.decodeMs.slice(-300)].sort((a, b) => a - b);
  const f = (v) => (v === null ? '–' : v.toFixed(1));
  statsBox.textContent = [
    `${stats.mode ?? ''}  ${stats.framesDecoded - lastDecoded} fps  ${((stats.bytes - lastBytes) * 8 / 1e6).toFixed(1)} Mbit/s`,
    `capture → decoded p50 ${f(percentile(lat, 0.5))} ms  p95 ${f(percentile(lat, 0.95))} ms`,
    `decode p50 ${f(percentile(dec, 0.5))} ms   rtt ${f(stats.rttMs)} ms`,
    `frames ${stats.framesDecoded} decoded, ${stats.framesSkipped} skipped, ${stats.keyframeRequests} keyframe requests`,
  ].join('\n');
  lastDecoded = stats.framesDecoded;
  lastBytes = stats.bytes;
}, 1000);

document.getElementById('toggle-stats').addEventListener('click', () => { statsBox.hidden = !statsBox.hidden; });
document.getElementById('fullscreen').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen();
});

// For tests and the curious: the live numbers, and a pixel of what is shown.
window.punktfunk = {
  stats: () => {
    const lat = [...stats.latenciesMs].sort((a, b) => a - b);
    return { ...stats, latenciesMs: undefined, decodeMs: undefined, latencyP50Ms: percentile(lat, 0.5), latencyP95Ms: percentile(lat, 0.95), latencySamples: lat.length };
  },
  pixel: (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)),
};

main().catch((e) => {
  stats.state = 'failed';
  stats.error = e.message;
  say(`Could not stream: ${e.message}`);
});
