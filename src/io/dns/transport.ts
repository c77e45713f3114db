// The kit's DNS I/O (`boreal dns check`, the node's delegation watch): one question to one
// server over UDP, again over TCP when the answer is truncated (RFC 7766), each within a
// timeout. Answers whose id or question differ from the query's are dropped, as a resolver
// does. Authoritative servers are asked without recursion; a resolver with `recursion`.
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, isIP } from "node:net";
import type { NodeReplies, Question, Reply } from "../../core/dns/check";
import { questionKey } from "../../core/dns/check";
import { decodeMessage, DnsMessage, encodeQuery } from "../../core/dns/message";
import { deadline, noAnswer } from "../deadline";

export interface Server {
  host: string;
  port: number;
}

export interface QueryOptions {
  /** Set RD: the server is a resolver, to recurse for the answer (default: an authoritative server, asked as is). */
  recursion?: boolean;
}

/** A UDP answer can be lost: one more try within the same timeout. */
const UDP_TRIES = 2;

function matches(message: DnsMessage, id: number, question: Question): boolean {
  const q = message.question[0];
  return message.id === id && q !== undefined && q.name === question.name.toLowerCase() && q.type === question.type;
}

function describe(error: NodeJS.ErrnoException, server: Server, timeoutMs: number): string {
  if (error.message === "timeout") return noAnswer(timeoutMs);
  if (error.code === "ECONNREFUSED") return `connection refused at port ${server.port}`;
  return error.code ?? error.message;
}

function overUdp(server: Server, query: Buffer, id: number, question: Question, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(server.host) === 6 ? "udp6" : "udp4");
    let tries = 0;
    let settled = false;
    const done = (error: Error | undefined, packet?: Buffer) => {
      if (settled) return;
      settled = true;
      timer.clear();
      clearInterval(retry);
      socket.close();
      if (error) reject(error);
      else resolve(packet!);
    };
    const timer = deadline(ms, () => done(new Error("timeout")));
    const send = () => tries++ < UDP_TRIES && socket.send(query);
    const retry = setInterval(send, ms / UDP_TRIES);
    socket.on("error", (error) => done(error));
    socket.on("message", (packet) => {
      try {
        if (matches(decodeMessage(packet), id, question)) done(undefined, packet);
      } catch {
        // Not a DNS answer we can read: keep waiting for the real one.
      }
    });
    // Connected, so an ICMP "port unreachable" comes back as ECONNREFUSED at once.
    socket.connect(server.port, server.host, send);
  });
}

function overTcp(server: Server, query: Buffer, id: number, question: Question, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    const length = Buffer.alloc(2);
    length.writeUInt16BE(query.length);
    let received = Buffer.alloc(0);
    socket.setTimeout(ms, () => socket.destroy(new Error("timeout")));
    socket.on("connect", () => socket.write(Buffer.concat([length, query])));
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.destroy();
        const packet = received.subarray(2, 2 + received.readUInt16BE(0));
        try {
          if (matches(decodeMessage(packet), id, question)) resolve(packet);
          else reject(new Error("the TCP answer is not for the question asked"));
        } catch (error) {
          reject(error);
        }
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("the connection closed before a whole answer")));
  });
}

/** One question with the DO bit: the answer as received, over TCP when UDP's was truncated. Throws on no answer. */
export async function exchange(server: Server, question: Question, timeoutMs: number, options: QueryOptions = {}): Promise<Buffer> {
  const id = randomInt(65536);
  const query = encodeQuery(id, question.name, question.type, options.recursion === true);
  const packet = await overUdp(server, query, id, question, timeoutMs);
  return decodeMessage(packet).truncated ? overTcp(server, query, id, question, timeoutMs) : packet;
}

/** One question; never throws: the decoded answer, or why there is none. */
export async function ask(server: Server, question: Question, timeoutMs: number, options: QueryOptions = {}): Promise<Reply> {
  try {
    return { message: decodeMessage(await exchange(server, question, timeoutMs, options)) };
  } catch (error) {
    return { error: describe(error as NodeJS.ErrnoException, server, timeoutMs) };
  }
}

/**
 * One question over TCP only; never throws. For what UDP cannot carry (a zone transfer's
 * first message: RFC 5936 4.2 asks for TCP) or where UDP says nothing (a port that drops).
 */
export async function askTcp(server: Server, question: Question, timeoutMs: number, options: QueryOptions = {}): Promise<Reply> {
  const id = randomInt(65536);
  const query = encodeQuery(id, question.name, question.type, options.recursion === true);
  try {
    return { message: decodeMessage(await overTcp(server, query, id, question, timeoutMs)) };
  } catch (error) {
    return { error: describe(error as NodeJS.ErrnoException, server, timeoutMs) };
  }
}

/** Every question of one node, at once (each through `around`, when given: the label's probe schedule). */
export async function askNode(
  node: string,
  server: Server,
  questions: Question[],
  timeoutMs: number,
  around: (question: () => Promise<Reply>) => Promise<Reply> = (question) => question(),
): Promise<NodeReplies> {
  const replies = await Promise.all(questions.map(async (q) => [questionKey(q), await around(() => ask(server, q, timeoutMs))] as const));
  const address = isIP(server.host) === 6 ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
  return { node, address, replies: Object.fromEntries(replies) };
}
