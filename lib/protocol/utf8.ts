const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Strict UTF-8 decode of `buf[start, end)`, or `undefined` when the bytes are not valid UTF-8.
 * ASCII, by far the common case on this protocol, skips TextDecoder's per-call overhead.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number): string | undefined {
  // Up to ~8 ASCII bytes, building the string in JS measured 2-3x cheaper than a slice call into C++.
  if (end - start <= 8) {
    let s = '';
    let i = start;
    for (; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) break;
      s += String.fromCharCode(c);
    }
    if (i === end) return s;
  }
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.latin1Slice(start, end);
  try {
    return fatalUtf8.decode(buf.subarray(start, end));
  } catch {
    return undefined;
  }
}

declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
  }
}
