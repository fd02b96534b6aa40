// A small HTTP proxy in front of moto for the end-to-end tests: it passes
// every AWS request on, except the one a test chooses to hold (never passed
// on, never answered), as if the app died while making that call.
import http from "node:http";

export async function startAwsProxy(upstream) {
  const state = { hold: null, held: 0 };
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      if (state.hold && state.hold(body.toString("utf8"))) {
        state.held += 1;
        return; // never answered: the app's call hangs until the app dies
      }
      const target = new URL(request.url, upstream);
      const forwarded = http.request(
        target,
        { method: request.method, headers: { ...request.headers, host: target.host } },
        (answer) => {
          response.writeHead(answer.statusCode, answer.headers);
          answer.pipe(response);
        },
      );
      forwarded.on("error", () => response.destroy());
      forwarded.end(body);
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Holds requests whose form body matches `predicate`, until `release()`. */
    holdWhen(predicate) {
      state.hold = predicate;
      state.held = 0;
    },
    release() {
      state.hold = null;
    },
    get held() {
      return state.held;
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
