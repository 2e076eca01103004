import * as fs from 'node:fs';
import * as path from 'node:path';

import { UserError } from './errors.js';

/**
 * Writes a file atomically: the bytes go to a temporary file in the same folder, which is then
 * renamed over the target. A reader never sees a half-written file, and an interrupted write
 * leaves the old file (or none) in place.
 */
export function writeFileAtomic(filePath: string, data: string | Uint8Array): void {
  const folder = path.dirname(filePath);
  ensureWritableFolder(folder);
  const temporaryName = `.${path.basename(filePath)}.${process.pid}.${Date.now()}.tmp`;
  const temporary = path.join(folder, temporaryName);
  try {
    fs.writeFileSync(temporary, data);
    fs.renameSync(temporary, filePath);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw new UserError(`cannot write ${filePath}: ${(error as Error).message}`);
  }
}

/** Creates `folder` if needed and checks that files can be written there. */
export function ensureWritableFolder(folder: string): void {
  try {
    fs.mkdirSync(folder, { recursive: true });
    fs.accessSync(folder, fs.constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(
      `output folder ${folder} is not writable (${code}); expected a folder this user can write to`,
    );
  }
}
