#!/usr/bin/env node
// Warren interop test with rhea (npm rhea, pinned in package.json; install with `npm ci` here).
//
// Run by actors/interop_test.go (go test -tags interop -run Interop ./actors/) against a broker it starts:
//
//     WARREN_ADDR=host:port node rhea_test.js
//
// Prints every difference it finds and exits 1 on any mismatch, 2 on a timeout or an unexpected error.
// It stops by itself: every wait has a timeout and the whole run is bounded.
'use strict';

const rhea = require('rhea');
const { isDeepStrictEqual, inspect } = require('node:util');

const RUN_LIMIT_MS = 90000; // the whole script
const CALL_TIMEOUT_MS = 10000; // each wait
const BIG_SIZE = 300 * 1024; // multi-frame: the broker's max-frame-size in the interop test is 64 KiB

const failures = [];

function show(v) {
  if (Buffer.isBuffer(v) && v.length > 64) return `<Buffer of ${v.length} bytes>`;
  if (v && v.content && Buffer.isBuffer(v.content) && v.content.length > 64) {
    return `Section(0x${v.typecode.toString(16)}, <${v.content.length} bytes>)`;
  }
  return inspect(v, { depth: 6, breakLength: Infinity });
}

function check(what, got, want) {
  if (!isDeepStrictEqual(got, want)) {
    let extra = '';
    const g = got && got.content, w = want && want.content;
    if (Buffer.isBuffer(g) && Buffer.isBuffer(w)) {
      let i = 0;
      while (i < g.length && i < w.length && g[i] === w[i]) i++;
      extra = ` (first difference at byte ${i})`;
    }
    failures.push(`${what}: got ${show(got)}, want ${show(want)}${extra}`);
  }
}

function finish(code) {
  if (failures.length > 0) {
    console.log(`FAIL rhea: ${failures.length} mismatch(es)`);
    for (const f of failures) console.log(`  - ${f}`);
    process.exit(code === 2 ? 2 : 1);
  }
  if (code !== 0) process.exit(code);
  console.log('ok rhea');
  process.exit(0);
}

const runTimer = setTimeout(() => {
  console.log(`FAIL: timed out after ${RUN_LIMIT_MS / 1000} s`);
  finish(2);
}, RUN_LIMIT_MS);

const addr = process.env.WARREN_ADDR;
if (!addr) {
  console.log('WARREN_ADDR (host:port of the broker) is not set');
  process.exit(2);
}
const host = addr.slice(0, addr.lastIndexOf(':'));
const port = Number(addr.slice(addr.lastIndexOf(':') + 1));

// within rejects when p has not settled after ms.
function within(p, what, ms = CALL_TIMEOUT_MS) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// once resolves with the next `event` of emitter, and rejects on any of the error events.
function once(emitter, event, what, errors = []) {
  return within(new Promise((resolve, reject) => {
    const handlers = {};
    const cleanup = () => {
      for (const [e, h] of Object.entries(handlers)) emitter.removeListener(e, h);
    };
    handlers[event] = (ctx) => { cleanup(); resolve(ctx); };
    for (const e of errors) {
      handlers[e] = (ctx) => {
        cleanup();
        const err = (ctx && (ctx.error || (ctx.connection && ctx.connection.error) ||
          (ctx.sender && ctx.sender.error) || (ctx.receiver && ctx.receiver.error))) || e;
        reject(new Error(`${what}: ${e}: ${inspect(err)}`));
      };
    }
    for (const [e, h] of Object.entries(handlers)) emitter.on(e, h);
  }), what);
}

// connect opens a connection; without a username rhea skips the SASL layer altogether.
async function connect(extra = {}) {
  const container = rhea.create_container({ id: `warren-interop-rhea-${process.pid}` });
  container.on('error', (e) => failures.push(`container error: ${inspect(e)}`));
  // max_frame_size 16 KiB: the broker must split what it sends us over several frames.
  const conn = container.connect({ host, port, reconnect: false, max_frame_size: 16384, ...extra });
  conn.on('error', (e) => failures.push(`connection error event: ${inspect(e)}`));
  await once(conn, 'connection_open', 'connect', ['connection_error', 'disconnected']);
  return conn;
}

async function close(conn) {
  if (!conn.is_open()) return;
  const closed = once(conn, 'connection_close', 'close', ['connection_error', 'disconnected']);
  conn.close();
  await closed;
}

async function openSender(conn, address) {
  const s = conn.open_sender({ target: { address } });
  await once(s, 'sender_open', `attach sender ${address}`, ['sender_error', 'sender_close']);
  return s;
}

async function closeLink(link, kind) {
  const closed = once(link, `${kind}_close`, `detach ${kind}`, [`${kind}_error`]);
  link.close();
  await closed;
}

// send waits for credit, sends and resolves with the outcome's name.
async function send(s, msg) {
  if (!s.sendable()) await once(s, 'sendable', 'credit to send', ['sender_error', 'sender_close']);
  return within(new Promise((resolve) => {
    let d;
    const outcomes = ['accepted', 'rejected', 'released'];
    const handlers = outcomes.map((o) => (ctx) => {
      if (ctx.delivery !== d) return;
      outcomes.forEach((x, i) => s.removeListener(x, handlers[i]));
      resolve(o);
    });
    outcomes.forEach((o, i) => s.on(o, handlers[i]));
    d = s.send(msg);
  }), `settlement of ${show(msg.message_id)}`);
}

async function sendAll(s, msgs, label) {
  for (const m of msgs) {
    const outcome = await send(s, m);
    if (outcome !== 'accepted') failures.push(`${label}: ${show(m.message_id)} settled ${outcome}, want accepted`);
  }
}

// openReceiver attaches with manual credit: receive grants one credit at a time.
async function openReceiver(conn, address) {
  const r = conn.open_receiver({ source: { address }, autoaccept: false, credit_window: 0 });
  r.buffered = [];
  r.waiting = [];
  r.on('message', (ctx) => {
    const item = { message: ctx.message, delivery: ctx.delivery };
    if (r.waiting.length > 0) r.waiting.shift()(item);
    else r.buffered.push(item);
  });
  await once(r, 'receiver_open', `attach receiver ${address}`, ['receiver_error', 'receiver_close']);
  return r;
}

function receive(r, what, ms = CALL_TIMEOUT_MS) {
  if (r.buffered.length > 0) return Promise.resolve(r.buffered.shift());
  r.add_credit(1);
  let waiter;
  const p = new Promise((resolve) => { waiter = resolve; r.waiting.push(resolve); });
  return within(p, what, ms).catch((e) => {
    r.waiting = r.waiting.filter((w) => w !== waiter); // a later message must not go to a timed-out wait
    throw e;
  });
}

function bigBody() {
  const b = Buffer.alloc(BIG_SIZE);
  for (let i = 0; i < BIG_SIZE; i++) b[i] = (i * 7 + Math.floor(i / 1024)) % 251;
  return b;
}

function roundtripMessages() {
  return [
    {
      message_id: 'rhea-1', correlation_id: 'corr-1', subject: 'orders.created',
      content_type: 'application/json', reply_to: '/queues/replies',
      application_properties: { str: 'héllo wörld', int: 42, neg: -7, bool: true, false: false, double: 3.25 },
      body: { k: 'v', n: 7, nested: { list: [1, 'two', 3.5, null, true] } },
    },
    { message_id: rhea.types.wrap_ulong(12345), correlation_id: 'corr-2', subject: 'list', body: [1, 'two', 3.5, true, null, { m: 'x' }] },
    { message_id: 'rhea-data', content_type: 'application/octet-stream', body: rhea.message.data_section(Buffer.from([0, 1, 2, 0xff, 0x62])) },
    { message_id: 'rhea-binary-value', body: Buffer.from('amqp-value binary') },
    { message_id: 'rhea-string', body: 'plain string value' },
    { message_id: 'rhea-big', application_properties: { size: BIG_SIZE }, body: rhea.message.data_section(bigBody()) },
  ];
}

// expectedID is what a sent message-id decodes to (a wrapped ulong comes back as a number).
function expectedID(id) {
  return id && typeof id === 'object' && 'value' in id ? Number(id.value) : id;
}

function compare(label, got, want) {
  check(`${label} message_id`, got.message_id, expectedID(want.message_id));
  for (const f of ['correlation_id', 'subject', 'content_type', 'reply_to', 'application_properties', 'body']) {
    check(`${label} ${f}`, got[f], want[f]);
  }
}

async function testRoundtrip(conn, q) {
  // A bare-name attach declares the queue (DESIGN.md §3); /queues/{q} then addresses it.
  await closeLink(await openSender(conn, q), 'sender');
  const s = await openSender(conn, `/queues/${q}`);
  const want = roundtripMessages();
  await sendAll(s, want, 'roundtrip send');
  await closeLink(s, 'sender');
  const r = await openReceiver(conn, `/queues/${q}`);
  for (const w of want) {
    const { message, delivery } = await receive(r, `roundtrip ${show(w.message_id)}`);
    const label = `roundtrip ${show(expectedID(w.message_id))}`;
    compare(label, message, w);
    check(`${label} delivery_count`, message.delivery_count || 0, 0);
    check(`${label} x-routing-key`, message.message_annotations && message.message_annotations['x-routing-key'], q);
    delivery.accept();
  }
  await closeLink(r, 'receiver');
}

// testOutcomes keeps one message in the queue at a time: rhea never reads the sender's
// initial-delivery-count (its receiver counts from 0), so a broker whose delivery-count starts elsewhere,
// as RabbitMQ's and Warren's do, computes more credit than rhea meant (spec 2.6.7) and may send ahead.
async function testOutcomes(conn, q) {
  await closeLink(await openSender(conn, q), 'sender');
  const s = await openSender(conn, `/queues/${q}`);
  const r = await openReceiver(conn, `/queues/${q}`);

  // released (spec 3.4.4): back to the queue head, delivery-count unchanged (DESIGN.md §4).
  await sendAll(s, [{ message_id: 'rel-1', body: 'released' }], 'outcomes send');
  let d = await receive(r, 'released, first');
  check('released first id', d.message.message_id, 'rel-1');
  d.delivery.release();
  d = await receive(r, 'released, again');
  check('released comes back', d.message.message_id, 'rel-1');
  check('released delivery_count', d.message.delivery_count || 0, 0);
  d.delivery.accept();

  // modified{delivery-failed}: back to the queue with delivery-count + 1.
  await sendAll(s, [{ message_id: 'mod-1', body: 'modified delivery-failed' }], 'outcomes send');
  d = await receive(r, 'modified, first');
  check('modified first id', d.message.message_id, 'mod-1');
  d.delivery.release({ delivery_failed: true });
  d = await receive(r, 'modified, again');
  check('modified comes back', d.message.message_id, 'mod-1');
  check('modified delivery_count', d.message.delivery_count || 0, 1);
  d.delivery.accept();

  // rejected (spec 3.4.3): gone (no dead-letter exchange configured).
  await sendAll(s, [{ message_id: 'rej-1', body: 'rejected' }], 'outcomes send');
  d = await receive(r, 'rejected');
  check('rejected id', d.message.message_id, 'rej-1');
  d.delivery.reject({ condition: 'amqp:internal-error', description: 'rejected by the interop test' });
  try {
    d = await receive(r, 'empty queue', 500);
    failures.push(`the queue should be empty after the reject, got ${show(d.message.message_id)}`);
  } catch {
    // nothing arrived: the rejected message is gone
  }
  await sendAll(s, [{ message_id: 'after', body: 'after the reject' }], 'outcomes send');
  d = await receive(r, 'after the reject');
  check('after the reject id', d.message.message_id, 'after');
  d.delivery.accept();
  await closeLink(s, 'sender');
  await closeLink(r, 'receiver');
}

async function testPlain(q) {
  const conn = await connect({ username: 'guest', password: 'guest' });
  const s = await openSender(conn, q);
  await sendAll(s, [{ message_id: 'plain-1', body: 'over SASL PLAIN' }], 'PLAIN send');
  const r = await openReceiver(conn, q);
  const d = await receive(r, 'PLAIN receive');
  check('PLAIN body', d.message.body, 'over SASL PLAIN');
  d.delivery.accept();
  await close(conn);

  // A wrong password must not open a connection (the broker answers sasl-outcome auth).
  try {
    const bad = await connect({ username: 'guest', password: 'wrong' });
    failures.push('SASL PLAIN with a wrong password opened a connection');
    await close(bad);
  } catch (e) {
    if (/no answer within/.test(e.message)) failures.push(`wrong password: ${e.message}`);
  }
}

async function main() {
  const tag = `${process.pid}`;
  const conn = await connect(); // no SASL layer at all
  await testRoundtrip(conn, `interop-rhea-roundtrip-${tag}`);
  await testOutcomes(conn, `interop-rhea-outcomes-${tag}`);
  await close(conn);
  await testPlain(`interop-rhea-plain-${tag}`);
}

main().then(() => {
  clearTimeout(runTimer);
  finish(0);
}, (e) => {
  console.log(`error: ${e && e.stack ? e.stack : e}`);
  finish(2);
});
