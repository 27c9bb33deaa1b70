import sharp from 'sharp';
import { permanent } from '../errors';

export const IMAGE_SIZE = 224;
export const PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE * 3;

/**
 * Decodes an image (refusing more than `maxPixels` before decoding: no decompression bombs), scales
 * its shorter side to 224 and centre-crops, flattens transparency onto white and returns RGB bytes,
 * NHWC: the image encoder's input (its graph does the normalisation).
 */
export async function toEncoderPixels(bytes: Buffer, maxPixels: number): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate()
      .resize(IMAGE_SIZE, IMAGE_SIZE, { fit: 'cover', position: 'centre' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== PIXELS_PER_IMAGE)
      throw new Error(`unexpected decoder output: ${info.width}x${info.height}x${info.channels}`);
    return data;
  } catch (err) {
    const msg = (err as Error).message;
    if (/pixel limit/i.test(msg)) throw permanent('image_too_large', `more than ${maxPixels} pixels`);
    throw permanent('image_undecodable', msg);
  }
}
