export type Kind = 'image' | 'text';

interface Pending<I> {
  input: I;
  since: number;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

export interface BatchOptions {
  /** Most items in one inference call. */
  maxBatch: number;
  /** Longest an item waits for others to join its batch while a runner is free. */
  maxWaitMs: number;
  /** Batches that may run at once (one per inference thread). */
  slots: number;
}

export interface BatchStats {
  kind: Kind;
  size: number;
  seconds: number;
}

/**
 * Groups single-item requests into batches: a batch leaves as soon as it has `maxBatch` items, or
 * when its oldest item has waited `maxWaitMs`, whenever a slot is free. While every slot is busy
 * items keep joining, so batches grow with load. Image and text share the slots (they share cores).
 */
export class BatchScheduler<TImage, TText> {
  private readonly queues: { image: Pending<TImage>[]; text: Pending<TText>[] } = { image: [], text: [] };
  private busy = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly runImages: (inputs: TImage[]) => Promise<Float32Array[]>,
    private readonly runTexts: (inputs: TText[]) => Promise<Float32Array[]>,
    private readonly opts: BatchOptions,
    private readonly onBatch: (s: BatchStats) => void = () => {},
  ) {}

  image(input: TImage): Promise<Float32Array> {
    return this.submit('image', input);
  }

  text(input: TText): Promise<Float32Array> {
    return this.submit('text', input);
  }

  get pending(): number {
    return this.queues.image.length + this.queues.text.length;
  }

  /** Rejects what is still queued; running batches finish. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const q of [this.queues.image, this.queues.text] as Pending<unknown>[][])
      for (const p of q.splice(0)) p.reject(new Error('inference scheduler closed'));
  }

  private submit<K extends Kind>(kind: K, input: K extends 'image' ? TImage : TText): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('inference scheduler closed'));
    return new Promise((resolve, reject) => {
      (this.queues[kind] as Pending<unknown>[]).push({ input, since: performance.now(), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.busy < this.opts.slots) {
      const kind = this.nextKind(performance.now());
      if (!kind) break;
      this.dispatch(kind);
    }
    this.armTimer();
  }

  /** A full batch first; otherwise the kind whose oldest item has waited longest, once it is due. */
  private nextKind(now: number): Kind | null {
    const { image, text } = this.queues;
    if (image.length >= this.opts.maxBatch && text.length >= this.opts.maxBatch)
      return image[0]!.since <= text[0]!.since ? 'image' : 'text';
    if (image.length >= this.opts.maxBatch) return 'image';
    if (text.length >= this.opts.maxBatch) return 'text';
    const due = (q: Pending<unknown>[]) => q.length > 0 && now - q[0]!.since >= this.opts.maxWaitMs;
    const i = due(image);
    const t = due(text);
    if (i && t) return image[0]!.since <= text[0]!.since ? 'image' : 'text';
    return i ? 'image' : t ? 'text' : null;
  }

  private armTimer(): void {
    if (this.timer || this.busy >= this.opts.slots) return;
    const heads = [this.queues.image[0], this.queues.text[0]].filter((p) => p !== undefined);
    if (heads.length === 0) return;
    const oldest = Math.min(...heads.map((p) => p.since));
    const wait = Math.max(0, oldest + this.opts.maxWaitMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, wait);
  }

  private dispatch(kind: Kind): void {
    const batch = (this.queues[kind] as Pending<unknown>[]).splice(0, this.opts.maxBatch);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.busy++;
    const started = performance.now();
    const run =
      kind === 'image'
        ? this.runImages(batch.map((p) => p.input as TImage))
        : this.runTexts(batch.map((p) => p.input as TText));
    run
      .then((vectors) => {
        if (vectors.length !== batch.length)
          throw new Error(`${kind} batch returned ${vectors.length} vectors`);
        this.onBatch({ kind, size: batch.length, seconds: (performance.now() - started) / 1000 });
        batch.forEach((p, i) => p.resolve(vectors[i]!));
      })
      .catch((err) => batch.forEach((p) => p.reject(err)))
      .finally(() => {
        this.busy--;
        if (!this.closed) this.pump();
      });
  }
}
