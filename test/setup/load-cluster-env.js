// Cluster suites talk to the loopback cluster (deploy/local/up --cluster) unless the environment
// already points elsewhere.
require('./env-file').loadEnvFile('cluster.env');
