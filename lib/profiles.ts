/**
 * The AWS shared files: `~/.aws/config` and `~/.aws/credentials`, or
 * AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE ("AWS SDKs and Tools
 * Reference Guide", "Shared config and credentials files"). A profile is
 * `[profile NAME]` (or `[default]`) in the config file and `[NAME]` in the
 * credentials file; where both set a key, the credentials file wins, as in
 * botocore. This module finds a profile and reads its settings; chain.ts
 * turns its credential keys into credentials.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { IniError, type IniFile, type IniSection, parseIni } from './ini.js';
import type { Environment } from './settings.js';

/** One shared file: where it is, and its sections when it exists. */
export interface SharedFile {
  path: string;
  sections: IniFile | undefined;
}

export interface SharedFiles {
  config: SharedFile;
  credentials: SharedFile;
}

/** A profile of the shared files: its keys from the credentials file and from the config file. */
export interface Profile {
  name: string;
  credentials: IniSection | undefined;
  config: IniSection | undefined;
}

/** `~` as botocore expands it: HOME from the environment given, else the account's home. */
function expandHome(path: string, env: Environment): string {
  return path.startsWith('~/') || path === '~' ? join(env.HOME || homedir(), path.slice(1)) : path;
}

/** A shared file's sections; a missing file has none, and so has a malformed one, after `broken` is told why. */
function readShared(path: string, broken: (error: IniError) => void): SharedFile {
  try {
    // A FIFO or a device (/dev/zero) would never end: only a regular file is read.
    if (!statSync(path).isFile()) {
      broken(new IniError(path, 0, 'is not a regular file'));
      return { path, sections: undefined };
    }
    return { path, sections: parseIni(readFileSync(path, 'utf8'), path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { path, sections: undefined };
    broken(
      error instanceof IniError ? error : new IniError(path, 0, `cannot be read (${code ?? (error as Error).message})`),
    );
    return { path, sections: undefined };
  }
}

/** Reads both shared files; `broken` hears of each that cannot be read or parsed. */
export function readSharedFiles(env: Environment, broken: (error: IniError) => void): SharedFiles {
  return {
    config: readShared(expandHome(env.AWS_CONFIG_FILE || '~/.aws/config', env), broken),
    credentials: readShared(expandHome(env.AWS_SHARED_CREDENTIALS_FILE || '~/.aws/credentials', env), broken),
  };
}

/** The profile chosen: the TOML `profile`, then AWS_PROFILE, then `default`. */
export function profileName(explicit: string | undefined, env: Environment): string {
  return explicit || env.AWS_PROFILE || 'default';
}

/**
 * Splits a line into words as POSIX sh would without expanding anything, as Python's shlex.split does for botocore:
 * quotes group, a backslash escapes outside single quotes. Undefined for an unterminated quote.
 */
export function splitWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (c === '\\' && i + 1 < line.length && (quote === undefined || '"\\$`'.includes(line[i + 1]!))) {
      word = (word ?? '') + line[++i];
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (quote !== undefined) return undefined;
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * The config file's section of a profile: `[profile NAME]` (the header split as botocore splits it, so `[profile "a
 * b"]` names `a b`), or `[default]` for default (botocore takes `[profile default]` too).
 */
function configSection(file: IniFile | undefined, name: string): IniSection | undefined {
  if (file === undefined) return undefined;
  for (const [header, section] of file) {
    if (!header.startsWith('profile')) continue;
    const words = splitWords(header);
    if (words?.length === 2 && words[0] === 'profile' && words[1] === name) return section;
  }
  return name === 'default' ? file.get('default') : undefined;
}

/** The profile named, or undefined when neither file has it. */
export function findProfile(files: SharedFiles, name: string): Profile | undefined {
  const credentials = files.credentials.sections?.get(name);
  const config = configSection(files.config.sections, name);
  return credentials === undefined && config === undefined ? undefined : { name, credentials, config };
}

/** A plain value of the profile: the credentials file's, else the config file's; '' counts as unset. */
export function profileValue(profile: Profile, key: string): string | undefined {
  for (const section of [profile.credentials, profile.config]) {
    const value = section?.get(key);
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/**
 * A service's endpoint_url in the profile: in its sub-section (`s3 =` then `  endpoint_url = ...`), else the
 * profile's own endpoint_url, which applies to every service.
 */
export function profileEndpoint(profile: Profile, service: string): string | undefined {
  for (const section of [profile.credentials, profile.config]) {
    const nested = section?.get(service);
    const value = typeof nested === 'object' ? nested.get('endpoint_url') : undefined;
    if (value) return value;
  }
  return profileValue(profile, 'endpoint_url');
}

/** How messages name the files a profile was looked for in. */
export function filesShown(files: SharedFiles): string {
  return `${files.config.path} or ${files.credentials.path}`;
}
