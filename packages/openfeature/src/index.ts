export { ConsulFlagProvider } from './consulFlagProvider';
export { FlagDocumentError } from './flagDocumentError';
export {
  type ConsulFlagProviderOptions,
  DEFAULT_READY_TIMEOUT_MS,
} from './providerOptions';
