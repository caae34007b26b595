declare module 's3rver' {
  /** The S3-protocol server the object-store suite runs against. */
  export default class S3rver {
    constructor(options: { port: number; address: string; directory: string; silent?: boolean });
    run(): Promise<{ port: number; address: string }>;
    close(): Promise<void>;
  }
}
