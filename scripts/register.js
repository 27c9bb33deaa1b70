// Runs the TypeScript sources directly (SWC, with decorator metadata for Nest's DI).
process.env.SWC_NODE_PROJECT ??= require('node:path').join(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
