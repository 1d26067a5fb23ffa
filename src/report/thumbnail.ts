import sharp from 'sharp';

/** A small JPEG as a data: URI, so the report needs no other file and no network; null when the image cannot be read. */
export async function thumbnail(file: string, size = 160): Promise<string | null> {
  try {
    const buf = await sharp(file).rotate().resize(size, size, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${buf.toString('base64')}`;
  } catch {
    return null;
  }
}
