export * from './errors.js';
export { encodeKey, encodeComponent } from './encoding.js';
export * from './signer.js';
export { loadConfig, parseConfig, storageConfig, StorageConfig, awsHost, providerOf, type Provider, type Environment, type StorageOptions } from './config.js';
export * from './endpoint.js';
export * from './client.js';
