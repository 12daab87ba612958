// The explorer's download worker: a file streamed from the page's frames to
// the browser's download, a batch at a time, so that a download of any size
// holds no more than one batch. Its scope is ./download/ only: the page
// itself is not controlled, and its other requests (the HTTP range device's)
// never pass through here.
//   page -> worker: { type: 'download', id, name, size } with a MessagePort
//   iframe navigates to ./download/<id>/<name>: answered with a stream that
//   asks the port for each next chunk ('pull') and ends at { done } or { error }

const pending = new Map();

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
  const stream = new ReadableStream(
    {
      pull(controller) {
        return new Promise((resolve) => {
          d.port.onmessage = (e) => {
            const m = e.data;
            if (m.done) controller.close();
            else if (m.error !== undefined) controller.error(new Error(m.error));
            else controller.enqueue(new Uint8Array(m.chunk));
            resolve();
          };
          d.port.postMessage('pull');
        });
      },
      cancel() {
        d.port.postMessage('cancel');
      },
    },
    { highWaterMark: 1 },
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
