/**
 * The least a Node.js client does for a sync up with nothing changed, timed by bench/cli.ts beside `s3v4 sync` and
 * `rclone sync`: one flat listing of the prefix, then a HEAD for every local file whose object has its size, 8 at
 * once over kept connections (undici's reset: false). No mtime is compared, nothing is printed, no option is read:
 * it is undici, the signer and the server, which is what bounds the sync's time on a machine.
 *
 * Run (bench/cli.ts bundles it with esbuild first, so no TypeScript loader is timed):
 *   node floor.mjs ENDPOINT ACCESS_KEY SECRET_KEY REGION BUCKET PREFIX/ DIRECTORY
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { SigV4Signer } from '../lib/signer.js';
import { Agent, dispatch } from '../lib/undici.js';

// As the command line does (lib/cli.ts): a process that waits for V8's optimised build of llhttp exits 130 to 220 ms
// later.
setFlagsFromString('--liftoff-only');
const [endpoint, accessKeyId, secretAccessKey, region, bucket, prefix, directory] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: floor ENDPOINT ACCESS_KEY SECRET_KEY REGION BUCKET PREFIX/ DIR');
const signer = new SigV4Signer({ accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey!, region: region! });
const agent = new Agent({ connections: 8 });
const origin = endpoint!;

/** One signed request's reply text; anything but 200 ends the run. */
async function send(method: 'GET' | 'HEAD', path: string): Promise<string> {
  const headers: Record<string, string> = { ...signer.sign({ method, url: `${origin}${path}` }) };
  const reply = await dispatch(agent, { origin, path, method, headers, reset: false });
  const text = await reply.body.text();
  if (reply.statusCode !== 200) throw new Error(`${method} ${path}: HTTP ${reply.statusCode}`);
  return text;
}

/** Every object under the prefix: key → size, page by page. */
async function listed(): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const query = `list-type=2&prefix=${encodeURIComponent(prefix!)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
    const page = await send('GET', `/${bucket}?${query}`);
    for (const [, key, size] of page.matchAll(/<Key>([^<]*)<\/Key>.*?<Size>(\d+)<\/Size>/gs))
      sizes.set(key!, Number(size));
    token = /<NextContinuationToken>([^<]*)</.exec(page)?.[1];
  } while (token !== undefined);
  return sizes;
}

const sizes = await listed();
const keys: string[] = [];
for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const path = join(entry.parentPath, entry.name);
  const key = `${prefix}${relative(directory, path)}`;
  if (sizes.get(key) !== statSync(path).size) throw new Error(`${key}: not there at its size; sync first`);
  keys.push(key);
}
let next = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await send('HEAD', `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`);
    }
  }),
);
await agent.close();
