/** The standing tasks' mailbox layout (crew.ts), shared by the calling thread and the pool workers. */

/** Int32 indices of a mailbox's words. */
export const MAIL = { STATE: 0, SEQ: 1, ACK: 2, ERR: 3, SHUT: 4, WORDS: 5 } as const;

/** Values of MAIL.STATE. */
export const STATE = { IDLE: 0, BUSY: 1, GONE: 2 } as const;
