#!/usr/bin/env node
/**
 * The `s3v4` command: the library's operations on the configured bucket, from
 * a shell. Output is for people, or JSON with --json; messages go to stderr.
 * Exit status: 0 success, 1 an operation failed, 2 bad usage or
 * configuration, 130 interrupted (Ctrl-C: multipart uploads are aborted and
 * partial downloads removed before it exits), 141 standard output closed
 * (`s3v4 ls | head`: the command stops quietly). Here: the entry point, help,
 * parsing and the error report; the commands are in commands.ts and the
 * transfers they call in transfers.ts.
 */
import { setMaxListeners } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { closest } from './arguments.js';
// The client and doctor (and undici with them) are imported when a command needs them: --help and usage errors stay
// quick.
import type { S3Client } from './client.js';
import {
  COMMANDS,
  DEFAULT_JOBS,
  type Command,
  type Context,
  EXIT,
  GLOBAL,
  jobsOption,
  MANY,
  OPTIONS,
  type OptionName,
  type Values,
  write,
} from './commands.js';
import { loadConfig } from './config.js';
import { AbortError, ConfigError, InvalidArgumentError, S3v4Error, UsageError } from './errors.js';

/** The overview --help prints: every command's usage and summary, then the config and exit statuses. */
function help(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return [
    'usage: s3v4 COMMAND [ARGS] [--config FILE] [--json]',
    '',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'The config is --config FILE, else $S3V4_CONFIG, else ./config.toml (the [object_store.s3] table);',
    'AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL_S3 fill empty keys.',
    '--json prints results as JSON (ls: one JSON object per line). ' +
      'Exit status: 0 ok, 1 failed, 2 bad usage or config, 130 interrupted, 141 stdout closed.',
    's3v4 COMMAND --help shows one command; s3v4 --version the version.',
  ].join('\n');
}

/** The command of that name, if there is one (not an inherited property such as toString). */
function commandNamed(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/** One command's help: its usage, summary and the options it takes. */
function commandHelp(command: Command): string {
  const flags = [...command.options, ...GLOBAL].map((o) => `--${o}`).join(', ');
  return `usage: s3v4 ${command.usage}\n\n${command.summary}.\noptions: ${flags}`;
}

/** The command line's options and positionals; a usage error for anything parseArgs refuses. */
function parse(argv: readonly string[]): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError(parseArgsRefusal((error as Error).message, argv));
  }
}

/**
 * parseArgs' refusal in the command line's words. It takes a value that starts with a dash (`--jobs -1`) for the next
 * option, and says so in three lines of its own; an unknown option gets the command's options, and the nearest.
 */
function parseArgsRefusal(message: string, argv: readonly string[]): string {
  const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if (unknown !== undefined) return unknownOption(unknown, argv);
  const flag = /^Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(message)?.[1];
  if (flag === undefined) return message;
  const value = argv[argv.indexOf(flag) + 1] ?? '';
  return `${flag} needs a value, and "${value}" after it starts with a dash: write ${flag}=${value} to pass it`;
}

/** "unknown option --chekcsum (--checksum?); sync takes ...": the options of the command named, else all of them. */
function unknownOption(option: string, argv: readonly string[]): string {
  // The first word that is neither an option nor the value of one (--config FILE).
  const takesValue = (arg: string | undefined) =>
    arg?.startsWith('--') === true && !arg.includes('=') && OPTIONS[arg.slice(2) as OptionName]?.type === 'string';
  const name = argv.find((arg, at) => !arg.startsWith('-') && !takesValue(argv[at - 1]));
  const command = commandNamed(name);
  const known = command === undefined ? Object.keys(OPTIONS) : [...command.options, ...GLOBAL];
  const typed = option.replace(/^-+/, '').split('=')[0]!;
  const nearest = closest(typed, known);
  const guess = nearest === undefined || nearest.distance > 2 ? '' : ` (--${nearest.name}?)`;
  const takes = command === undefined ? 'the options are' : `${name} takes`;
  const list = known.map((o) => `--${o}`).join(', ');
  // parseArgs' own advice, shortened: a name that starts with a dash is a positional after --.
  return `unknown option ${option}${guess}; ${takes} ${list}; a FILE or KEY that starts with - goes after --`;
}

/** The package's version, from its package.json. */
function version(): string {
  // lib/cli.ts and dist/cli.js both sit one level below package.json.
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Runs the command line; resolves to the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  // Every request of a transfer listens to it, --jobs of them at once with their ranges: Node's warning at 11
  // listeners is about leaks, and these are not.
  setMaxListeners(0, controller.signal);
  const interrupt = (signal: NodeJS.Signals) => {
    // A second Ctrl-C does not wait for the cleanup.
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    // Cleaning up waits for the server (aborting an upload): said at once, so a slow one does not look hung.
    const again = signal === 'SIGINT' ? 'Ctrl-C again' : `a second ${signal}`;
    write(process.stderr, `s3v4: stopping: cleaning up first (${again} quits at once, leaving any upload open)`);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  // A closed terminal or a dropped ssh session: cleaned up like Ctrl-C, so no upload or partial file is left.
  process.on('SIGHUP', interrupt);
  // A failed stdout stops the command like Ctrl-C. A reader that went away (`s3v4 ls | head -1`, EPIPE) does so
  // quietly, with status 141 = 128 + SIGPIPE (13): what a shell reports for cat, ls or grep killed by writing to a
  // closed pipe. Node ignores SIGPIPE, so the status is set rather than received; nothing is printed, as those tools
  // print nothing. The status is set here too, for a write that fails after the command has finished.
  let failedOutput: NodeJS.ErrnoException | undefined;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    failedOutput ??= error;
    if (error.code === 'EPIPE') process.exitCode = EXIT.closed;
    controller.abort(error);
  });
  // A closed stderr leaves no one to warn: the command carries on, and its status still says how it went.
  process.stderr.on('error', () => undefined);
  // Known before parsing, so that a refused option is reported as JSON too when --json was asked for.
  let json = argv.includes('--json');
  let resuming = false;
  try {
    const { values, positionals } = parse(argv);
    json = values.json === true;
    resuming = values.resume === true;
    if (values.version === true) {
      write(process.stdout, json ? JSON.stringify({ version: version() }) : version());
      return EXIT.ok;
    }
    const [name, ...args] = positionals;
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? commandNamed(args[0]) : undefined;
      // Help asked for goes to stdout; help instead of a missing command is a usage error.
      const asked = name === 'help' || values.help === true;
      write(asked ? process.stdout : process.stderr, topic === undefined ? help() : commandHelp(topic));
      return asked ? EXIT.ok : EXIT.usage;
    }
    const command = commandNamed(name);
    if (command === undefined)
      throw new UsageError(
        `unknown command "${name}"; the commands are ${Object.keys(COMMANDS).join(', ')} (s3v4 --help)`,
      );
    if (values.help === true) {
      write(process.stdout, commandHelp(command));
      return EXIT.ok;
    }
    for (const option of Object.keys(values) as OptionName[]) {
      if (!GLOBAL.includes(option) && !command.options.includes(option))
        throw new UsageError(`--${option} does not apply to ${name}; usage: s3v4 ${command.usage}`);
    }
    if (args.length < command.args[0] || args.length > command.args[1]) {
      throw new UsageError(`${name} takes ${arity(command.args)}, got ${args.length}; usage: s3v4 ${command.usage}`);
    }
    const path = configPath(values);
    const { S3Client } = await import('./client.js');
    let client: S3Client | undefined;
    const context: Context = {
      configPath: path,
      get client() {
        if (client === undefined) {
          const config = loadConfig(path);
          for (const warning of config.warnings) write(process.stderr, `s3v4: warning: ${warning}`);
          client = new S3Client(config);
        }
        return client;
      },
      values,
      signal: controller.signal,
      force: values.force === true,
      jobs: jobsOption(values.jobs, DEFAULT_JOBS),
      print: (human, result) => write(process.stdout, json ? JSON.stringify(result) : human),
      line: (human) => {
        if (!json) write(process.stdout, human);
      },
      result: (result) => {
        if (json) write(process.stdout, JSON.stringify(result));
      },
      warn: (message) => write(process.stderr, `s3v4: ${message}`),
    };
    try {
      return await command.run(context, args);
    } finally {
      await client?.close();
    }
  } catch (error) {
    if (failedOutput?.code === 'EPIPE') return EXIT.closed;
    if (failedOutput !== undefined) return report(failedOutput, false, false, false);
    return report(error, json, controller.signal.aborted, resuming);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    process.off('SIGHUP', interrupt);
  }
}

/** How many arguments a command takes, in words: "2 arguments", "at least 2 arguments", "0 to 1 arguments". */
function arity([least, most]: readonly [number, number]): string {
  if (least === most) return least === 0 ? 'no arguments' : `${least} argument${least === 1 ? '' : 's'}`;
  return most === MANY ? `at least ${least} argument${least === 1 ? '' : 's'}` : `${least} to ${most} arguments`;
}

/** --config, else $S3V4_CONFIG, else ./config.toml. */
function configPath(values: Values): string {
  if (values.config !== undefined) return values.config;
  const fromEnv = process.env.S3V4_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!existsSync('config.toml'))
    throw new UsageError('no configuration: pass --config FILE, set S3V4_CONFIG, or create ./config.toml');
  return 'config.toml';
}

/** What is left of an upload with --resume, which keeps it: how to go on. */
const KEPT = 'any multipart upload it had begun is kept on the server: the same put --resume continues it';

/** Prints the error, names what to fix, and picks the exit status. */
function report(error: unknown, json: boolean, interrupted: boolean, resuming: boolean): number {
  const status =
    interrupted || error instanceof AbortError
      ? EXIT.interrupted
      : error instanceof UsageError || error instanceof ConfigError || error instanceof InvalidArgumentError
        ? EXIT.usage
        : EXIT.failed;
  const message =
    status === EXIT.interrupted
      ? resuming
        ? `interrupted: ${KEPT}`
        : 'interrupted: nothing was left half-done (multipart uploads aborted, partial downloads removed)'
      : (error as Error).message + (resuming && status === EXIT.failed ? `; ${KEPT}` : '');
  const code = error instanceof S3v4Error ? error.code : ((error as { code?: string }).code ?? 'ERR_S3V4_FAILED');
  if (json) write(process.stdout, JSON.stringify({ error: { code, message } }));
  write(process.stderr, `s3v4: ${message}`);
  return status;
}

// V8 compiles undici's HTTP parser (llhttp, WebAssembly) with its optimising tier in the background, and a process
// waits for that work before it exits: 130 to 220 ms of every command here (bench/coldstart.ts, README Speed). A
// command makes a few requests, for which the baseline tier parses as fast. This process is the command line's own;
// the library never sets a V8 flag in its users' processes.
setFlagsFromString('--liftoff-only');
const status = await main(process.argv.slice(2));
// A closed stdout may have set it already.
process.exitCode ??= status;
