/**
 * The App's public face for whoever composes it: control's process entry mounts it as an
 * extension, tests do the same. Nothing else reaches into github-app/src.
 */
export {
  GitHubAppConfigError,
  type GitHubCredentials,
  loadConfig,
  loadMountedConfig,
} from './src/config.ts';
export { type GitHubAppExtensionOptions, gitHubAppExtension } from './src/control-extension.ts';
