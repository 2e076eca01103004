#!/usr/bin/env node
import { UserError } from '../util/errors.js';
import { Interrupted } from '../train/trainer.js';
import { removeUnusedOutFolders } from './checks.js';
import { COMMANDS, commandHelp, mainHelp } from './commands.js';
import { packageVersion } from './environment.js';
import { closeProgressLine } from './progress.js';

/**
 * The `equisphere` command line. Every error caused by the user (options, files, settings) is
 * printed as one line "equisphere: error: ..." with exit status 1; an interruption (Ctrl-C)
 * exits with 130 after saying what was kept; anything unexpected prints a short message (and the
 * stack only with EQUISPHERE_DEBUG=1) and exits with 2.
 */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !(topic in COMMANDS)) throw unknownCommand(topic);
    process.stdout.write(topic === undefined ? mainHelp() : commandHelp(topic));
    return 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`equisphere ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw unknownCommand(name);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(name));
    return 0;
  }
  return command.run(rest);
}

function unknownCommand(name: string): UserError {
  const known = Object.keys(COMMANDS).join(', ');
  return new UserError(
    `unknown command '${name}'; expected one of ${known} (see: equisphere help)`);
}

// Output piped into a program that stops reading (`equisphere info | head -1`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    closeProgressLine();
    removeUnusedOutFolders();
    if (error instanceof UserError) {
      process.stderr.write(`equisphere: error: ${error.message}\n`);
      process.exitCode = 1;
    } else if (error instanceof Interrupted) {
      process.stderr.write(`equisphere: ${error.message}\n`);
      process.exitCode = 130;
    } else {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      process.stderr.write(`equisphere: internal error: ${message.split('\n')[0]}\n`);
      if (process.env.EQUISPHERE_DEBUG === '1' && error instanceof Error) {
        process.stderr.write(`${error.stack}\n`);
      } else {
        process.stderr.write(
          'equisphere: this is a bug; rerun with EQUISPHERE_DEBUG=1 for details\n');
      }
      process.exitCode = 2;
    }
  },
);
