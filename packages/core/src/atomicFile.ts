import { open, rename, rm } from 'node:fs/promises';

/**
 * Replaces `file` with `text` so that a crash leaves the old content or the new, never a
 * mix: write a temporary file beside it, flush it to disk, rename it over the target.
 */
export async function writeFileAtomic(file: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const handle = await open(tmp, 'w', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
