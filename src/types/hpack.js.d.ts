// The part of hpack.js (no published types) that h2-transport.ts uses: the header block decoder.
declare module 'hpack.js' {
  interface HeaderField {
    name: string;
    value: string;
    neverIndex: boolean;
  }
  interface Decompressor {
    write(chunk: Buffer): boolean;
    execute(): void;
    read(): HeaderField | null;
    updateTableSize(size: number): void;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  const hpack: {
    decompressor: { create(options: { table: { maxSize: number } }): Decompressor };
  };
  export default hpack;
}
