#!/usr/bin/env node
// The `gantry` command. The CLI is TypeScript run as-is (like control): register tsx's ESM
// loader, then load the real entry point.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
