// Per-process counters (one server process per build): what the page shows after a form post
// proves which build handled it.
export const counts = { jsForm: 0, noJs: 0 };
