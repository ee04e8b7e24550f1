export * from './errors.js';
export { encodeKey, encodeComponent } from './encoding.js';
export * from './signer.js';
