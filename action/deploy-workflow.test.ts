/**
 * The deploy workflow users copy (.github/workflows/gantry-deploy.yml) uses this Action as it
 * really is: the `action/` folder of the Gantry repository, at a ref the user sets, with inputs
 * the Action declares; every variable it reads is documented in the file and in the README.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const root = new URL('../', import.meta.url);
const text = (p: string) => readFileSync(new URL(p, root), 'utf8');
const workflowText = text('.github/workflows/gantry-deploy.yml');
const workflow = YAML.parse(workflowText) as {
  jobs: Record<string, { steps: { id?: string; uses?: string; with?: Record<string, string> }[] }>;
};
const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
const gantryStep = steps.find((s) => s.id === 'gantry')!;
const readme = text('README.md');

describe('the deploy workflow', () => {
  it("uses the Action from this repository's action/ folder, owner and ref left for the user to set", () => {
    const m = /^([^/@]+)\/([^/@]+)\/([^@]+)@(.+)$/.exec(gantryStep.uses ?? '');
    expect(m, gantryStep.uses).not.toBeNull();
    const [, owner, repo, folder, ref] = m!;
    expect(existsSync(new URL(`${folder}/action.yml`, root)), `${folder}/action.yml`).toBe(true);
    expect([owner, repo, ref]).toEqual(['GANTRY_OWNER', 'gantry', 'GANTRY_REF']);
    for (const placeholder of ['GANTRY_OWNER', 'GANTRY_REF']) {
      expect(workflowText.split(placeholder).length, `${placeholder} explained in the file`).toBeGreaterThan(
        2,
      );
      expect(readme).toContain(`\`${placeholder}\``);
    }
    // The README shows the same line as the file users copy.
    expect(readme).toContain(`uses: ${gantryStep.uses}`);
  });

  it('passes only inputs the Action declares', () => {
    const declared = Object.keys((YAML.parse(text('action/action.yml')) as { inputs: object }).inputs);
    expect(Object.keys(gantryStep.with ?? {}).filter((k) => !declared.includes(k))).toEqual([]);
  });

  it('documents every repository variable it reads, in the file and in the README', () => {
    const vars = [...new Set([...workflowText.matchAll(/vars\.([A-Z_]+)/g)].map((m) => m[1]!))];
    expect(vars.sort()).toEqual([
      'GANTRY_AWS_REGION',
      'GANTRY_AWS_ROLE_ARN',
      'GANTRY_CONTROL_URL',
      'GANTRY_ECR_REPOSITORY',
    ]);
    const header = workflowText.slice(0, workflowText.indexOf('\nname:'));
    for (const v of vars) {
      expect(header, v).toContain(`#   ${v}`);
      expect(readme, v).toContain(`\`${v}\``);
    }
  });
});
