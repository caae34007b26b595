/** Where the CLI writes: the process streams, or a test's buffers. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}
