export * from './errors.js';
export { encodeKey, encodeComponent } from './encoding.js';
export * from './signer.js';
export { loadConfig, parseConfig, StorageConfig, awsHost, providerOf, type Provider, type Environment } from './config.js';
export * from './endpoint.js';
