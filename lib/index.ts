export * from './errors.js';
export { encodeKey, encodeComponent } from './encoding.js';
export * from './signer.js';
export {
  loadConfig,
  parseConfig,
  storageConfig,
  StorageConfig,
  type EndpointParts,
  type Environment,
  type StorageOptions,
} from './config.js';
export { awsHost, providerOf, type Provider } from './providers.js';
export * from './endpoint.js';
export * from './client.js';
export { XmlError } from './xml.js';
