/**
 * Gantry's machine types, as fal names them, and what one runner of each gets on ECS: a task's CPU
 * units and memory (MiB), and GPUs. Sizes are one GPU's share of the usual instance, less what the
 * ECS agent and the runner sidecar need, so a task fits the instance the capacity provider brings.
 * Which capacity provider serves a type is configuration (GANTRY_ECS_CAPACITY_PROVIDERS).
 */

import {
  type CodeSettings,
  gpusOf,
  type MACHINE_TYPE_NAMES,
} from '../../../contract/src/scaling-settings.ts';

type MachineTypeName = (typeof MACHINE_TYPE_NAMES)[number];

export interface MachineSize {
  cpu: number;
  memoryMiB: number;
  gpus: number;
  /** The instance type this size is cut for, for the docs. */
  instance: string;
}

export const MACHINE_TYPES: Record<MachineTypeName, MachineSize> & Record<string, MachineSize | undefined> = {
  CPU: { cpu: 1024, memoryMiB: 3584, gpus: 0, instance: 'm6i.large' },
  'GPU-A10G': { cpu: 3584, memoryMiB: 14_336, gpus: 1, instance: 'g5.xlarge' },
  'GPU-L4': { cpu: 3584, memoryMiB: 14_336, gpus: 1, instance: 'g6.xlarge' },
  'GPU-A100': { cpu: 11_264, memoryMiB: 131_072, gpus: 1, instance: 'p4d.24xlarge (1 of 8 GPUs)' },
  'GPU-H100': { cpu: 23_552, memoryMiB: 245_760, gpus: 1, instance: 'p5.48xlarge (1 of 8 GPUs)' },
};

/** What the runner sidecar reserves inside the task; the app gets the rest. */
export const RUNNER_SIDECAR = { cpu: 256, memoryMiB: 256 } as const;

/**
 * What the FireLens log router (Fluent Bit) may use inside the task, taken from the app's share:
 * AWS advises at least 50 MiB; the rest is room for lines buffered while the runner is not yet up.
 */
export const LOG_ROUTER = { memoryMiB: 128 } as const;

/**
 * What one runner of a revision gets on a machine type: with num_gpus above one, that many of the
 * type's GPUs and the CPU and memory that come with them on the instance.
 */
export function sizeOf(
  machineType: string,
  settings: Pick<CodeSettings, 'num_gpus'>,
): MachineSize | undefined {
  const size = MACHINE_TYPES[machineType];
  if (!size || size.gpus === 0) return size;
  const gpus = gpusOf(settings, size.gpus);
  const times = gpus / size.gpus;
  return { ...size, gpus, cpu: size.cpu * times, memoryMiB: size.memoryMiB * times };
}
