import * as fs from 'node:fs';
import * as path from 'node:path';

import { UserError } from '../util/errors.js';

/**
 * Checks of command-line paths and option combinations that the experiment code cannot make
 * (it does not know which option a value came from), and the clean-up of output folders that a
 * failed command created but never wrote to.
 */

/** Folders (the topmost one each command created) to remove again if a command fails empty. */
const claimedFolders: string[] = [];

/**
 * Checks an output folder given as `option` (an empty path, or a path naming a file, is a
 * UserError) and remembers the topmost folder of its path that does not exist yet, so that
 * removeUnusedOutFolders can take it away again when the command fails before writing anything.
 */
export function claimOutFolder(option: string, folder: string): void {
  if (folder.trim() === '') {
    throw new UserError(`${option}: an empty path was given; expected an output folder`);
  }
  let existing = path.resolve(folder);
  let created: string | undefined;
  while (!fs.existsSync(existing)) {
    created = existing;
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  if (!fs.statSync(existing).isDirectory()) {
    throw new UserError(`${option}: ${existing} is a file, not a folder; expected a folder `
      + '(or a path that does not exist yet)');
  }
  if (created !== undefined) claimedFolders.push(created);
}

/** Removes the claimed folders that hold no file (only empty folders); called on failure. */
export function removeUnusedOutFolders(): void {
  for (const folder of claimedFolders.splice(0)) {
    try {
      if (fs.existsSync(folder) && holdsNoFile(folder)) {
        fs.rmSync(folder, { recursive: true, force: true });
      }
    } catch {
      // Best effort: a folder we cannot inspect or remove stays.
    }
  }
}

function holdsNoFile(folder: string): boolean {
  return fs.readdirSync(folder, { withFileTypes: true }).every((entry) => entry.isDirectory()
    && holdsNoFile(path.join(folder, entry.name)));
}

/**
 * Checks the data options against each other and the task(s) that will use them: a source
 * folder only with a source read from files, and it must be a folder; --items only when a
 * segmentation task runs.
 */
export function checkDataCombination(values: Record<string, unknown>, source: string,
  tasks: readonly string[]): void {
  const folder = values['source-folder'];
  if (typeof folder === 'string') {
    if (source === 'mnist-embedded') {
      throw new UserError('--source-folder: the mnist-embedded source is built in and reads no '
        + 'files; expected --source mnist or fashion-mnist with it');
    }
    if (folder.trim() === '') {
      throw new UserError('--source-folder: an empty path was given; expected a folder');
    }
    if (fs.existsSync(folder) && !fs.statSync(folder).isDirectory()) {
      throw new UserError(`--source-folder: ${folder} is not a folder; expected the folder `
        + 'holding the IDX files');
    }
  }
  if (values.items !== undefined && !tasks.includes('segmentation')) {
    throw new UserError('--items: items per sphere apply to segmentation only; expected no '
      + '--items with a classification task');
  }
}
