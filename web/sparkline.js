// A live line graph of one number (bitrate, fps, latency) on a <canvas>: the last N samples, scaled
// to the largest one, redrawn on every new sample. Its colour is the canvas's CSS `color`.

export class Sparkline {
  /**
   * @param {string} name what is measured, for the accessible label ("Bitrate")
   * @param {(v: number) => string} format how a value reads ("4.8 Mbit/s")
   * @param {number} capacity how many samples to keep
   */
  constructor(name, format, capacity = 45) {
    this.name = name;
    this.format = format;
    this.capacity = capacity;
    this.samples = [];
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'sparkline';
    this.canvas.setAttribute('role', 'img');
    this.readout = document.createElement('span');
    this.readout.className = 'readout';
    this.element = document.createElement('figure');
    this.element.className = 'metric';
    const caption = document.createElement('figcaption');
    caption.append(name, ' ', this.readout);
    this.element.append(caption, this.canvas);
    this.describe();
  }

  /** Adds a sample; `null` (no measurement) leaves a gap. */
  push(value) {
    const v = typeof value === 'number' && Number.isFinite(value) ? value : null;
    this.samples.push(v);
    if (this.samples.length > this.capacity) this.samples.shift();
    this.describe();
    this.draw();
  }

  describe() {
    const last = this.samples.length ? this.samples[this.samples.length - 1] : null;
    const now = last === null ? 'no data' : this.format(last);
    this.readout.textContent = now;
    this.canvas.dataset.samples = String(this.samples.length);
    this.canvas.setAttribute(
      'aria-label',
      `${this.name} graph: ${now} now, ${this.samples.length} samples`,
    );
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const values = this.samples.filter((v) => v !== null);
    if (!values.length) return;
    const top = Math.max(...values) * 1.15 || 1;
    const pad = 2 * ratio;
    const step = (width - 2 * pad) / Math.max(1, this.capacity - 1);
    // Newest sample at the right edge; older ones scroll left.
    const offset = this.capacity - this.samples.length;
    const x = (i) => pad + (offset + i) * step;
    const y = (v) => height - pad - (v / top) * (height - 2 * pad);

    const colour = getComputedStyle(canvas).color;
    ctx.lineWidth = 1.5 * ratio;
    ctx.lineJoin = 'round';
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;

    // Each run of consecutive samples is one filled shape, so a gap stays a gap.
    let run = [];
    const flush = () => {
      if (!run.length) return;
      ctx.beginPath();
      run.forEach(([px, py], n) => (n ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
      ctx.globalAlpha = 1;
      ctx.stroke();
      ctx.lineTo(run[run.length - 1][0], height);
      ctx.lineTo(run[0][0], height);
      ctx.closePath();
      ctx.globalAlpha = 0.15;
      ctx.fill();
      ctx.globalAlpha = 1;
      run = [];
    };
    this.samples.forEach((v, i) => {
      if (v === null) flush();
      else run.push([x(i), y(v)]);
    });
    const [lastX, lastY] = run.length ? run[run.length - 1] : [null, null];
    flush();
    if (lastX !== null) {
      ctx.beginPath();
      ctx.arc(lastX, lastY, 2.5 * ratio, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}
