// chart.js: a time-series line chart drawn on a <canvas>, for the dashboard's live rates.
//
//   const c = new RateChart(canvas, {series: [{name: 'in', color: '#2f7ed8'}], window: 120});
//   c.push(Date.now(), [42]);   // one sample: a time (ms) and one value per series
//   c.draw();
//
// The chart keeps the last `window` samples and scales its y axis to a round number above
// the largest value shown; the canvas's data-samples attribute says how many it holds. It draws at the device's pixel ratio so lines stay sharp.
'use strict';

class RateChart {
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.series = opts.series;
    this.window = opts.window || 120;
    this.format = opts.format || ((v) => String(v));
    this.samples = []; // {t, values: []}
  }

  push(t, values) {
    this.samples.push({t, values});
    if (this.samples.length > this.window) {
      this.samples.splice(0, this.samples.length - this.window);
    }
    this.canvas.dataset.samples = String(this.samples.length);
  }

  // niceStep returns the smallest of 1, 2, 2.5 and 5 times a power of ten at or above v
  // (and at least 1): the step between two grid lines.
  static niceStep(v) {
    if (!(v > 1)) {
      return 1;
    }
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5]) {
      if (m * p >= v) {
        return m * p;
      }
    }
    return 10 * p;
  }

  // resize matches the canvas's backing store to its displayed size; it returns the size in
  // CSS pixels.
  resize() {
    const ratio = window.devicePixelRatio || 1;
    const rect = this.canvas.getBoundingClientRect();
    const w = Math.max(200, Math.round(rect.width || this.canvas.width));
    const h = Math.max(120, Math.round(rect.height || this.canvas.height));
    if (this.canvas.width !== Math.round(w * ratio) || this.canvas.height !== Math.round(h * ratio)) {
      this.canvas.width = Math.round(w * ratio);
      this.canvas.height = Math.round(h * ratio);
    }
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return {ctx, w, h};
  }

  draw() {
    const {ctx, w, h} = this.resize();
    const pad = {left: 56, right: 12, top: 10, bottom: 22};
    const plotW = w - pad.left - pad.right;
    const plotH = h - pad.top - pad.bottom;
    ctx.clearRect(0, 0, w, h);

    // 1. The y scale: a round ceiling over every value shown, four grid lines.
    let max = 0;
    for (const s of this.samples) {
      for (const v of s.values) {
        max = Math.max(max, v);
      }
    }
    const top = 4 * RateChart.niceStep(max / 4);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (let i = 0; i <= 4; i++) {
      const y = pad.top + plotH - (plotH * i) / 4;
      ctx.strokeStyle = i === 0 ? '#9aa4b2' : '#e3e7ee';
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(pad.left, Math.round(y) + 0.5);
      ctx.lineTo(pad.left + plotW, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillStyle = '#5b6575';
      ctx.fillText(this.format((top * i) / 4), pad.left - 6, y);
    }

    // 2. The x scale: the window, newest sample at the right edge, labelled in seconds ago.
    const span = this.window * 1000;
    const now = this.samples.length ? this.samples[this.samples.length - 1].t : Date.now();
    const x = (t) => pad.left + plotW - ((now - t) / span) * plotW;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    ctx.fillStyle = '#5b6575';
    const step = span / 4;
    for (let i = 0; i <= 4; i++) {
      const ago = (span - i * step) / 1000;
      ctx.fillText(ago === 0 ? 'now' : '-' + Math.round(ago) + 's', pad.left + (plotW * i) / 4, pad.top + plotH + 6);
    }

    // 3. One line per series, clipped to the plot.
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top - 1, plotW, plotH + 2);
    ctx.clip();
    this.series.forEach((series, k) => {
      ctx.strokeStyle = series.color;
      ctx.lineWidth = 1.75;
      ctx.lineJoin = 'round';
      ctx.beginPath();
      this.samples.forEach((s, i) => {
        const px = x(s.t);
        const py = pad.top + plotH - (s.values[k] / top) * plotH;
        if (i === 0) {
          ctx.moveTo(px, py);
        } else {
          ctx.lineTo(px, py);
        }
      });
      ctx.stroke();
    });
    ctx.restore();
  }
}
