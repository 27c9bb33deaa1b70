// Tests talk to the local stack unless the environment already points elsewhere.
require('./env-file').loadEnvFile('stack.env');
