/**
 * `cd infra && npx cdk synth|deploy`: the app cdk.json runs. Settings come from cdk.json's context
 * and `-c name=value`; a bad one stops synth with a message naming it.
 */
import { App } from 'aws-cdk-lib';
import { buildGantryApp } from './gantry-app.ts';
import { InfraSettingsError, settingsFromContext } from './settings.ts';

const app = new App();
try {
  buildGantryApp(
    settingsFromContext((key) => app.node.tryGetContext(key)),
    app,
  );
} catch (err) {
  if (!(err instanceof InfraSettingsError)) throw err;
  console.error(err.message);
  process.exit(2);
}
app.synth();
