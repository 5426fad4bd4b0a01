'use strict';
// A Node.js peer for the load lab's `overhead` scenario: plain http.createServer, no npm
// packages, one process (one event loop).  The lab pins it like every other server and
// sets UV_THREADPOOL_SIZE, the libuv pool that runs crypto.pbkdf2.
//
//   node loadtest/peers/node_server.js [PORT]      (or PORT=... in the environment; 0 = any free port)
//   HOST=127.0.0.1 by default.
//
// GET /plaintext         -> Hello, World! (text/plain)
// GET /json              -> {"message":"Hello, World!"} (serialized for every request)
// GET /cpu/pbkdf2?iterations=N (1..1,000,000) -> crypto.pbkdf2(password, salt, N, 32, 'sha256')
//                           on libuv's pool; {"iterations":N,"length":32,"hash":"<hex>"}
// GET /db/query          -> one random row of PostgreSQL's world table, {"id":…,"randomNumber":…}
// GET /db/queries?n=N (1..500) -> N random rows, an array; the queries go out at once over
//                           the pool, as TechEmpower's Node implementations send them
//   Only with PG_CONNINFO (a libpq key=value string, as scripts/postgres prints it) in the
//   environment: then node-postgres (npm `pg`, installed by the lab into node_modules/ here)
//   serves them over a pg.Pool of PG_POOL_SIZE connections (default 16), with the same
//   prepared statement as cvp. Without it, /db/* answers 503.
// anything else          -> 404; a method other than GET or HEAD -> 405
//
// Once listening it prints one line to stdout, key=value pairs ending with the real address:
//   node-peer version=v18.20.4 threadpool=2 pid=1234 listening=127.0.0.1:41234

const http = require('http');
const crypto = require('crypto');

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.argv[2] ?? process.env.PORT ?? 0);
const PLAINTEXT = Buffer.from('Hello, World!');
const MAX_ITERATIONS = 1000000;
const MAX_QUERIES = 500;
const WORLD_ROWS = 10000;

// libpq's `key=value ...` as node-postgres's settings (quoted values are not needed here).
function pgSettings(conninfo) {
  const names = { host: 'host', port: 'port', dbname: 'database', user: 'user', password: 'password' };
  const settings = {};
  for (const pair of conninfo.trim().split(/\s+/)) {
    const eq = pair.indexOf('=');
    const key = names[pair.slice(0, eq)];
    if (eq > 0 && key) settings[key] = key === 'port' ? Number(pair.slice(eq + 1)) : pair.slice(eq + 1);
  }
  return settings;
}

// The pool, only when a database is given: the overhead scenario runs without npm packages.
const db = process.env.PG_CONNINFO
  ? new (require('pg').Pool)({ ...pgSettings(process.env.PG_CONNINFO), max: Number(process.env.PG_POOL_SIZE || 16) })
  : null;
const WORLD = { name: 'world', text: 'SELECT id, randomnumber FROM world WHERE id = $1' };

function randomWorld() {
  return db.query({ ...WORLD, values: [1 + Math.floor(Math.random() * WORLD_ROWS)] })
    .then((r) => ({ id: r.rows[0].id, randomNumber: r.rows[0].randomnumber }));
}

function dbQueries(res, query, many) {
  if (!db) {
    sendJson(res, 503, { error: 'no database: start with PG_CONNINFO', status: 503 });
    return;
  }
  let n = 1;
  if (many) {
    const text = new URLSearchParams(query).get('n');
    n = Number(text);
    if (text === null || !/^[0-9]+$/.test(text) || n < 1 || n > MAX_QUERIES) {
      sendJson(res, 400, { error: `n must be a whole number from 1 to ${MAX_QUERIES}`, status: 400 });
      return;
    }
  }
  Promise.all(Array.from({ length: n }, randomWorld))
    .then((rows) => sendJson(res, 200, many ? rows : rows[0]))
    .catch((err) => sendJson(res, 503, { error: String(err), status: 503 }));
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res, status, value) {
  send(res, status, 'application/json', JSON.stringify(value));
}

function pbkdf2(res, query) {
  const text = new URLSearchParams(query).get('iterations');
  const n = Number(text);
  if (text === null || !/^[0-9]+$/.test(text) || n < 1 || n > MAX_ITERATIONS) {
    sendJson(res, 400, { error: `iterations must be a whole number from 1 to ${MAX_ITERATIONS}`, status: 400 });
    return;
  }
  crypto.pbkdf2('password', 'salt', n, 32, 'sha256', (err, key) => {
    if (err) {
      sendJson(res, 500, { error: String(err), status: 500 });
      return;
    }
    sendJson(res, 200, { iterations: n, length: 32, hash: key.toString('hex') });
  });
}

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method not allowed', status: 405 });
    return;
  }
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  switch (path) {
    case '/plaintext':
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': PLAINTEXT.length });
      res.end(PLAINTEXT);
      return;
    case '/json':
      sendJson(res, 200, { message: 'Hello, World!' });
      return;
    case '/cpu/pbkdf2':
      pbkdf2(res, q < 0 ? '' : req.url.slice(q + 1));
      return;
    case '/db/query':
      dbQueries(res, '', false);
      return;
    case '/db/queries':
      dbQueries(res, q < 0 ? '' : req.url.slice(q + 1), true);
      return;
    default:
      sendJson(res, 404, { error: 'not found', status: 404 });
  }
});

// Idle keep-alive connections stay open as long as cvp's (--idle-timeout 60s) and nginx's
// (75 s) do; Node's default of 5 s would close them under the lab's idle-connection count.
server.keepAliveTimeout = 60000;
server.headersTimeout = 65000;

server.on('error', (err) => {
  console.error(`node-peer: ${err.message}`);
  process.exit(2);
});

server.listen({ host: HOST, port: PORT, backlog: 4096 }, () => {
  const { address, port } = server.address();
  const where = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const pool = process.env.UV_THREADPOOL_SIZE || '4';
  const pg = db ? ` pg_pool=${db.options.max}` : '';
  console.log(`node-peer version=${process.version} threadpool=${pool}${pg} pid=${process.pid} listening=${where}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
