/**
 * The runner's stand-in for control (runner/src/testing/fake-control.ts), for tests outside the
 * runner that start a real runner and want to see what it sends: the container driver's tests check
 * that an app's output relayed into a runner container reaches control.
 */
export { type FakeControl, startFakeControl } from '../../runner/src/testing/fake-control.ts';
