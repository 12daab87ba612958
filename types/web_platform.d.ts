/*
 * The web-platform globals the core (src/kern, vm, vfs, fs) may use: those
 * every JavaScript runtime it is meant for has (browsers, workers, Node).
 * tsconfig.core.json compiles the core against these and ES2022 alone, so
 * that a Node built-in or global there fails to compile.
 */

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer, options?: { stream?: boolean }): string;
}

declare var crypto: {
  getRandomValues<T extends ArrayBufferView>(array: T): T;
};
