// The explorer's download worker: a file streamed from the page's frames to
// the browser's download, a batch at a time, so that a download of any size
// holds a few batches at most. Its scope is ./download/ only: the page
// itself is not controlled, and its other requests (the HTTP range device's)
// never pass through here.
//   page -> worker: { type: 'download', id, name, size } with a MessagePort
//   iframe navigates to ./download/<id>/<name>: answered with a stream that
//   asks the port for chunks ('pull', up to AHEAD at once) and ends at { done } or { error }

const pending = new Map();
/** Chunks asked for ahead of the browser's writing (each one batch of the page's frames). */
const AHEAD = 4;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const m = event.data;
  if (m?.type === 'download' && event.ports[0] !== undefined) pending.set(m.id, { port: event.ports[0], name: m.name, size: m.size });
});

self.addEventListener('fetch', (event) => {
  const match = /\/download\/([^/]+)\//.exec(new URL(event.request.url).pathname);
  const d = match === null ? undefined : pending.get(match[1]);
  if (d === undefined) return;
  pending.delete(match[1]);
  // Up to AHEAD asks outstanding: the page copies the next batch while the browser writes this one.
  let outstanding = 0;
  let arrived = null;
  const stream = new ReadableStream(
    {
      start(controller) {
        d.port.onmessage = (e) => {
          const m = e.data;
          outstanding--;
          if (m.done) controller.close();
          else if (m.error !== undefined) controller.error(new Error(m.error));
          else controller.enqueue(new Uint8Array(m.chunk));
          arrived?.();
          arrived = null;
        };
      },
      pull() {
        for (; outstanding < AHEAD; outstanding++) d.port.postMessage('pull');
        return new Promise((resolve) => (arrived = resolve));
      },
      cancel() {
        d.port.postMessage('cancel');
      },
    },
    { highWaterMark: AHEAD },
  );
  const quoted = encodeURIComponent(d.name);
  event.respondWith(
    new Response(stream, {
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(d.size),
        'Content-Disposition': `attachment; filename*=UTF-8''${quoted}`,
      },
    }),
  );
});
