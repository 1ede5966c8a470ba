// Uploads one file to a reelhouse server with tus-js-client, as a browser app or script would.
// usage: node upload.mjs <endpoint> <file> <api key> [stop after N bytes] [upload URL to resume]
// Prints one JSON line: {"url": ..., "offset": ..., "done": bool}.
import fs from "node:fs";
import * as tus from "tus-js-client";

const [endpoint, file, token, stopAtArg, resumeUrl] = process.argv.slice(2);
const stopAt = stopAtArg ? Number(stopAtArg) : 0;
const size = fs.statSync(file).size;

const upload = new tus.Upload(fs.readFileSync(file), {
  endpoint,
  uploadUrl: resumeUrl || null,
  uploadSize: size,
  chunkSize: 256 * 1024,
  retryDelays: [],
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: "直播回放.mp4", title: "tus-js-client 直播回放", tags: "content_type:直播回放" },
  onProgress(sent) {
    if (stopAt && sent >= stopAt && !upload._stopped) {
      upload._stopped = true;
      upload.abort().then(() => {
        console.log(JSON.stringify({ url: upload.url, offset: sent, done: false }));
      });
    }
  },
  onError(err) {
    console.error(String(err));
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, offset: size, done: true }));
  },
});
upload.start();
