// Loaded with `node --import` into Portkey's gateway for the streaming figure of bench/router.js.
// Portkey's gateway 1.15 on @hono/node-server >= 1.14.3 (what its dependency range installs)
// answers every stream with `TypeError: immutable` (Portkey-AI/gateway#1389): hono's Response
// keeps a fetch answer's immutable headers, to which the gateway then adds its own. This hands
// the gateway fetch answers whose headers are a mutable copy, as older @hono/node-server did.
const NativeResponse = globalThis.Response;
const nativeFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const res = await nativeFetch(input, init);
  return new NativeResponse(res.body, {
    status: res.status,
    statusText: res.statusText,
    headers: new Headers(res.headers),
  });
};
