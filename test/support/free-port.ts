/** Tests ask for a free port the way control and the runner do. */
export { freeLoopbackPort as freePort } from '../../contract/src/free-port.ts';
