// Item images: an SVG per item rendered to PNG by sharp. The topic fixes a strong visual identity
// (palette, shape family, background texture) so an image encoder can separate topics; each item
// adds its own noise (hue jitter, layout, sizes, rotation, speckles).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from './prng';

const SHAPES = ['circle', 'square', 'triangle', 'star', 'ring', 'hexagon', 'cross', 'wave'] as const;
const TEXTURES = ['stripes', 'dots', 'grid'] as const;

export interface TopicStyle {
  hue: number;
  accentHue: number;
  darkBackground: boolean;
  shape: (typeof SHAPES)[number];
  texture: (typeof TEXTURES)[number];
}

/** Topic t: hue permuted around the wheel (7 is coprime with 24), unique (shape, texture) pair. */
export function topicStyle(topic: number): TopicStyle {
  const hue = ((topic * 7) % 24) * 15;
  const accentOffset = [180, 40, -40][topic % 3] ?? 180;
  return {
    hue,
    accentHue: (hue + accentOffset + 360) % 360,
    darkBackground: Math.floor(topic / 2) % 2 === 1,
    shape: SHAPES[topic % SHAPES.length] ?? 'circle',
    texture: TEXTURES[Math.floor(topic / SHAPES.length) % TEXTURES.length] ?? 'stripes',
  };
}

function hex(hue: number, sat: number, light: number): string {
  // HSL -> RGB by hand: keeps the SVG free of colour syntax the renderer might parse differently.
  const h = (((hue % 360) + 360) % 360) / 360;
  const s = Math.min(1, Math.max(0, sat));
  const l = Math.min(1, Math.max(0, light));
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const channel = (t: number): number => {
    const x = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    const v = x < 1 / 6 ? p + (q - p) * 6 * x : x < 1 / 2 ? q : x < 2 / 3 ? p + (q - p) * (2 / 3 - x) * 6 : p;
    return Math.round(v * 255);
  };
  return (
    '#' +
    [channel(h + 1 / 3), channel(h), channel(h - 1 / 3)].map((c) => c.toString(16).padStart(2, '0')).join('')
  );
}

const f = (x: number): string => x.toFixed(1);

function polygon(cx: number, cy: number, r: number, corners: number, rot: number, inner = 0): string {
  const pts: string[] = [];
  const n = inner > 0 ? corners * 2 : corners;
  for (let i = 0; i < n; i++) {
    const rad = inner > 0 && i % 2 === 1 ? r * inner : r;
    const a = rot + (i * 2 * Math.PI) / n;
    pts.push(`${f(cx + rad * Math.cos(a))},${f(cy + rad * Math.sin(a))}`);
  }
  return pts.join(' ');
}

function shapeSvg(style: TopicStyle, cx: number, cy: number, r: number, rot: number, fill: string): string {
  const deg = (rot * 180) / Math.PI;
  switch (style.shape) {
    case 'circle':
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(r)}" fill="${fill}"/>`;
    case 'square':
      return `<rect x="${f(cx - r)}" y="${f(cy - r)}" width="${f(2 * r)}" height="${f(2 * r)}" fill="${fill}" transform="rotate(${f(deg)} ${f(cx)} ${f(cy)})"/>`;
    case 'triangle':
      return `<polygon points="${polygon(cx, cy, r * 1.2, 3, rot)}" fill="${fill}"/>`;
    case 'star':
      return `<polygon points="${polygon(cx, cy, r * 1.3, 5, rot, 0.45)}" fill="${fill}"/>`;
    case 'ring':
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(r)}" fill="none" stroke="${fill}" stroke-width="${f(r * 0.4)}"/>`;
    case 'hexagon':
      return `<polygon points="${polygon(cx, cy, r * 1.1, 6, rot)}" fill="${fill}"/>`;
    case 'cross': {
      const w = r * 0.55;
      return `<g transform="rotate(${f(deg)} ${f(cx)} ${f(cy)})" fill="${fill}"><rect x="${f(cx - r)}" y="${f(cy - w / 2)}" width="${f(2 * r)}" height="${f(w)}"/><rect x="${f(cx - w / 2)}" y="${f(cy - r)}" width="${f(w)}" height="${f(2 * r)}"/></g>`;
    }
    case 'wave': {
      const seg = r * 0.7;
      let d = `M${f(cx - 2 * seg)},${f(cy)}`;
      for (let i = 0; i < 4; i++) d += ` q${f(seg / 2)},${f(i % 2 ? seg : -seg)} ${f(seg)},0`;
      return `<path d="${d}" fill="none" stroke="${fill}" stroke-width="${f(r * 0.35)}" stroke-linecap="round" transform="rotate(${f(deg)} ${f(cx)} ${f(cy)})"/>`;
    }
  }
}

function textureSvg(style: TopicStyle, colour: string, scale: number, angle: number): string {
  const s = f(scale);
  const body =
    style.texture === 'stripes'
      ? `<rect width="${f(scale / 2)}" height="${s}" fill="${colour}"/>`
      : style.texture === 'dots'
        ? `<circle cx="${f(scale / 2)}" cy="${f(scale / 2)}" r="${f(scale / 4)}" fill="${colour}"/>`
        : `<path d="M0,0 H${s} M0,0 V${s}" stroke="${colour}" stroke-width="${f(scale / 6)}"/>`;
  return `<pattern id="tx" width="${s}" height="${s}" patternUnits="userSpaceOnUse" patternTransform="rotate(${f(angle)})">${body}</pattern>`;
}

/** The SVG of one item: deterministic given the topic and the item's own random stream. */
export function itemSvg(topic: number, size: number, rng: Rng): string {
  const style = topicStyle(topic);
  const jitter = (): number => rng.uniform(-10, 10);
  const hue = style.hue + jitter();
  const bgLight = style.darkBackground ? rng.uniform(0.12, 0.22) : rng.uniform(0.8, 0.9);
  const bg1 = hex(hue, 0.35, bgLight);
  const bg2 = hex(hue + 20, 0.35, bgLight + (style.darkBackground ? 0.08 : -0.08));
  const textureColour = hex(style.accentHue + jitter(), 0.5, style.darkBackground ? 0.35 : 0.65);
  const gradAngle = rng.uniform(0, 1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">`,
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="${f(gradAngle)}" y2="1"><stop offset="0" stop-color="${bg1}"/><stop offset="1" stop-color="${bg2}"/></linearGradient>`,
    textureSvg(style, textureColour, rng.uniform(0.08, 0.14) * size, rng.uniform(-25, 25)),
    '</defs>',
    `<rect width="${size}" height="${size}" fill="url(#bg)"/>`,
    `<rect width="${size}" height="${size}" fill="url(#tx)" opacity="${f(rng.uniform(0.35, 0.55))}"/>`,
  ];
  const shapes = rng.int(3, 6);
  for (let i = 0; i < shapes; i++) {
    const main = i % 2 === 0;
    const fill = hex(main ? hue : style.accentHue + jitter(), rng.uniform(0.65, 0.9), rng.uniform(0.45, 0.6));
    const r = rng.uniform(0.09, 0.2) * size;
    parts.push(
      `<g opacity="${f(rng.uniform(0.75, 1))}">${shapeSvg(style, rng.uniform(r, size - r), rng.uniform(r, size - r), r, rng.uniform(0, Math.PI), fill)}</g>`,
    );
  }
  // Speckles: per-item pixel-level noise that carries no topic information.
  for (let i = 0; i < 16; i++) {
    const g = rng.int(0, 255).toString(16).padStart(2, '0');
    parts.push(
      `<rect x="${f(rng.uniform(0, size))}" y="${f(rng.uniform(0, size))}" width="2" height="2" fill="#${g}${g}${g}" opacity="${f(rng.uniform(0.3, 0.8))}"/>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface ImageJob {
  itemId: string;
  topic: number;
  seed: number;
}

/**
 * Renders every job to `<dir>/<itemId>.png` with at most `concurrency` renders in flight (sharp
 * runs them on libuv's pool, off the main thread). PNG options are explicit and sharp writes no
 * metadata by default, so a seed gives identical bytes.
 */
export async function renderImages(
  jobs: readonly ImageJob[],
  dir: string,
  opts: { size: number; concurrency: number; compressionLevel: number; onDone?: (done: number) => void },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const job = jobs[next++];
      if (!job) return;
      const svg = itemSvg(job.topic, opts.size, new Rng(job.seed, 'image'));
      await sharp(Buffer.from(svg))
        .png({ compressionLevel: opts.compressionLevel, adaptiveFiltering: false, palette: false })
        .toFile(join(dir, `${job.itemId}.png`));
      opts.onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
}
