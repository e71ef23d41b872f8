/**
 * The GPUs of the one host the container driver runs on (GANTRY_DOCKER_GPUS, indices 0..n-1), and
 * which of them runners hold. A runner gets whole GPUs by index and never shares one; a machine type
 * that cannot fit (more GPUs than the host has, or none free now) is a scheduling failure, as on ECS.
 */
import type { Revision } from '../domain.ts';
import { RunnerSchedulingError } from './compute-driver.ts';
import { MACHINE_TYPES, sizeOf } from './machine-types.ts';

export class GpuPool {
  private readonly used = new Set<string>();

  constructor(private readonly total: number) {}

  /** How many more runners of these settings fit now (undefined: none of its machine types ever does). */
  room(settings: Revision['settings']): number | undefined {
    const free = this.total - this.used.size;
    let most: number | undefined;
    for (const type of settings.machine_type) {
      const size = sizeOf(type, settings);
      if (!size || size.gpus > this.total) continue;
      const fits = size.gpus === 0 ? Number.POSITIVE_INFINITY : Math.floor(free / size.gpus);
      most = Math.max(most ?? 0, fits);
    }
    return most;
  }

  /** Takes the GPUs of the first machine type this host can run now. */
  place(settings: Revision['settings']): string[] {
    const reasons: string[] = [];
    for (const type of settings.machine_type) {
      const size = sizeOf(type, settings);
      if (!size) {
        reasons.push(`${type} is not a machine type Gantry knows (${Object.keys(MACHINE_TYPES).join(', ')})`);
        continue;
      }
      if (size.gpus > this.total) {
        reasons.push(
          `${type} needs ${size.gpus} GPU(s) and this host has ${this.total} (GANTRY_DOCKER_GPUS)`,
        );
        continue;
      }
      const free = Array.from({ length: this.total }, (_, i) => String(i)).filter((g) => !this.used.has(g));
      if (free.length < size.gpus) {
        reasons.push(`${type} needs ${size.gpus} GPU(s) and ${free.length} of ${this.total} are free`);
        continue;
      }
      const gpus = free.slice(0, size.gpus);
      this.take(gpus);
      return gpus;
    }
    throw new RunnerSchedulingError(`no machine type fits this host: ${reasons.join('; ')}`);
  }

  /** Marks GPUs held (an adopted runner's, from its label). */
  take(gpus: string[]): void {
    for (const g of gpus) this.used.add(g);
  }

  release(gpus: string[]): void {
    for (const g of gpus) this.used.delete(g);
  }
}
