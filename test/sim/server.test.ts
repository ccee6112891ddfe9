import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attr, MessageType, encodeMessage, getAttr, listToObject, type KVPair } from '../../lib/protocol/index.js';
import { SimErrorCode, SIM_SERVER_VERSION, startSimulation, type Simulation } from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation;
beforeAll(async () => {
  sim = await startSimulation({ mode: 'hot', addpEnforce: true, routePoints: 2, agents: 2, concurrentCalls: 4 });
});
afterAll(async () => {
  await sim?.stop();
});

const errCode = (f: { attributes: unknown[] } & Parameters<typeof getAttr>[0]) => getAttr(f, Attr.ErrorCode);

describe('simulated T-Server: handshake and requests', { timeout: 30_000 }, () => {
  it('answers RequestRegisterClient with EventServerInfo then the link state, on primary and hot backup', async () => {
    for (const [ep, role] of [[sim.primary, 0], [sim.backup, 1]] as const) {
      const c = await RawClient.connect(ep.port);
      const info = await c.register('handshake');
      expect(info.type).toBe(MessageType.EventServerInfo);
      expect(getAttr(info, Attr.ServerRole)).toBe(role);
      expect(getAttr(info, Attr.ServerVersion)).toBe(SIM_SERVER_VERSION);
      expect(typeof getAttr(info, Attr.SessionID)).toBe('bigint');
      expect(typeof getAttr(info, Attr.EventSequenceNumber)).toBe('bigint');
      const link = await c.waitFor((f) => f.type === MessageType.EventLinkConnected || f.type === MessageType.EventLinkDisconnected);
      expect(link.type).toBe(MessageType.EventLinkConnected);
      expect(typeof getAttr(link, Attr.TimeinSecs)).toBe('number');
      c.close();
    }
  });

  it('refuses requests before registration and unknown requests with EventError', async () => {
    const c = await RawClient.connect(sim.primary.port);
    const e1 = await c.request(MessageType.RequestRegisterAddress, { ThisDN: '7000' });
    expect(e1.type).toBe(MessageType.EventError);
    expect(errCode(e1)).toBe(SimErrorCode.NotRegistered);
    expect(String(getAttr(e1, Attr.ErrorMessage))).toMatch(/not registered/);
    await c.register();
    const e2 = await c.request(4242, {});
    expect(e2.type).toBe(MessageType.EventError);
    expect(errCode(e2)).toBe(SimErrorCode.UnknownRequest);
    const e3 = await c.request(MessageType.RequestRegisterAddress, {});
    expect(errCode(e3)).toBe(SimErrorCode.MissingAttribute);
    const q = await c.request(MessageType.RequestQueryServer);
    expect(q.type).toBe(MessageType.EventAddressInfo);
    expect(getAttr(q, Attr.ServerRole)).toBe(0);
    c.close();
  });

  it('registers and unregisters DNs; EventRegistered carries the last seq; events after it arrive', async () => {
    const c = await RawClient.connect(sim.primary.port);
    await c.register();
    const after = await c.registerDn('7000');
    const { seq } = await sim.emit(8);
    await until(() => c.ofType(MessageType.EventRouteRequest).length > 0, 5000, 'route requests');
    const oracle = sim.oracle().events.filter((e) => e.thisDN === '7000' && e.seq > after && e.seq <= seq).map((e) => e.seq);
    await until(() => c.seqs.length >= oracle.length, 5000, 'all events');
    expect(c.seqs).toEqual(oracle);
    const un = await c.request(MessageType.RequestUnregisterAddress, { ThisDN: '7000' });
    expect(un.type).toBe(MessageType.EventUnregistered);
    const before = c.seqs.length;
    await sim.emit(8);
    await c.request(MessageType.RequestQueryServer); // a round trip: anything sent before it has arrived
    expect(c.seqs.length).toBe(before);
    c.close();
  });

  it('routes a call once: EventRouteUsed, then EventError for a second route or an unknown call', async () => {
    const c = await RawClient.connect(sim.primary.port);
    await c.register();
    await c.registerDn('7000');
    await c.registerDn('7001');
    await sim.emit(4);
    const rr = await c.waitFor((f) => f.type === MessageType.EventRouteRequest);
    const connId = getAttr(rr, Attr.ConnID) as bigint;
    expect(listToObject(getAttr(rr, Attr.UserData) as KVPair[])).toMatchObject({ Segment: 'gold' });
    const used = await c.request(MessageType.RequestRouteCall, { ThisDN: getAttr(rr, Attr.ThisDN) as string, ConnID: connId, OtherDN: '5000', RouteType: 1 });
    expect(used.type).toBe(MessageType.EventRouteUsed);
    expect(getAttr(used, Attr.ConnID)).toBe(connId);
    const again = await c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connId, OtherDN: '5001' });
    expect(errCode(again)).toBe(SimErrorCode.CallAlreadyRouted);
    const unknown = await c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: 1n, OtherDN: '5001' });
    expect(errCode(unknown)).toBe(SimErrorCode.CallNotFound);
    // The hot backup refuses requests with a clear error.
    const b = await RawClient.connect(sim.backup.port);
    await b.register();
    const refused = await b.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connId, OtherDN: '5001' });
    expect(errCode(refused)).toBe(SimErrorCode.BackupRefused);
    expect(String(getAttr(refused, Attr.ErrorMessage))).toMatch(/backup/);
    c.close();
    b.close();
  });

  it('closes a client that sends a malformed or oversized frame, with EventError first; others are unaffected', async () => {
    const good = await RawClient.connect(sim.primary.port);
    await good.register();
    for (const bad of [Buffer.from([0, 0, 0, 2, 9, 1]), Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 1, 0, 0])]) {
      const c = await RawClient.connect(sim.primary.port);
      await c.register();
      c.socket.write(bad);
      await c.waitClose();
      const err = c.frames.at(-1)!;
      expect(err.type).toBe(MessageType.EventError);
      expect(String(getAttr(err, Attr.ErrorMessage))).toMatch(/ERR_BAD_VERSION|ERR_FRAME_TOO_LARGE/);
    }
    const q = await good.request(MessageType.RequestQueryServer);
    expect(q.type).toBe(MessageType.EventAddressInfo);
    good.close();
  });

  it('answers ADDP polls, and with enforcement polls then closes a client that stops answering', async () => {
    const c = await RawClient.connect(sim.primary.port);
    c.socket.write(Buffer.from([0, 0, 0, 6, 1, 2, 0, 0, 0, 42]));
    await until(() => c.addpReplies === 1, 5000, 'ADDP reply');
    const info = await c.register('addp', { 'addp-timeout': 200, 'addp-remote-timeout': 200 });
    expect(listToObject(getAttr(info, Attr.Extensions) as KVPair[])['addp-timeout']).toBe(200);
    // We answer polls: the connection survives well past 2 × 200 ms.
    await new Promise((r) => setTimeout(r, 800));
    expect(c.closed).toBe(false);
    c.answerPolls = false;
    await c.waitClose(5000);
  });

  it('does not crash on a request the codec accepts but that makes no sense', async () => {
    const c = await RawClient.connect(sim.primary.port);
    await c.register();
    c.socket.write(encodeMessage(MessageType.RequestRouteCall, { ConnID: 'not-a-number', ReferenceID: 77 }));
    const e = await c.waitFor((f) => getAttr(f, Attr.ReferenceID) === 77);
    expect(errCode(e)).toBe(SimErrorCode.MissingAttribute);
    c.close();
  });
});
