// Integration and e2e tests talk to real services on a shared 2-core machine: allow them time.
// (Jest ignores testTimeout inside a project entry, so it is set here.)
jest.setTimeout(180_000);
