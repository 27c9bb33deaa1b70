import { ConfigError } from '@mmctr/config';
import { loadEmbedderConfig } from './embedder-config';

describe('loadEmbedderConfig', () => {
  it('has defaults for everything', () => {
    const c = loadEmbedderConfig({});
    expect(c.EMBEDDER_CONCURRENCY).toBe(512);
    expect(c.EMBEDDER_WRITE_MAX_WAIT_MS).toBe(1_000);
    expect(c.EMBEDDER_IMAGE_ALLOWED_HOSTS).toEqual([]);
    expect(c.EMBEDDER_IMAGE_ALLOW_PRIVATE).toBe(false);
    expect(c.EMBEDDER_IMAGE_FILE_ROOTS).toEqual([]);
    expect(c.EMBEDDER_MODELS_DIR).toMatch(/\.cache\/models$/);
  });

  it('parses lists and booleans', () => {
    const c = loadEmbedderConfig({
      EMBEDDER_IMAGE_ALLOWED_HOSTS: 'cdn.example.com, *.img.example.org',
      EMBEDDER_IMAGE_ALLOW_PRIVATE: 'true',
    });
    expect(c.EMBEDDER_IMAGE_ALLOWED_HOSTS).toEqual(['cdn.example.com', '*.img.example.org']);
    expect(c.EMBEDDER_IMAGE_ALLOW_PRIVATE).toBe(true);
  });

  it('names the malformed variable', () => {
    expect(() => loadEmbedderConfig({ EMBEDDER_BATCH_MAX: '0' })).toThrow(ConfigError);
    expect(() => loadEmbedderConfig({ EMBEDDER_IMAGE_ALLOW_PRIVATE: 'yes' })).toThrow(
      /EMBEDDER_IMAGE_ALLOW_PRIVATE/,
    );
  });

  it('names blank numbers instead of reading them as 0', () => {
    expect(() => loadEmbedderConfig({ EMBEDDER_IMAGE_TIMEOUT_MS: '' })).toThrow(
      /EMBEDDER_IMAGE_TIMEOUT_MS: must be an integer/,
    );
  });
});
