import { parseArgs, type ParseArgsConfig } from 'node:util';

import { UserError } from '../util/errors.js';

/**
 * Command-line parsing on node:util parseArgs, with every mistake turned into a one-line
 * UserError (unknown option, missing value, malformed number) naming the option.
 */

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** Parses `argv` against `options`; returns option values and positionals. */
export function parseCommand(command: string, argv: string[], options: OptionSpec,
  allowPositionals = false): { values: ParsedValues; positionals: string[] } {
  try {
    const args = joinNegativeValues(argv, options);
    const parsed = parseArgs({ args, options, allowPositionals, strict: true });
    return { values: parsed.values as ParsedValues, positionals: parsed.positionals };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0].replace(/\.$/, '');
    throw new UserError(`${command}: ${lowerFirst(message)} (see: equisphere help ${command})`);
  }
}

/**
 * Rewrites `--opt -3` as `--opt=-3` for options that take a value: parseArgs reads a value that
 * starts with '-' as an option and reports it as ambiguous, while the number's own check gives a
 * clear message ("expected an integer >= 1, got '-3'").
 */
export function joinNegativeValues(argv: readonly string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = token.startsWith('--') && !token.includes('=') ? token.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined
      && /^-(\d|\.\d|inf|nan)/i.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text[0].toLowerCase() + text.slice(1) : text;
}

/** A string option's value, or `fallback` when absent. */
export function stringOption(values: ParsedValues, name: string, fallback: string): string;
export function stringOption(values: ParsedValues, name: string): string | undefined;
export function stringOption(values: ParsedValues, name: string,
  fallback?: string): string | undefined {
  const value = values[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new UserError(`--${name} expects a value`);
  return value;
}

/** An integer option in [min, max]; absent -> fallback. */
export function integerOption(values: ParsedValues, name: string, fallback: number,
  min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  return parseInteger(`--${name}`, text, min, max);
}

/** Parses an integer such as "2000", "2k" or "1_000", within [min, max]. */
export function parseInteger(name: string, text: string, min = 1,
  max = Number.MAX_SAFE_INTEGER): number {
  const match = /^\s*(\d[\d_]*)(k|m)?\s*$/i.exec(text);
  const scale = match?.[2] === undefined ? 1 : match[2].toLowerCase() === 'k' ? 1000 : 1e6;
  const value = match === null ? NaN : Number(match[1].replace(/_/g, '')) * scale;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}`
      : `an integer in ${min}..${max}`;
    throw new UserError(`${name}: expected ${range}, got '${text}'`);
  }
  return value;
}

/** A positive finite number option; absent -> fallback. */
export function numberOption(values: ParsedValues, name: string, fallback: number): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UserError(`--${name}: expected a positive number, got '${text}'`);
  }
  return value;
}

/** One of `choices`; absent -> fallback. */
export function choiceOption<T extends string>(values: ParsedValues, name: string,
  choices: readonly T[], fallback: T): T {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UserError(`--${name}: expected one of ${choices.join(', ')}, got '${text}'`);
  }
  return text as T;
}

/** A comma-separated list option without empty or repeated items; absent -> fallback. */
export function listOption(values: ParsedValues, name: string, fallback: string[]): string[] {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item.length === 0)) {
    throw new UserError(`--${name}: expected a comma-separated list without empty items, got `
      + `'${text}'`);
  }
  const repeated = items.find((item, i) => items.indexOf(item) !== i);
  if (repeated !== undefined) {
    throw new UserError(`--${name}: '${repeated}' is given twice; expected each item once`);
  }
  return items;
}

/** Parses a memory size: "16G", "512M", "2.5GiB", "1000000000" (bytes). */
export function parseBytes(name: string, text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (match === null) {
    throw new UserError(`${name}: expected a size such as 8G or 512M, got '${text}'`);
  }
  const power = ' kmgt'.indexOf(match[2].toLowerCase() || ' ');
  const value = Number(match[1]) * 1024 ** power;
  if (!(value > 0)) throw new UserError(`${name}: expected a positive size, got '${text}'`);
  return Math.round(value);
}
