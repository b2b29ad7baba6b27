/** The standing tasks' mailbox layout (crew.ts), shared by the calling thread and the pool workers. */

/** Int32 indices of a mailbox's words. */
export const MAIL = { STATE: 0, SEQ: 1, ACK: 2, ERR: 3, SHUT: 4, POSTED: 5, WORDS: 6 } as const;

/**
 * Float64 indices of a mailbox's run parameters (after its Int32 words): what changes from one
 * run to the next of the same job on the same ring, written instead of posting a message.
 */
export const PARAM = { SEED: 0, BLOCK_ROWS: 1, TOTAL_ROWS: 2, MAX_PROPOSALS: 3, COUNT: 4 } as const;

/** Bytes of a mailbox: the Int32 words, padded to 8, then the Float64 parameters. */
export const MAIL_BYTES = Math.ceil((MAIL.WORDS * 4) / 8) * 8 + PARAM.COUNT * 8;

/** A mailbox's views: the Int32 words and the Float64 run parameters. */
export function mailViews(buf: SharedArrayBuffer): { mail: Int32Array; params: Float64Array } {
  return { mail: new Int32Array(buf, 0, MAIL.WORDS), params: new Float64Array(buf, MAIL_BYTES - PARAM.COUNT * 8, PARAM.COUNT) };
}

/** Values of MAIL.STATE. */
export const STATE = { IDLE: 0, BUSY: 1, GONE: 2 } as const;
