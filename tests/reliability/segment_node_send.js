// Sends track calls through Segment's Node library (@segment/analytics-node, installed by
// `make test` into .venv/npm) at a steady rate, then flushes, waiting for its retries.
// Usage: node segment_node_send.js HOST WRITE_KEY PREFIX COUNT PER_SECOND
// Prints one JSON line: {"sent": [...message ids], "failed": [...message ids], "errors": [...]}.
const { Analytics } = require("@segment/analytics-node");

const [host, writeKey, prefix, count, perSecond] = process.argv.slice(2);
const total = Number(count);
const every = 1000 / Number(perSecond);
// The library's defaults, except a small batch so calls leave while the test watches.
const analytics = new Analytics({ writeKey, host, path: "/v1/batch", flushAt: 5, flushInterval: 200 });
const sent = [];
const failed = [];
const errors = [];
analytics.on("error", (error) => {
  errors.push(String(error && error.reason ? error.reason : error));
});

function track(n) {
  const messageId = `${prefix}-${n}`;
  sent.push(messageId);
  analytics.track({ userId: `node-user-${n % 5}`, event: "Invited User", properties: { n }, messageId }, (err) => {
    if (err) failed.push(messageId);
  });
}

async function main() {
  const started = Date.now();
  for (let n = 0; n < total; n++) {
    track(n);
    const wait = started + (n + 1) * every - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await analytics.closeAndFlush({ timeout: 120000 });
  process.stdout.write(JSON.stringify({ sent, failed, errors: errors.slice(0, 5) }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
