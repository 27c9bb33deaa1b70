import { lookup as dnsLookup } from 'node:dns/promises';
import { constants as fsConstants, promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { permanent, transient } from '../errors';
import { isHostAllowed, isNonPublicAddress } from './address-policy';
import { type ImageType, sniffImageType } from './sniff';

export interface ImageLoaderOptions {
  allowedHosts: readonly string[];
  allowPrivate: boolean;
  allowFiles: boolean;
  /** Absolute directories local files must lie under; empty = no local files. */
  fileRoots: readonly string[];
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
}

export interface LoadedImage {
  bytes: Buffer;
  type: ImageType;
}

type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

/**
 * Reads an item's image from a path, a file:// URL or an allow-listed http(s) URL, enforcing the
 * size and time limits, and sniffs its type. Remote fetches connect to the address that was checked
 * (no second DNS answer can point elsewhere), and every redirect is checked again.
 */
export class ImageLoader {
  private realRoots: Promise<string[]> | undefined;

  constructor(
    private readonly opts: ImageLoaderOptions,
    private readonly lookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true }),
  ) {}

  async load(source: string): Promise<LoadedImage> {
    const bytes = await this.read(source);
    const type = sniffImageType(bytes);
    if (!type) throw permanent('image_unsupported_type', `not a PNG, JPEG, GIF or WebP image: ${source}`);
    return { bytes, type };
  }

  private async read(source: string): Promise<Buffer> {
    if (/^https?:\/\//i.test(source)) {
      // One deadline for the whole fetch: DNS, every redirect and the body. The signal frees the socket.
      const signal = AbortSignal.timeout(this.opts.timeoutMs);
      return withDeadline(this.opts.timeoutMs, `no complete answer in time: ${source}`, () =>
        this.fetch(new URL(source), this.opts.maxRedirects, source, signal),
      );
    }
    if (/^file:\/\//i.test(source)) return this.readFile(fileURLToPath(source));
    if (/^[a-z][a-z0-9+.-]*:/i.test(source) && !isAbsolute(source))
      throw permanent('image_blocked', `unsupported scheme: ${source.slice(0, 40)}`);
    return this.readFile(source);
  }

  /**
   * Local files: only under EMBEDDER_IMAGE_FILE_ROOTS (none by default), only regular files, and within
   * the same deadline as a fetch. Nothing outside the roots is touched: the path is checked as written
   * before any system call, then again after resolving symlinks. The file is opened non-blocking and
   * checked with fstat, so a FIFO or device swapped in after the stat cannot stall the worker.
   */
  private async readFile(path: string): Promise<Buffer> {
    const { allowFiles, fileRoots } = this.opts;
    if (!allowFiles || fileRoots.length === 0)
      throw permanent('image_blocked', 'local files are not allowed (no EMBEDDER_IMAGE_FILE_ROOTS)');
    const lexical = resolve(path);
    if (!underAny(lexical, fileRoots))
      throw permanent('image_blocked', `outside the allowed directories: ${path}`);
    return withDeadline(this.opts.timeoutMs, `no complete read in time: ${path}`, async () => {
      let real: string;
      try {
        real = await fs.realpath(lexical);
      } catch (err) {
        throw fileError(err, path);
      }
      // A symlink inside a root must not lead outside it (roots compared by their real paths too).
      this.realRoots ??= Promise.all(fileRoots.map((r) => fs.realpath(r).catch(() => r)));
      if (!underAny(real, await this.realRoots))
        throw permanent('image_blocked', `outside the allowed directories: ${path}`);
      let handle: fs.FileHandle | undefined;
      try {
        if (!(await fs.stat(real)).isFile()) throw permanent('image_blocked', `not a regular file: ${path}`);
        handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
        const stat = await handle.stat();
        if (!stat.isFile()) throw permanent('image_blocked', `not a regular file: ${path}`);
        if (stat.size > this.opts.maxBytes)
          throw permanent('image_too_large', `${stat.size} bytes > ${this.opts.maxBytes}: ${path}`);
        return await readCapped(handle, this.opts.maxBytes, path);
      } catch (err) {
        throw fileError(err, path);
      } finally {
        await handle?.close();
      }
    });
  }

  private async fetch(
    url: URL,
    redirectsLeft: number,
    original: string,
    deadline: AbortSignal,
  ): Promise<Buffer> {
    const address = await this.vet(url);
    if (deadline.aborted) throw transient('image_timeout', `no complete answer in time: ${original}`);
    const res = await this.request(url, address, deadline);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (redirectsLeft <= 0) throw permanent('image_fetch_failed', `too many redirects: ${original}`);
      return this.fetch(new URL(res.headers.location, url), redirectsLeft - 1, original, deadline);
    }
    if (status !== 200) {
      res.resume();
      if (status === 404 || status === 410) throw permanent('image_not_found', `HTTP ${status}: ${original}`);
      if (status === 408 || status === 429 || status >= 500)
        throw transient('image_fetch_failed', `HTTP ${status}: ${original}`);
      throw permanent('image_fetch_failed', `HTTP ${status}: ${original}`);
    }
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (declared > this.opts.maxBytes) {
      res.destroy();
      throw permanent('image_too_large', `${declared} bytes > ${this.opts.maxBytes}: ${original}`);
    }
    return this.readBody(res, deadline, original);
  }

  /** Checks scheme, allow-list and every address the host resolves to; returns the one to connect to. */
  private async vet(url: URL): Promise<{ address: string; family: number }> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw permanent('image_blocked', `unsupported scheme: ${url.protocol}`);
    if (url.username || url.password)
      throw permanent('image_blocked', 'credentials in image URLs are not allowed');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!isHostAllowed(host, this.opts.allowedHosts))
      throw permanent('image_blocked', `host not allow-listed: ${host}`);
    let addresses: { address: string; family: number }[];
    if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await this.lookup(host);
      } catch (err) {
        throw transient('image_fetch_failed', `cannot resolve ${host}: ${(err as Error).message}`);
      }
    }
    if (addresses.length === 0) throw transient('image_fetch_failed', `no address for ${host}`);
    if (!this.opts.allowPrivate) {
      const bad = addresses.find((a) => isNonPublicAddress(a.address));
      if (bad) throw permanent('image_blocked', `${host} resolves to a non-public address (${bad.address})`);
    }
    return addresses[0]!;
  }

  private request(
    url: URL,
    pinned: { address: string; family: number },
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const pinnedLookup = ((_host, options, cb) => {
      if ((options as { all?: boolean }).all) cb(null, [pinned]);
      else (cb as (e: null, a: string, f: number) => void)(null, pinned.address, pinned.family);
    }) as LookupFunction;
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolveRes, reject) => {
      const req = client.get(
        url,
        { lookup: pinnedLookup, signal, headers: { accept: 'image/*', 'user-agent': 'mmctr-embedder' } },
        resolveRes,
      );
      req.on('error', (err) => reject(requestError(err, signal, url.href)));
    });
  }

  private readBody(res: http.IncomingMessage, signal: AbortSignal, source: string): Promise<Buffer> {
    return new Promise((resolveBody, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      // The first outcome wins: destroying the stream after the size cap must not turn the permanent
      // failure into a transient one through the error or close it causes.
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
        res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > this.opts.maxBytes)
          return fail(permanent('image_too_large', `more than ${this.opts.maxBytes} bytes: ${source}`));
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolveBody(Buffer.concat(chunks, size));
      });
      res.on('error', (err) => fail(requestError(err, signal, source)));
      res.on('aborted', () => fail(requestError(new Error('aborted'), signal, source)));
      res.on('close', () =>
        fail(requestError(new Error('connection closed before the body ended'), signal, source)),
      );
    });
  }
}

function underAny(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep));
}

/** Reads at most maxBytes (the file may have grown since its stat); more is a permanent failure. */
async function readCapped(handle: fs.FileHandle, maxBytes: number, path: string): Promise<Buffer> {
  const buf = Buffer.alloc(Math.min(maxBytes + 1, 1 << 20));
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, null);
    if (bytesRead === 0) return Buffer.concat(chunks, size);
    size += bytesRead;
    if (size > maxBytes) throw permanent('image_too_large', `more than ${maxBytes} bytes: ${path}`);
    chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
  }
}

/** Runs `work` with a deadline; past it the caller gets a transient image_timeout. */
async function withDeadline<T>(ms: number, message: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(transient('image_timeout', message)), ms);
  });
  const running = work();
  running.catch(() => undefined); // settles after the deadline too; its failure is not news then
  try {
    return await Promise.race([running, late]);
  } finally {
    clearTimeout(timer);
  }
}

function requestError(err: Error, signal: AbortSignal, source: string) {
  if (signal.aborted) return transient('image_timeout', `no complete answer in time: ${source}`);
  return transient('image_fetch_failed', `${err.message}: ${source}`);
}

function fileError(err: unknown, path: string) {
  if (err instanceof Error && err.name === 'EmbedFailure') return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')
    return permanent('image_not_found', `no such file: ${path}`);
  if (code === 'EACCES' || code === 'EPERM') return permanent('image_blocked', `not readable: ${path}`);
  if (code === 'ELOOP') return permanent('image_blocked', `became a symlink while being opened: ${path}`);
  return transient('image_fetch_failed', `${(err as Error).message}: ${path}`);
}
