import { execFileSync } from 'node:child_process';
import { mkdirSync, promises as fsp, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { EmbedFailure } from '../errors';
import { ImageLoader, type ImageLoaderOptions } from './image-loader';
import { toEncoderPixels, PIXELS_PER_IMAGE } from './image-preprocess';
import { tempDir } from '../../../../test/support/temp-dir';

const base: ImageLoaderOptions = {
  allowedHosts: [],
  allowPrivate: false,
  allowFiles: true,
  fileRoots: [],
  maxBytes: 1_000_000,
  timeoutMs: 2_000,
  maxRedirects: 2,
};

async function failure(p: Promise<unknown>): Promise<EmbedFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EmbedFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('ImageLoader', () => {
  const dir = tempDir('imgload');
  let png: Buffer;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    png = await sharp({ create: { width: 300, height: 200, channels: 4, background: '#10a0f080' } })
      .png()
      .toBuffer();
    writeFileSync(join(dir, 'ok.png'), png);
    writeFileSync(join(dir, 'note.txt'), 'hello');
    writeFileSync(join(dir, 'broken.png'), png.subarray(0, 60));
    server = http.createServer((req, res) => {
      if (req.url === '/ok.png') return void res.end(png);
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/ok.png' }).end();
      if (req.url === '/to-metadata')
        return void res.writeHead(302, { location: 'http://169.254.169.254/latest' }).end();
      if (req.url === '/slow') return void setTimeout(() => res.end(png), 1_000);
      if (req.url === '/slow-body') {
        // Headers and part of the body at once, then nothing more for longer than the deadline.
        res.writeHead(200, { 'content-length': String(png.length) });
        res.write(png.subarray(0, 100));
        return void setTimeout(() => res.end(png.subarray(100)), 1_500);
      }
      if (req.url === '/slow-redirect-1')
        return void setTimeout(() => res.writeHead(302, { location: '/slow-redirect-2' }).end(), 200);
      if (req.url === '/slow-redirect-2')
        return void setTimeout(() => res.writeHead(302, { location: '/ok.png' }).end(), 200);
      if (req.url === '/big') return void res.end(Buffer.alloc(2_000_000));
      if (req.url === '/big-chunked') {
        // No Content-Length: the cap is only found while reading.
        res.writeHead(200, { 'content-type': 'image/png' });
        for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024, i));
        return void res.end();
      }
      if (req.url === '/flaky') return void res.writeHead(503).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('reads paths and file:// URLs under the configured roots and sniffs the type', async () => {
    const loader = new ImageLoader({ ...base, fileRoots: [dir] });
    expect((await loader.load(join(dir, 'ok.png'))).type).toBe('image/png');
    expect((await loader.load(pathToFileURL(join(dir, 'ok.png')).href)).bytes.equals(png)).toBe(true);
  });

  it('fails permanently on missing files, non-images, and files outside the roots', async () => {
    const loader = new ImageLoader({ ...base, fileRoots: [dir] });
    expect((await failure(loader.load(join(dir, 'missing.png')))).reason).toBe('image_not_found');
    expect((await failure(loader.load(join(dir, 'note.txt')))).reason).toBe('image_unsupported_type');
    expect((await failure(loader.load('/etc/hostname'))).reason).toBe('image_blocked');
    symlinkSync('/etc/hostname', join(dir, 'escape.png'));
    const escaped = await failure(loader.load(join(dir, 'escape.png')));
    expect(escaped.reason).toBe('image_blocked');
    expect(escaped.permanent).toBe(true);
    expect(
      (await failure(new ImageLoader({ ...base, allowFiles: false }).load(join(dir, 'ok.png')))).reason,
    ).toBe('image_blocked');
  });

  it('refuses every local file when no root is configured, before touching the file system', async () => {
    const realpath = jest.spyOn(fsp, 'realpath');
    const open = jest.spyOn(fsp, 'open');
    const loader = new ImageLoader(base); // fileRoots: [] is the default
    for (const src of ['/etc/passwd', join(dir, 'ok.png'), 'file:///etc/passwd']) {
      const err = await failure(loader.load(src));
      expect([err.reason, err.permanent]).toEqual(['image_blocked', true]);
      expect(err.message).toMatch(/EMBEDDER_IMAGE_FILE_ROOTS/);
    }
    const rooted = new ImageLoader({ ...base, fileRoots: [dir] });
    expect((await failure(rooted.load('/etc/passwd'))).reason).toBe('image_blocked');
    expect((await failure(rooted.load(join(dir, '..', 'x.png')))).reason).toBe('image_blocked');
    expect(realpath).not.toHaveBeenCalled();
    expect(open).not.toHaveBeenCalled();
    jest.restoreAllMocks();
  });

  it('refuses FIFOs, sockets and directories without reading them', async () => {
    const special = join(dir, 'special');
    mkdirSync(special);
    execFileSync('mkfifo', [join(special, 'fifo.png')]);
    const sock = net.createServer();
    await new Promise<void>((r) => sock.listen(join(special, 'socket.png'), r));
    mkdirSync(join(special, 'dir.png'));
    const loader = new ImageLoader({ ...base, fileRoots: [dir] });
    try {
      for (const name of ['fifo.png', 'socket.png', 'dir.png']) {
        const err = await failure(loader.load(join(special, name)));
        expect([name, err.reason, err.permanent]).toEqual([name, 'image_blocked', true]);
      }
    } finally {
      await new Promise((r) => sock.close(r));
    }
  });

  it('refuses a FIFO swapped in after the stat: opened non-blocking, checked with fstat', async () => {
    const fifo = join(dir, 'swapped.png');
    execFileSync('mkfifo', [fifo]);
    const regular = await fsp.stat(join(dir, 'ok.png'));
    jest.spyOn(fsp, 'stat').mockResolvedValueOnce(regular); // the path still looked like a file
    const err = await failure(new ImageLoader({ ...base, fileRoots: [dir] }).load(fifo));
    expect([err.reason, err.permanent, err.message]).toEqual([
      'image_blocked',
      true,
      expect.stringMatching(/not a regular file/),
    ]);
    jest.restoreAllMocks();
  });

  it('fails a file over the size cap permanently and a read past the deadline as a timeout', async () => {
    writeFileSync(join(dir, 'huge.png'), Buffer.concat([png, Buffer.alloc(2_000_000)]));
    const loader = new ImageLoader({ ...base, fileRoots: [dir], timeoutMs: 200 });
    const big = await failure(loader.load(join(dir, 'huge.png')));
    expect([big.reason, big.permanent]).toEqual(['image_too_large', true]);
    // A file system that never answers (a hung mount): the job gets its answer at the deadline.
    jest.spyOn(fsp, 'realpath').mockReturnValueOnce(new Promise<string>(() => undefined));
    const stuck = await failure(loader.load(join(dir, 'ok.png')));
    expect([stuck.reason, stuck.permanent]).toEqual(['image_timeout', false]);
    jest.restoreAllMocks();
  });

  it('refuses other schemes', async () => {
    const loader = new ImageLoader({ ...base, allowedHosts: ['*'] });
    for (const src of ['ftp://example.com/a.png', 'data:image/png;base64,AAAA', 'gopher://x/']) {
      expect((await failure(loader.load(src))).reason).toBe('image_blocked');
    }
  });

  it('blocks hosts that are not allow-listed, and private addresses even when they are', async () => {
    const url = `http://127.0.0.1:${port}/ok.png`;
    expect((await failure(new ImageLoader(base).load(url))).message).toMatch(/not allow-listed/);
    const listed = new ImageLoader({ ...base, allowedHosts: ['127.0.0.1'] });
    const err = await failure(listed.load(url));
    expect(err.reason).toBe('image_blocked');
    expect(err.permanent).toBe(true);
    // A public-looking name that resolves to a private address (DNS rebinding style).
    const rebound = new ImageLoader({ ...base, allowedHosts: ['images.example.com'] }, async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ]);
    expect((await failure(rebound.load('http://images.example.com/a.png'))).message).toMatch(/10\.0\.0\.5/);
    const v6 = new ImageLoader({ ...base, allowedHosts: ['*'] });
    expect((await failure(v6.load('http://[::ffff:127.0.0.1]/a.png'))).reason).toBe('image_blocked');
    expect((await failure(v6.load('http://user:pw@example.com/a.png'))).reason).toBe('image_blocked');
  });

  it('fetches from allowed private hosts when configured, connecting to the vetted address', async () => {
    // The name resolves (by the injected lookup) to 127.0.0.1: the request must go there.
    const loader = new ImageLoader(
      { ...base, allowedHosts: ['images.test'], allowPrivate: true },
      async () => [{ address: '127.0.0.1', family: 4 }],
    );
    expect((await loader.load(`http://images.test:${port}/ok.png`)).bytes.equals(png)).toBe(true);
    expect((await loader.load(`http://images.test:${port}/redirect`)).type).toBe('image/png');
  });

  /** The reason and permanence of a load from the local test server through a loader that may reach it. */
  async function localFailure(path: string): Promise<[string, boolean]> {
    const loader = new ImageLoader({
      ...base,
      allowedHosts: ['127.0.0.1'],
      allowPrivate: true,
      timeoutMs: 300,
    });
    const err = await failure(loader.load(`http://127.0.0.1:${port}${path}`));
    return [err.reason, err.permanent];
  }

  it('re-checks redirects and classifies HTTP failures', async () => {
    expect((await localFailure('/to-metadata'))[0]).toBe('image_blocked');
    expect((await localFailure('/nope'))[0]).toBe('image_not_found');
    expect(await localFailure('/flaky')).toEqual(['image_fetch_failed', false]);
    expect(await localFailure('/slow')).toEqual(['image_timeout', false]);
    expect(await localFailure('/big')).toEqual(['image_too_large', true]);
  });

  it('times out a slow body and a slow redirect chain, and fails an over-size chunked body permanently', async () => {
    expect(await localFailure('/slow-body')).toEqual(['image_timeout', false]);
    // Each hop answers within the deadline; together they do not.
    expect(await localFailure('/slow-redirect-1')).toEqual(['image_timeout', false]);
    expect(await localFailure('/big-chunked')).toEqual(['image_too_large', true]);
  });

  it.each([
    'http://[::127.0.0.1]/a.png',
    'http://[::ffff:7f00:1]/a.png',
    'http://[::ffff:0:7f00:1]/a.png',
    'http://[64:ff9b::a9fe:a9fe]/a.png',
    'http://[64:ff9b:1::7f00:1]/a.png',
    'http://[2002:7f00:1::1]/a.png',
    'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.png',
  ])('blocks %s before connecting', async (url) => {
    const err = await failure(new ImageLoader({ ...base, allowedHosts: ['*'] }).load(url));
    expect([err.reason, err.permanent]).toEqual(['image_blocked', true]);
  });

  it('decodes to 224x224 RGB and refuses undecodable images and pixel bombs', async () => {
    const px = await toEncoderPixels(png, 1_000_000);
    expect(px.length).toBe(PIXELS_PER_IMAGE);
    const broken = await failure(toEncoderPixels(png.subarray(0, 60), 1_000_000));
    expect([broken.reason, broken.permanent]).toEqual(['image_undecodable', true]);
    expect((await failure(toEncoderPixels(png, 1_000))).reason).toBe('image_too_large');
    const grey = await sharp({ create: { width: 10, height: 30, channels: 3, background: '#808080' } })
      .greyscale()
      .png()
      .toBuffer();
    expect((await toEncoderPixels(grey, 1_000_000)).length).toBe(PIXELS_PER_IMAGE);
  });
});
