// Which HTTP version Chromium used for each response from one origin (issue 18: the HTTPS
// scenario must run on h2). Playwright's Response has no protocol, so this reads Chromium's
// own network log through a CDP session per page: Network.responseReceived's
// response.protocol ("h2", "http/1.1", "h3"), and the redirectResponse of
// Network.requestWillBeSent for a 3xx (a redirect has no responseReceived of its own).
// Attach before the page's first navigation; the session follows the page's navigations.

// What kind of request it was, from the request Chromium sent: the document, a server
// action (POST with next-action), an RSC request (rsc: 1, navigations and prefetches), or
// anything else (scripts, styles, fonts, favicon).
function kindOf(type, method, headers) {
  const h = Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  if (h['next-action']) return 'action';
  if (h.rsc) return 'rsc';
  if (type === 'Document') return 'document';
  return method === 'POST' ? 'post' : 'other';
}

export class ProtocolLog {
  // origin: e.g. https://127.0.0.1:8443; responses from elsewhere are ignored.
  constructor(origin) {
    this.origin = origin;
    this.responses = []; // { url, method, kind, status, protocol, fromCache }
    this.webSockets = []; // URLs of WebSockets the pages opened (none expected: HMR is off)
  }

  async attach(context, page) {
    const cdp = await context.newCDPSession(page);
    const requests = new Map(); // requestId -> { method, headers, type }
    const record = (url, request, response, type) => {
      if (!url.startsWith(this.origin)) return;
      this.responses.push({
        url: url.slice(this.origin.length), method: request?.method ?? '?', kind: kindOf(type, request?.method, request?.headers),
        status: response.status, protocol: response.protocol ?? '(none)',
        fromCache: Boolean(response.fromDiskCache || response.fromPrefetchCache || response.fromServiceWorker),
      });
    };
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.redirectResponse) record(e.redirectResponse.url, requests.get(e.requestId), e.redirectResponse, e.type);
      requests.set(e.requestId, { method: e.request.method, headers: e.request.headers });
    });
    cdp.on('Network.responseReceived', (e) => {
      record(e.response.url, requests.get(e.requestId), e.response, e.type);
      requests.delete(e.requestId);
    });
    cdp.on('Network.webSocketCreated', (e) => this.webSockets.push(e.url));
    await cdp.send('Network.enable');
  }

  // { total, h2, byKind: {document: {h2, total}, ...}, other: [non-h2 responses] }
  counts() {
    const byKind = {};
    for (const r of this.responses) {
      const k = (byKind[r.kind] ??= { h2: 0, total: 0 });
      k.total += 1;
      if (r.protocol === 'h2') k.h2 += 1;
    }
    const notH2 = this.responses.filter((r) => r.protocol !== 'h2');
    return { total: this.responses.length, h2: this.responses.length - notH2.length, byKind, notH2 };
  }

  // One line for the log and the table: "protocol h2: 37 of 37 responses (document 4 of 4, ...)".
  summary() {
    const c = this.counts();
    const kinds = Object.entries(c.byKind).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v.h2} of ${v.total}`).join(', ');
    const protocols = [...new Set(this.responses.map((r) => r.protocol))].sort().join(', ');
    return `protocol h2: ${c.h2} of ${c.total} responses (${kinds}; protocols seen: ${protocols || 'none'}; ` +
      `WebSockets: ${this.webSockets.length})`;
  }

  // Problems (empty when every response from the origin came over h2, including at least one
  // document and one server action).
  problems() {
    const c = this.counts();
    const problems = [];
    if (!c.total) problems.push('no response from skewgate was seen in the network log');
    for (const kind of ['document', 'action']) {
      if (!c.byKind[kind]?.total) problems.push(`no ${kind} response was seen`);
    }
    if (c.notH2.length) {
      problems.push(`${c.notH2.length} of ${c.total} responses were not h2: ` +
        c.notH2.slice(0, 5).map((r) => `${r.method} ${r.url.slice(0, 60)} (${r.kind}) ${r.status} over ${r.protocol}`).join('; ') +
        (c.notH2.length > 5 ? '; …' : ''));
    }
    return problems;
  }
}
