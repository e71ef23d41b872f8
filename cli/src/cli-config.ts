/**
 * Where the CLI finds control and its key, each looked up in this order: flags (`--url`, `--key`),
 * then GANTRY_URL / GANTRY_KEY, then the file `gantry login` writes, then, on the machine running
 * embedded Gantry, `<data dir>/admin.key` with control at http://127.0.0.1:8080. The admin.key
 * fallback is used only when control is that local one, so a local key never goes elsewhere.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export const LOCAL_URL = 'http://127.0.0.1:8080';

export interface CliConfig {
  url: string;
  key: string | undefined;
  /** Where each value came from, for `gantry login` and error messages. */
  urlSource: 'flag' | 'env' | 'file' | 'local';
  keySource: 'flag' | 'env' | 'file' | 'admin.key' | 'none';
}

export interface SavedLogin {
  url: string;
  key: string;
}

export interface ConfigSources {
  flags: { url?: string | undefined; key?: string | undefined };
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
  readText: (file: string) => Promise<string | undefined>;
}

/** The login file: `$XDG_CONFIG_HOME/gantry/config.json`, or `~/.config/gantry/config.json`. */
export function loginFile(env: Record<string, string | undefined>, home = homedir()): string {
  const base =
    env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)
      ? env.XDG_CONFIG_HOME
      : path.join(home, '.config');
  return path.join(base, 'gantry', 'config.json');
}

export async function readLogin(
  file: string,
  readText: ConfigSources['readText'],
): Promise<SavedLogin | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<SavedLogin>;
    if (typeof v.url === 'string' && typeof v.key === 'string') return { url: v.url, key: v.key };
  } catch {
    // A damaged file is as good as none; `gantry login` writes a fresh one.
  }
  return undefined;
}

const clean = (v: string | undefined) => (v && v.trim() !== '' ? v.trim() : undefined);
const isLocal = (url: string) => {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

export async function resolveConfig(s: ConfigSources): Promise<CliConfig> {
  const saved = await readLogin(loginFile(s.env, s.home), s.readText);
  let url: string;
  let urlSource: CliConfig['urlSource'];
  if (clean(s.flags.url)) [url, urlSource] = [clean(s.flags.url)!, 'flag'];
  else if (clean(s.env.GANTRY_URL)) [url, urlSource] = [clean(s.env.GANTRY_URL)!, 'env'];
  else if (saved) [url, urlSource] = [saved.url, 'file'];
  else [url, urlSource] = [LOCAL_URL, 'local'];
  url = url.replace(/\/+$/, '');

  let key: string | undefined;
  let keySource: CliConfig['keySource'] = 'none';
  if (clean(s.flags.key)) [key, keySource] = [clean(s.flags.key), 'flag'];
  else if (clean(s.env.GANTRY_KEY)) [key, keySource] = [clean(s.env.GANTRY_KEY), 'env'];
  else if (saved && saved.url.replace(/\/+$/, '') === url) [key, keySource] = [saved.key, 'file'];
  else if (isLocal(url)) {
    const dataDir = path.resolve(s.cwd, clean(s.env.GANTRY_DATA_DIR) ?? '.gantry');
    const local = clean(await s.readText(path.join(dataDir, 'admin.key')));
    if (local) [key, keySource] = [local, 'admin.key'];
  }
  return { url, key, urlSource, keySource };
}

export async function saveLogin(file: string, login: SavedLogin): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only to a new file; an older one may have been wider.
  await chmod(file, 0o600);
}

export const readTextFile = (file: string) => readFile(file, 'utf8').catch(() => undefined);
